// Softmax and log-softmax along the last axis (any rank ≥ 1), numerically stable, with one-pass
// backward rules that use only the saved output.
import { engine } from '../engine.js';
import { grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { exp, mul, sub } from './elementwise.js';
import { sum } from './reduce.js';
import source from '../../../kernels/softmax.wgsl';

const WG = 64;

/** Rows and row length of `x` seen as [rows, d] over its last axis. */
function lastAxisRows(op: string, x: Tensor): [number, number] {
  if (x.rank < 1) throw new Error(`${op}: expected a tensor of rank >= 1 (it works along the last axis), got ${fmt(x.shape)}`);
  const d = x.shape[x.rank - 1];
  return [d === 0 ? 0 : x.size / d, d];
}

function launch(entry: 'softmax_fwd' | 'softmax_bwd', log: boolean, rows: number, d: number, buffers: GPUBuffer[]): void {
  if (rows === 0 || d === 0) return;
  // Rows whose length is a multiple of 4 start on 16-byte boundaries: vec4 loads and stores.
  const vec4 = d % 4 === 0;
  engine().runtime.dispatch({
    kernel: 'softmax', source, entry: vec4 ? `${entry}4` : entry, constants: { WG, LOG: log ? 1 : 0 },
    uniforms: [rows, d, 0, 0], buffers, workgroups: grid1d(rows, WG),
  });
}

function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor): Tensor {
  checkF32(op, x);
  const [rows, d] = lastAxisRows(op, x);
  const log = op === 'logSoftmax';
  const y = empty(x.shape, 'f32', op);
  launch('softmax_fwd', log, rows, d, [x.buffer, y.buffer]);
  return record(op, y, [x], [y], (gy, [ys]) => {
    const gx = empty(x.shape, 'f32', `${op} backward`);
    launch('softmax_bwd', log, rows, d, [ys.buffer, gy.buffer, gx.buffer]);
    return [gx];
  }, (gy, _x, y) => [log
    ? sub(gy, mul(exp(y()), sum(gy, -1, true)))
    : mul(y(), sub(gy, sum(mul(gy, y()), -1, true)))]);
}

/** exp(x − max) / Σ exp(x − max) along the last axis. */
export const softmax = (x: Tensor): Tensor => softmaxOp('softmax', x);
/** x − max − log Σ exp(x − max) along the last axis. */
export const logSoftmax = (x: Tensor): Tensor => softmaxOp('logSoftmax', x);
