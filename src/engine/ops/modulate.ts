// DiT's per-image feature-wise maps over the tokens of x [B, N, D], each one kernel instead of a
// chain of broadcasting ops (kernels/modulate.wgsl):
//   modulate(x, shift, scale) = x·(1 + scale) + shift     (adaLN-Zero's modulation)
//   gatedResidual(r, gate, x) = r + gate·x                (a block's gated residual update)
// with shift, scale, gate [B, 1, D]. Gradients flow to every operand.
import { engine } from '../engine.js';
import { grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { passGradient, record } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { affine, mul } from './elementwise.js';
import { sumTo } from './reduce.js';
import source from '../../../kernels/modulate.wgsl';

function check(op: string, x: Tensor, vectors: [string, Tensor][], others: [string, Tensor][] = []): void {
  checkF32(op, x, ...vectors.map(([, t]) => t), ...others.map(([, t]) => t));
  if (x.rank !== 3) throw new Error(`${op}: x must be [B, N, D], got ${fmt(x.shape)}`);
  const [B, , D] = x.shape;
  for (const [name, t] of vectors) {
    if (t.rank !== 3 || t.shape[0] !== B || t.shape[1] !== 1 || t.shape[2] !== D) throw new Error(`${op}: ${name} must be [${B}, 1, ${D}] for x ${fmt(x.shape)}, got ${fmt(t.shape)}`);
  }
  for (const [name, t] of others) {
    if (t.shape.join() !== x.shape.join()) throw new Error(`${op}: ${name} ${fmt(t.shape)} must have x's shape ${fmt(x.shape)}`);
  }
}

function launch(entry: 'modulate' | 'gated_residual' | 'scale_rows', x: Tensor, buffers: Tensor[], c = 1): void {
  const [, N, D] = x.shape;
  engine().runtime.dispatch({
    kernel: 'modulate', source, entry, constants: entry === 'scale_rows' ? { C: c } : {},
    uniforms: [x.size, N * D, D, 0], buffers: buffers.map((t) => t.buffer), workgroups: grid1d(x.size, 64),
  });
}

/** gy·(c + s) with s [B, 1, D] broadcast over the tokens: the backward of both maps to their x. */
function scaleRows(gy: Tensor, s: Tensor, c: number): Tensor {
  const gx = empty(gy.shape, 'f32', 'modulate backward');
  launch('scale_rows', gy, [gy, s, gx], c);
  return gx;
}

/** x·(1 + scale) + shift, x [B, N, D], shift and scale [B, 1, D]. */
export function modulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  check('modulate', x, [['shift', shift], ['scale', scale]]);
  const y = empty(x.shape, 'f32', 'modulate');
  launch('modulate', x, [x, shift, scale, y]);
  return record('modulate', y, [x, shift, scale], [x, scale], (gy, [xs, ss]) => [
    x.requiresGrad ? scaleRows(gy, ss, 1) : undefined,
    shift.requiresGrad ? sumTo(gy, shift.shape) : undefined,
    scale.requiresGrad ? sumTo(mul(gy, xs), scale.shape) : undefined,
  ], (gy, [xl, shl, scl]) => [
    x.requiresGrad ? mul(gy, affine(scl, 1, 1)) : undefined,
    shift.requiresGrad ? sumTo(gy, shl.shape) : undefined,
    scale.requiresGrad ? sumTo(mul(gy, xl), scl.shape) : undefined,
  ]);
}

/** r + gate·x, r and x [B, N, D], gate [B, 1, D]. */
export function gatedResidual(r: Tensor, gate: Tensor, x: Tensor): Tensor {
  check('gatedResidual', x, [['gate', gate]], [['r', r]]);
  const y = empty(x.shape, 'f32', 'gatedResidual');
  launch('gated_residual', x, [r, gate, x, y]);
  return record('gatedResidual', y, [r, gate, x], [gate, x], (gy, [gs, xs]) => [
    r.requiresGrad ? gy.detach() : undefined,
    gate.requiresGrad ? sumTo(mul(gy, xs), gate.shape) : undefined,
    x.requiresGrad ? scaleRows(gy, gs, 0) : undefined,
  ], (gy, [, gl, xl]) => [
    r.requiresGrad ? passGradient(gy) : undefined,
    gate.requiresGrad ? sumTo(mul(gy, xl), gl.shape) : undefined,
    x.requiresGrad ? mul(gy, gl) : undefined,
  ]);
}
