// Layout ops: reshape (a view on the same buffer), and copies that change layout: permute/transpose,
// slice, concat, gathers along an axis (index_select, per-row gatherRows) and scatterRows.
// The copies move raw 32-bit words, so they work on f32 and i32 tensors; gradients flow for f32.
//
// Out-of-range indices (gather, gatherRows, scatterRows) are not checked on the host (that would
// need a readback): an index outside [0, n) selects nothing. Gathers give zeros for it, scatterRows
// leaves the row of base unchanged, and no gradient flows through it.
import { engine } from '../engine.js';
import { grid1d } from '../runtime.js';
import { Tensor, empty, sizeOf, checkShape } from '../tensor.js';
import { fill } from './creation.js';
import { record } from '../autograd.js';
import { checkDType, collapse, fmt, normAxis, stridesOf } from '../shape.js';
import source from '../../../kernels/layout.wgsl';

const MAX_RANK = 8;

/** Same data, new shape (one dimension may be -1). Shares the buffer: no copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const wild = shape.filter((d) => d === -1).length;
  if (wild > 1) throw new Error(`reshape: more than one -1 in ${fmt(shape)}`);
  const known = shape.reduce((n, d) => (d === -1 ? n : n * d), 1);
  const target = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  checkShape(target, 'reshape');
  if (sizeOf(target) !== x.size) throw new Error(`reshape: cannot view ${fmt(x.shape)} (${x.size} elements) as ${fmt(shape)}`);
  const y = new Tensor(x.storage.retain(), target, x.dtype);
  return record('reshape', y, [x], [], (gy) => [reshape(gy, x.shape)], 'same');
}

// ---------------------------------------------------------------- strided copy
/**
 * dst[dbase + Σ i_d·dstStrides_d] = src[sbase + Σ i_d·srcStrides_d] over every index of `shape`.
 * Adjacent axes that are contiguous in both operands are merged first, so most copies run at rank ≤ 3.
 */
function stridedCopy(op: string, src: Tensor, dst: Tensor, shape: readonly number[], srcStrides: number[], dstStrides: number[], sbase = 0, dbase = 0): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const c = collapse(shape, [srcStrides, dstStrides]);
  if (c.shape.length > MAX_RANK) throw new Error(`${op}: ${c.shape.length} non-mergeable axes exceed the kernel's ${MAX_RANK} (shape ${fmt(shape)})`);
  const words = new Uint32Array(4 + 3 * 8);
  words.set([n, c.shape.length, sbase, dbase]);
  words.set(c.shape, 4);
  words.set(c.strides[0], 12);
  words.set(c.strides[1], 20);
  const run = copyRun(c.shape, c.strides);
  engine().runtime.dispatch({
    kernel: 'layout', source, entry: 'strided_copy', uniforms: words, constants: { RUN: run },
    buffers: [src.buffer, dst.buffer], workgroups: grid1d(n / run, 64),
  });
}

/**
 * Elements per invocation of a strided copy: the largest of 16, 8, 4, 2 dividing the last axis
 * when that axis is contiguous in both operands, else 1.
 */
export function copyRun(shape: readonly number[], strides: number[][]): number {
  const last = shape.length - 1;
  if (strides.some((s) => s[last] !== 1)) return 1;
  return [16, 8, 4, 2].find((r) => shape[last] % r === 0) ?? 1;
}

// ---------------------------------------------------------------- permute, transpose
/** Reorders the axes: output axis i is input axis axes[i] (a copy). */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length !== x.rank) throw new Error(`permute: ${axes.length} axes [${axes}] for a tensor of rank ${x.rank} ${fmt(x.shape)}`);
  const perm = axes.map((a) => normAxis('permute', a, x.rank));
  if (new Set(perm).size !== perm.length) throw new Error(`permute: axes [${axes}] repeat an axis (shape ${fmt(x.shape)})`);
  const shape = perm.map((a) => x.shape[a]);
  const xs = stridesOf(x.shape);
  const y = empty(shape, x.dtype, 'permute');
  stridedCopy('permute', x, y, shape, perm.map((a) => xs[a]), stridesOf(shape));
  const inverse = new Array<number>(perm.length);
  perm.forEach((a, i) => { inverse[a] = i; });
  return record('permute', y, [x], [], (gy) => [permute(gy, inverse)], 'same');
}

/** Swaps two axes (negative axes count from the end). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const i = normAxis('transpose', a, x.rank), j = normAxis('transpose', b, x.rank);
  const axes = x.shape.map((_, k) => k);
  axes[i] = j;
  axes[j] = i;
  return permute(x, axes);
}

// ---------------------------------------------------------------- slice
/**
 * x[starts[0]:ends[0], starts[1]:ends[1], ...] with Python's rules: negative indices count from the
 * end, out-of-range bounds are clamped, and axes past the given lists are kept whole.
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor {
  if (starts.length > x.rank || ends.length > x.rank) {
    throw new Error(`slice: starts [${starts}] / ends [${ends}] name more axes than ${fmt(x.shape)} has`);
  }
  for (const v of [...starts, ...ends]) {
    if (!Number.isInteger(v)) throw new Error(`slice: bounds must be integers, got starts [${starts}] ends [${ends}] for ${fmt(x.shape)}`);
  }
  const clampIdx = (v: number, d: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
  const begin = x.shape.map((d, i) => clampIdx(starts[i] ?? 0, d));
  const shape = x.shape.map((d, i) => Math.max(clampIdx(ends[i] ?? d, d) - begin[i], 0));
  const xs = stridesOf(x.shape);
  const base = begin.reduce((s, b, i) => s + b * xs[i], 0);
  const y = empty(shape, x.dtype, 'slice');
  stridedCopy('slice', x, y, shape, xs, stridesOf(shape), base);
  return record('slice', y, [x], [], (gy) => [sliceGrad(gy, x.shape, begin)], 'same');
}

/** The gradient of a slice: gy inside the box at `begin`, zeros elsewhere, in one pass. */
function sliceGrad(gy: Tensor, shape: readonly number[], begin: number[]): Tensor {
  const gx = empty(shape, 'f32', 'slice backward');
  if (gx.size === 0) return gx;
  // Size-1 axes carry no index, so drop them (keeps most tensors within the kernel's rank).
  const keepAxes = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  if (keepAxes.length === 0) keepAxes.push(0);
  if (keepAxes.length > MAX_RANK) throw new Error(`slice: backward supports rank ≤ ${MAX_RANK} after dropping size-1 axes, got ${fmt(shape)}`);
  const gs = stridesOf(gy.shape);
  const words = new Uint32Array(4 + 4 * 8);
  words.set([gx.size, keepAxes.length]);
  keepAxes.forEach((a, k) => {
    words[4 + k] = shape[a];
    words[12 + k] = begin[a];
    words[20 + k] = gy.shape[a];
    words[28 + k] = gs[a];
  });
  const last = shape[keepAxes[keepAxes.length - 1]];
  const run = [16, 8, 4, 2].find((r) => last % r === 0) ?? 1;
  engine().runtime.dispatch({
    kernel: 'layout', source, entry: 'slice_grad', uniforms: words, constants: { RUN: run },
    buffers: [gy.buffer, gx.buffer], workgroups: grid1d(gx.size / run, 64),
  });
  // Recorded, so that a second derivative flows back through it: its backward is the slice again.
  return record('slice backward', gx, [gy], [], (ggx) => [slice(ggx, begin, begin.map((b, i) => b + gy.shape[i]))], 'same');
}

// ---------------------------------------------------------------- concat
/** Joins tensors along `axis`; all other axes must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: needs at least one tensor');
  const first = xs[0];
  const ax = normAxis('concat', axis, first.rank);
  for (const t of xs) {
    const ok = t.rank === first.rank && t.dtype === first.dtype && t.shape.every((d, i) => i === ax || d === first.shape[i]);
    if (!ok) throw new Error(`concat: shapes ${xs.map((u) => `${u.dtype}${fmt(u.shape)}`).join(', ')} do not match outside axis ${ax}`);
  }
  const total = xs.reduce((s, t) => s + t.shape[ax], 0);
  const shape = first.shape.map((d, i) => (i === ax ? total : d));
  const y = empty(shape, first.dtype, 'concat');
  const ys = stridesOf(shape);
  const offsets: number[] = [];
  let off = 0;
  for (const t of xs) {
    offsets.push(off);
    // Each input lands in its band of the output: contiguous reads, strided writes.
    stridedCopy('concat', t, y, t.shape, stridesOf(t.shape), ys, 0, off * ys[ax]);
    off += t.shape[ax];
  }
  return record('concat', y, [...xs], [], (gy) => xs.map((t, k) => {
    if (!t.requiresGrad) return undefined;
    const starts = shape.map((_, i) => (i === ax ? offsets[k] : 0));
    const ends = shape.map((d, i) => (i === ax ? offsets[k] + t.shape[ax] : d));
    return slice(gy, starts, ends);
  }), 'same');
}

// ---------------------------------------------------------------- gathers and scatters
interface AxisView { outer: number; a: number; inner: number; k: number; istride: number; }

function gatherWords(v: AxisView): number[] { return [v.outer, v.a, v.inner, v.k, v.istride, 0, 0, 0]; }

function dispatchGather(entry: string, v: AxisView, buffers: GPUBuffer[], n: number): void {
  if (n === 0) return;
  engine().runtime.dispatch({ kernel: 'layout', source, entry, uniforms: gatherWords(v), buffers, workgroups: grid1d(n, 64) });
}

/** Shared by gather and gatherRows: out[o, k, i] = x[o, idx(o, k), i], gradient by index_add. */
function gatherAlong(op: string, x: Tensor, indices: Tensor, v: AxisView, outShape: number[]): Tensor {
  const y = empty(outShape, x.dtype, op);
  dispatchGather('gather', v, [x.buffer, indices.buffer, y.buffer], y.size);
  return record(op, y, [x], [indices], (gy, [idx]) => [gatherGrad(op, gy, idx, v, x.shape)], 'same');
}

/** index_add of gy into zeros of x's shape (gather's backward), itself recorded: its backward gathers again. */
function gatherGrad(op: string, gy: Tensor, idx: Tensor, v: AxisView, shape: readonly number[]): Tensor {
  const gx = empty(shape, 'f32', `${op} backward`);
  dispatchGather('gather_grad', v, [gy.buffer, idx.buffer, gx.buffer], gx.size);
  return record(`${op} backward`, gx, [gy], [idx], (ggx, [ix]) => [gatherAlong(op, ggx, ix, v, [...gy.shape])], 'same');
}

/**
 * torch.index_select: picks entries `indices` (1-D i32, length K) along `axis`; the output has K
 * there. Repeated indices are allowed (their gradients sum); out-of-range ones give zeros.
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  checkDType('gather', indices, 'i32', 'indices');
  if (indices.rank !== 1) throw new Error(`gather: indices must be 1-D, got ${fmt(indices.shape)} (x ${fmt(x.shape)})`);
  const ax = normAxis('gather', axis, x.rank);
  const k = indices.shape[0];
  const outer = sizeOf(x.shape.slice(0, ax)), inner = sizeOf(x.shape.slice(ax + 1));
  const outShape = x.shape.map((d, i) => (i === ax ? k : d));
  return gatherAlong('gather', x, indices, { outer, a: x.shape[ax], inner, k, istride: 0 }, outShape);
}

function checkRows(op: string, x: Tensor, idx: Tensor): void {
  checkDType(op, idx, 'i32', 'idx');
  if (x.rank !== 3 || idx.rank !== 2 || idx.shape[0] !== x.shape[0]) {
    throw new Error(`${op}: expected x [B, N, D] and idx [B, K] with the same B, got ${fmt(x.shape)} and ${fmt(idx.shape)}`);
  }
}

/** Per-row token selection: x [B, N, D], idx [B, K] (i32) -> [B, K, D] with out[b, k] = x[b, idx[b, k]]. */
export function gatherRows(x: Tensor, idx: Tensor): Tensor {
  checkRows('gatherRows', x, idx);
  const [b, n, d] = x.shape;
  const k = idx.shape[1];
  return gatherAlong('gatherRows', x, idx, { outer: b, a: n, inner: d, k, istride: k }, [b, k, d]);
}

/**
 * A copy of base [B, N, D] whose rows idx[b, k] are replaced by src[b, k] (idx [B, K] i32, src
 * [B, K, D]). If a row is named twice the last k wins. Gradients: base gets gy with replaced rows
 * zeroed, src gets the rows of gy it landed on.
 */
export function scatterRows(base: Tensor, idx: Tensor, src: Tensor): Tensor {
  checkRows('scatterRows', base, idx);
  const [b, n, d] = base.shape;
  const k = idx.shape[1];
  if (src.rank !== 3 || src.shape[0] !== b || src.shape[1] !== k || src.shape[2] !== d || src.dtype !== base.dtype) {
    throw new Error(`scatterRows: src must be ${base.dtype}[${b}, ${k}, ${d}] for base ${fmt(base.shape)} and idx ${fmt(idx.shape)}, got ${src.dtype}${fmt(src.shape)}`);
  }
  const v: AxisView = { outer: b, a: n, inner: d, k, istride: k };
  const y = empty(base.shape, base.dtype, 'scatterRows');
  dispatchGather('scatter_rows', v, [base.buffer, idx.buffer, src.buffer, y.buffer], y.size);
  return record('scatterRows', y, [base, src], [idx], (gy, [ix]) => {
    let gBase: Tensor | undefined, gSrc: Tensor | undefined;
    if (base.requiresGrad) {
      gBase = empty(base.shape, 'f32', 'scatterRows backward');
      dispatchGather('scatter_rows_base_grad', v, [gy.buffer, ix.buffer, gBase.buffer], gBase.size);
    }
    if (src.requiresGrad) {
      gSrc = empty(src.shape, 'f32', 'scatterRows backward');
      dispatchGather('scatter_rows_src_grad', v, [gy.buffer, ix.buffer, gSrc.buffer], gSrc.size);
    }
    return [gBase, gSrc];
  }, (gy, _inputs, _out, [ix]) => [
    // base: gy with the replaced rows zeroed; src: the rows of gy it landed on.
    base.requiresGrad ? scatterRows(gy, ix, fill(src.shape, 0)) : undefined,
    src.requiresGrad ? gatherRows(gy, ix) : undefined,
  ]);
}
