// float64 references of the layout ops (same index rules as the GPU ops, written the obvious way).
import { type Arr, arr, strides } from './core.js';

/** Multi-index of flat position `flat` in `shape`. */
function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { idx[d] = flat % shape[d]; flat = Math.floor(flat / shape[d]); }
  return idx;
}

const ravel = (idx: readonly number[], st: readonly number[]): number => idx.reduce((s, v, d) => s + v * st[d], 0);

export function permute(x: Arr, axes: number[]): Arr {
  const ax = axes.map((a) => (a < 0 ? a + x.shape.length : a));
  const out = arr(ax.map((a) => x.shape[a]));
  const xs = strides(x.shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, out.shape);
    let src = 0;
    idx.forEach((v, d) => { src += v * xs[ax[d]]; });
    out.data[i] = x.data[src];
  }
  return out;
}

export function transpose(x: Arr, a: number, b: number): Arr {
  const r = x.shape.length;
  const axes = x.shape.map((_, i) => i);
  const i = a < 0 ? a + r : a, j = b < 0 ? b + r : b;
  axes[i] = j; axes[j] = i;
  return permute(x, axes);
}

export function slice(x: Arr, starts: number[], ends: number[]): Arr {
  const c = (v: number, d: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
  const begin = x.shape.map((d, i) => c(starts[i] ?? 0, d));
  const out = arr(x.shape.map((d, i) => Math.max(c(ends[i] ?? d, d) - begin[i], 0)));
  const xs = strides(x.shape);
  for (let i = 0; i < out.data.length; i++) {
    out.data[i] = x.data[ravel(unravel(i, out.shape).map((v, d) => v + begin[d]), xs)];
  }
  return out;
}

export function concat(xs: Arr[], axis: number): Arr {
  const ax = axis < 0 ? axis + xs[0].shape.length : axis;
  const shape = xs[0].shape.map((d, i) => (i === ax ? xs.reduce((s, t) => s + t.shape[ax], 0) : d));
  const out = arr(shape);
  const os = strides(shape);
  let off = 0;
  for (const t of xs) {
    for (let i = 0; i < t.data.length; i++) {
      const idx = unravel(i, t.shape);
      idx[ax] += off;
      out.data[ravel(idx, os)] = t.data[i];
    }
    off += t.shape[ax];
  }
  return out;
}

/** index_select; indices outside [0, n) give zeros. */
export function gather(x: Arr, indices: Arr, axis: number): Arr {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  const out = arr(x.shape.map((d, i) => (i === ax ? indices.data.length : d)));
  const xs = strides(x.shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, out.shape);
    const j = indices.data[idx[ax]];
    if (j < 0 || j >= x.shape[ax]) continue;
    idx[ax] = j;
    out.data[i] = x.data[ravel(idx, xs)];
  }
  return out;
}

/** x [B, N, D], idx [B, K] -> [B, K, D]; out-of-range rows give zeros. */
export function gatherRows(x: Arr, idx: Arr): Arr {
  const [b, n, d] = x.shape;
  const k = idx.shape[1];
  const out = arr([b, k, d]);
  for (let i = 0; i < b; i++) for (let j = 0; j < k; j++) {
    const r = idx.data[i * k + j];
    if (r < 0 || r >= n) continue;
    for (let c = 0; c < d; c++) out.data[(i * k + j) * d + c] = x.data[(i * n + r) * d + c];
  }
  return out;
}

/** Copy of base with rows idx[b, k] replaced by src[b, k], in order (the last write wins). */
export function scatterRows(base: Arr, idx: Arr, src: Arr): Arr {
  const [b, n, d] = base.shape;
  const k = idx.shape[1];
  const out = arr(base.shape, base.data);
  for (let i = 0; i < b; i++) for (let j = 0; j < k; j++) {
    const r = idx.data[i * k + j];
    if (r < 0 || r >= n) continue;
    for (let c = 0; c < d; c++) out.data[(i * n + r) * d + c] = src.data[(i * k + j) * d + c];
  }
  return out;
}
