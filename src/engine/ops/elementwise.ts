// Elementwise ops: unary (with scalar parameters), binary with broadcasting, clamp and where.
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { passGradient, record } from '../autograd.js';
import { broadcastShapes, broadcastStrides, collapse, checkF32, fmt } from '../shape.js';
import { sumTo } from './reduce.js';
import { fill } from './creation.js';
import elementwiseWgsl from '../../../kernels/elementwise.wgsl';
import erfWgsl from '../../../kernels/erf.wgsl';
import geluTanhWgsl from '../../../kernels/gelu_tanh.wgsl';

const source = erfWgsl + geluTanhWgsl + elementwiseWgsl;

const UNARY = {
  neg: 0, abs: 1, sign: 2, exp: 3, log: 4, sqrt: 5, rsqrt: 6, tanh: 7, sigmoid: 8, relu: 9, gelu: 10, pow: 11, clamp: 12, affine: 13,
  gelu_tanh: 14, silu: 15, normcdf: 16,
} as const;
type UnaryName = keyof typeof UNARY;

function unaryLaunch(entry: 'unary' | 'unary_grad', op: UnaryName, buffers: GPUBuffer[], n: number, a: number, b: number): void {
  const n4 = Math.ceil(n / 4); // the kernels take four elements per invocation
  engine().runtime.dispatch({
    kernel: 'elementwise', source, entry, constants: { OP: UNARY[op] },
    uniforms: [n4, f32bits(a), f32bits(b), 0], buffers, workgroups: grid1d(n4, 64),
  });
}

function unary(op: UnaryName, x: Tensor, a = 0, b = 0): Tensor {
  checkF32(op, x);
  const y = empty(x.shape, 'f32', op);
  unaryLaunch('unary', op, [x.buffer, y.buffer], x.size, a, b);
  return record(op, y, [x], [x, y], (gy, [xs, ys]) => {
    const gx = empty(x.shape, 'f32', `${op} backward`);
    unaryLaunch('unary_grad', op, [xs.buffer, ys.buffer, gy.buffer, gx.buffer], x.size, a, b);
    return [gx];
  }, (gy, [xl], yl) => [op === 'sign' ? undefined : mul(gy, unaryDerivative(op, xl, yl, a, b))]);
}

/** gy·act'(x) for the activations a matmul fuses (their derivatives need x alone), one pass: the backward of a fused activation. */
export function activationGrad(act: 'relu' | 'gelu' | 'gelu_tanh', x: Tensor, gy: Tensor): Tensor {
  const gx = empty(x.shape, 'f32', `${act} backward`);
  unaryLaunch('unary_grad', act, [x.buffer, x.buffer, gy.buffer, gx.buffer], x.size, 0, 0);
  return gx;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI), INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** φ(x), the standard normal density, in recorded ops. */
const normalDensity = (x: Tensor): Tensor => mulScalar(exp(mulScalar(mul(x, x), -0.5)), INV_SQRT_2PI);

/**
 * f'(x) of a unary op in recorded ops (y = f(x) where handier), for second derivatives; the kernel's
 * unary_grad computes the same in one pass. Derivatives that are zero almost everywhere (sign, the
 * steps of relu and clamp) enter through sign(), whose own derivative is zero.
 */
function unaryDerivative(op: UnaryName, x: Tensor, y: () => Tensor, a: number, b: number): Tensor {
  switch (op) {
    case 'neg': return fill(x.shape, -1);
    case 'abs': return sign(x);
    case 'exp': return y();
    case 'log': return div(fill(x.shape, 1), x);
    case 'sqrt': return div(fill(x.shape, 0.5), y());
    case 'rsqrt': return mulScalar(powScalar(y(), 3), -0.5);
    case 'tanh': return affine(mul(y(), y()), -1, 1);
    case 'sigmoid': return mul(y(), affine(y(), -1, 1));
    case 'relu': return sign(relu(x));
    case 'gelu': return add(normcdf(x), mul(x, normalDensity(x)));
    case 'normcdf': return normalDensity(x);
    case 'pow': return mulScalar(powScalar(x, a - 1), a);
    case 'clamp': return mul(sign(relu(affine(x, 1, -a))), sign(relu(affine(x, -1, b)))); // 1 strictly inside (lo, hi)
    case 'affine': return fill(x.shape, a);
    case 'gelu_tanh': {
      // d/dx x·σ(2u), u = √(2/π)(x + 0.044715x³): σ(2u) + x·2σ(2u)(1 − σ(2u))·u'.
      const u = mulScalar(add(x, mulScalar(powScalar(x, 3), 0.044715)), SQRT_2_OVER_PI);
      const s = sigmoid(mulScalar(u, 2));
      const du = affine(mulScalar(mul(x, x), 3 * 0.044715), SQRT_2_OVER_PI, SQRT_2_OVER_PI);
      return add(s, mul(mulScalar(mul(x, mul(s, affine(s, -1, 1))), 2), du));
    }
    case 'silu': {
      const s = sigmoid(x);
      return add(s, mul(x, mul(s, affine(s, -1, 1))));
    }
    case 'sign': return fill(x.shape, 0);
  }
}

export const neg = (x: Tensor): Tensor => unary('neg', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const sign = (x: Tensor): Tensor => unary('sign', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
/** GELU in its exact erf form: x/2 · (1 + erf(x/√2)). */
export const gelu = (x: Tensor): Tensor => unary('gelu', x);
/**
 * GELU in its tanh form, PyTorch's nn.GELU(approximate="tanh"): x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³))),
 * the activation of DiT's (MaskDiT's) MLP blocks. Computed as x·sigmoid(2u), which is the same
 * function without the cancellation of 1 + tanh for negative x; finite output and gradient for
 * every finite x.
 */
export const geluTanh = (x: Tensor): Tensor => unary('gelu_tanh', x);
/** Φ(x), the standard normal CDF (exact GELU is x·Φ(x)); its derivative is the density φ(x). */
export const normcdf = (x: Tensor): Tensor => unary('normcdf', x);
/**
 * SiLU (swish): x·sigmoid(x), which DiT's adaLN applies to the conditioning embedding before the
 * modulation projection. The sigmoid is taken from exp(-|x|), so it never overflows.
 */
export const silu = (x: Tensor): Tensor => unary('silu', x);
/** x to a scalar power; negative bases work for integer exponents. */
export const powScalar = (x: Tensor, p: number): Tensor => unary('pow', x, p);
/** a·x + b with scalars a, b (scaling and shifting without a broadcast operand). */
export const affine = (x: Tensor, a: number, b = 0): Tensor => unary('affine', x, a, b);
export const mulScalar = (x: Tensor, a: number): Tensor => unary('affine', x, a, 0);
export const addScalar = (x: Tensor, b: number): Tensor => unary('affine', x, 1, b);

export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new Error(`clamp: lower bound ${lo} is above upper bound ${hi}`);
  return unary('clamp', x, lo, hi);
}

// ---------------------------------------------------------------- broadcasting
const BINARY = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 } as const;
type BinaryName = keyof typeof BINARY;

/** Launches the broadcasting kernel over the output shape with up to three operands. */
function broadcastLaunch(bop: number, out: Tensor, operands: Tensor[], condI32 = false): void {
  const strides = collapse(out.shape, operands.map((t) => broadcastStrides(t.shape, out.shape)));
  const rank = strides.shape.length;
  const [sa, sb] = strides.strides;
  if (bop < 6 && rank === 1 && sa[0] <= 1 && sb[0] <= 1 && out.size > 1) {
    // Same shapes, or one operand a single value: the contiguous vec4 kernel.
    const n4 = Math.ceil(out.size / 4);
    engine().runtime.dispatch({
      kernel: 'elementwise', source, entry: 'binary_flat',
      constants: { BOP: bop, A_SCALAR: sa[0] === 0 ? 1 : 0, B_SCALAR: sb[0] === 0 ? 1 : 0 },
      uniforms: [n4, 0, 0, 0], buffers: [operands[0].buffer, operands[1].buffer, out.buffer], workgroups: grid1d(n4, 64),
    });
    return;
  }
  if (rank > 8) throw new Error(`broadcast: ${rank} non-collapsible axes exceed the kernel's 8 (output ${fmt(out.shape)})`);
  const words = new Uint32Array(4 + 8 * 4);
  words.set([out.size, rank]);
  const put = (base: number, v: number[]): void => v.forEach((x, i) => { words[base + i] = x; });
  put(4, strides.shape);
  strides.strides.forEach((s, j) => put(12 + 8 * j, s));
  const bufs = operands.map((t) => t.buffer);
  while (bufs.length < 3) bufs.push(bufs[0]);
  engine().runtime.dispatch({
    kernel: 'elementwise', source, entry: 'broadcast', constants: { BOP: bop, COND_I32: condI32 ? 1 : 0 },
    uniforms: words, buffers: [...bufs, out.buffer], workgroups: grid1d(out.size, 64),
  });
}

function binary(op: BinaryName, a: Tensor, b: Tensor): Tensor {
  checkF32(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const y = empty(shape, 'f32', op);
  broadcastLaunch(BINARY[op], y, [a, b]);
  const needsOperands = op !== 'add' && op !== 'sub';
  return record(op, y, [a, b], needsOperands ? [a, b] : [], (gy, saved) => {
    const grads: (Tensor | undefined)[] = [];
    for (const [k, t] of [a, b].entries()) {
      if (!t.requiresGrad) { grads.push(undefined); continue; }
      let full: Tensor;
      if (op === 'add' || (op === 'sub' && k === 0)) full = gy;
      else if (op === 'sub') full = neg(gy);
      else {
        full = empty(shape, 'f32', `${op} backward`);
        broadcastLaunch((k === 0 ? 20 : 40) + BINARY[op], full, [saved[0], saved[1], gy]);
      }
      const g = sumTo(full, t.shape);
      if (full !== gy && g !== full) full.dispose();
      // Both operands of a + b get gy itself: a second handle on its buffer, not a copy (gradients
      // are never written in place; accumulation makes new tensors).
      grads.push(g === gy ? passGradient(gy) : g);
    }
    return grads;
  }, (gy, [al, bl]) => [a, b].map((t, k) => {
    if (!t.requiresGrad) return undefined;
    let full: Tensor;
    switch (op) {
      case 'add': full = gy; break;
      case 'sub': full = k === 0 ? gy : neg(gy); break;
      case 'mul': full = mul(gy, k === 0 ? bl : al); break;
      case 'div': full = k === 0 ? div(gy, bl) : neg(div(mul(gy, al), mul(bl, bl))); break;
      default: {
        // maximum / minimum: the gradient goes to the operand that won (the kernel's tie rule aside).
        const aWins = sign(relu(op === 'maximum' ? sub(al, bl) : sub(bl, al)));
        full = mul(gy, k === 0 ? aWins : affine(aWins, -1, 1));
      }
    }
    const g = sumTo(full, t.shape);
    return g === gy ? passGradient(gy) : g;
  }));
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);
export const maximum = (a: Tensor, b: Tensor): Tensor => binary('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor): Tensor => binary('minimum', a, b);

/** where(cond, a, b): a where cond is nonzero, else b; all three broadcast together. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  checkF32('where', a, b);
  const shape = broadcastShapes('where', cond.shape, a.shape, b.shape);
  const y = empty(shape, 'f32', 'where');
  broadcastLaunch(6, y, [cond, a, b], cond.dtype === 'i32');
  return record('where', y, [a, b], [cond], (gy, [c]) => {
    const zero = fill([1], 0);
    const ga = a.requiresGrad ? reduceWhere(c, gy, zero, a.shape, shape) : undefined;
    const gb = b.requiresGrad ? reduceWhere(c, zero, gy, b.shape, shape) : undefined;
    zero.dispose();
    return [ga, gb];
  }, (gy, _inputs, _out, [c]) => {
    const zero = fill([1], 0);
    return [a.requiresGrad ? sumTo(where(c, gy, zero), a.shape) : undefined, b.requiresGrad ? sumTo(where(c, zero, gy), b.shape) : undefined];
  });
}

function reduceWhere(c: Tensor, x: Tensor, y: Tensor, to: readonly number[], shape: number[]): Tensor {
  const full = empty(shape, 'f32', 'where backward');
  broadcastLaunch(6, full, [c, x, y], c.dtype === 'i32');
  const g = sumTo(full, to);
  if (g !== full) full.dispose();
  return g;
}

/** Repeats `x` along broadcast axes to `shape` (a copy; the gradient sums back). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkF32('broadcastTo', x);
  const out = broadcastShapes('broadcastTo', x.shape, shape);
  if (out.length !== shape.length || out.some((d, i) => d !== shape[i])) {
    throw new Error(`broadcastTo: ${fmt(x.shape)} cannot be broadcast to ${fmt(shape)}`);
  }
  const y = empty(shape, 'f32', 'broadcastTo');
  broadcastLaunch(7, y, [x]);
  return record('broadcastTo', y, [x], [], (gy) => [sumTo(gy, x.shape)], 'same');
}
