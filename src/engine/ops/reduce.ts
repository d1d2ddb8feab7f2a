// Reductions: sum, mean, max (along any set of axes), argmax (one axis), and sumTo, which undoes
// broadcasting in backward passes.
import { engine } from '../engine.js';
import { grid1d } from '../runtime.js';
import { empty, Tensor, type Shape } from '../tensor.js';
import { record } from '../autograd.js';
import { checkF32, fmt, normAxis } from '../shape.js';
import { abs, affine, broadcastTo, div, mul, mulScalar, sign, sub } from './elementwise.js';
import { reshape } from './layout.js';
import source from '../../../kernels/reduce.wgsl';

const CHUNK = 256;

function axesOf(op: string, x: Tensor, axes?: number | number[]): number[] {
  const list = axes === undefined ? x.shape.map((_, i) => i) : Array.isArray(axes) ? axes : [axes];
  const norm = list.map((a) => normAxis(op, a, x.rank));
  if (new Set(norm).size !== norm.length) throw new Error(`${op}: repeated axis in [${list}]`);
  return norm.sort((a, b) => b - a); // innermost first keeps the remaining axis numbers valid
}

function split(shape: Shape, axis: number): [number, number, number] {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[axis], inner];
}

/** Raw reduction of [outer, r, inner] to [outer, inner] (no autograd). */
function reduceRaw(entry: 'reduce_sum' | 'reduce_max', x: Tensor, outer: number, r: number, inner: number, outShape: Shape): Tensor {
  if (r === 0) throw new Error(`${entry.slice(7)}: cannot reduce an axis of length 0 (shape ${fmt(x.shape)})`);
  let cur = x;
  let len = r;
  while (len > 4 * CHUNK) {
    const chunks = Math.ceil(len / CHUNK);
    const part = empty([outer, chunks, inner], 'f32', entry);
    launch(entry, cur, part, outer, len, inner, chunks, CHUNK);
    if (cur !== x) cur.dispose();
    cur = part;
    len = chunks;
  }
  const y = empty(outShape, 'f32', entry);
  launch(entry, cur, y, outer, len, inner, 1, len);
  if (cur !== x) cur.dispose();
  return y;
}

function launch(entry: string, x: Tensor, y: Tensor, outer: number, r: number, inner: number, chunks: number, chunkLen: number): void {
  const n = outer * chunks * inner;
  engine().runtime.dispatch({
    kernel: 'reduce', source, entry, uniforms: [outer, r, inner, chunks, chunkLen, 0, 0, 0],
    buffers: [x.buffer, y.buffer], workgroups: grid1d(n, 64),
  });
}

function reducedShape(shape: Shape, axis: number, keepdims: boolean): number[] {
  return keepdims ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
}

function sumAxis(x: Tensor, axis: number, keepdims: boolean): Tensor {
  const [outer, r, inner] = split(x.shape, axis);
  const y = reduceRaw('reduce_sum', x, outer, r, inner, reducedShape(x.shape, axis, keepdims));
  return record('sum', y, [x], [], (gy) => [broadcastTo(reshape(gy, reducedShape(x.shape, axis, true)), x.shape)], 'same');
}

function maxAxis(x: Tensor, axis: number, keepdims: boolean): Tensor {
  const [outer, r, inner] = split(x.shape, axis);
  const y = reduceRaw('reduce_max', x, outer, r, inner, reducedShape(x.shape, axis, keepdims));
  return record('max', y, [x], [x, y], (gy, [xs, ys]) => {
    const gx = empty(x.shape, 'f32', 'max backward');
    engine().runtime.dispatch({
      kernel: 'reduce', source, entry: 'max_grad', uniforms: [outer, r, inner, 1, r, 0, 0, 0],
      buffers: [xs.buffer, ys.buffer, gy.buffer, gx.buffer], workgroups: grid1d(outer * inner, 64),
    });
    return [gx];
  }, (gy, [xl], yl) => {
    // Ties share evenly: the indicator of x = max, over its count, times gy.
    const keep = reducedShape(x.shape, axis, true);
    const atMax = affine(sign(abs(sub(xl, reshape(yl(), keep)))), -1, 1);
    return [mul(div(atMax, sum(atMax, axis, true)), reshape(gy, keep))];
  });
}

function chain(op: string, x: Tensor, axes: number[], keepdims: boolean, one: (t: Tensor, a: number, k: boolean) => Tensor): Tensor {
  checkF32(op, x);
  if (axes.length === 0) return reshape(x, x.shape); // nothing to reduce: a new handle
  let cur = x;
  for (const a of axes) {
    const next = one(cur, a, keepdims);
    if (cur !== x) cur.dispose();
    cur = next;
  }
  return cur;
}

/** Sum over `axes` (all axes when omitted). */
export function sum(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  return chain('sum', x, axesOf('sum', x, axes), keepdims, sumAxis);
}

export function mean(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const ax = axesOf('mean', x, axes);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  const s = sum(x, ax, keepdims);
  const m = mulScalar(s, 1 / count);
  s.dispose();
  return m;
}

/** Maximum over `axes`; ties share the gradient evenly. */
export function max(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  return chain('max', x, axesOf('max', x, axes), keepdims, maxAxis);
}

/** Index of the first maximum along `axis`, as i32 (no gradient). */
export function argmax(x: Tensor, axis = -1, keepdims = false): Tensor {
  checkF32('argmax', x);
  const a = normAxis('argmax', axis, x.rank);
  const [outer, r, inner] = split(x.shape, a);
  if (r === 0) throw new Error(`argmax: cannot reduce an axis of length 0 (shape ${fmt(x.shape)})`);
  const y = empty(reducedShape(x.shape, a, keepdims), 'i32', 'argmax');
  launch('reduce_argmax', x, y, outer, r, inner, 1, r);
  return record('argmax', y, [], [], () => []);
}

/** Sums a broadcast gradient back to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = sum(g, axes, true);
  const out = reshape(s, shape);
  s.dispose();
  return out;
}
