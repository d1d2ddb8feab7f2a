// float64 references of the reductions.
import { type Arr, arr, strides } from './core.js';

function reduceAxes(a: Arr, axes: number[] | undefined, keepdims: boolean, init: number, f: (acc: number, v: number) => number): Arr {
  const ax = (axes ?? a.shape.map((_, i) => i)).map((x) => (x < 0 ? x + a.shape.length : x));
  const outShapeKeep = a.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = arr(outShapeKeep);
  out.data.fill(init);
  const st = strides(a.shape);
  const ost = strides(outShapeKeep);
  for (let i = 0; i < a.data.length; i++) {
    let o = 0;
    for (let d = 0; d < a.shape.length; d++) {
      const idx = Math.floor(i / st[d]) % a.shape[d];
      if (!ax.includes(d)) o += idx * ost[d];
    }
    out.data[o] = f(out.data[o], a.data[i]);
  }
  return keepdims ? out : { shape: a.shape.filter((_, i) => !ax.includes(i)), data: out.data };
}

export const sum = (a: Arr, axes?: number[], keepdims = false): Arr => reduceAxes(a, axes, keepdims, 0, (s, v) => s + v);
export const max = (a: Arr, axes?: number[], keepdims = false): Arr => reduceAxes(a, axes, keepdims, -Infinity, Math.max);
export function mean(a: Arr, axes?: number[], keepdims = false): Arr {
  const s = sum(a, axes, keepdims);
  const count = a.data.length / s.data.length;
  return { shape: s.shape, data: s.data.map((v) => v / count) };
}

export function argmax(a: Arr, axis: number, keepdims = false): Arr {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const outer = a.shape.slice(0, ax).reduce((x, y) => x * y, 1);
  const r = a.shape[ax];
  const inner = a.shape.slice(ax + 1).reduce((x, y) => x * y, 1);
  const out = arr(keepdims ? a.shape.map((d, i) => (i === ax ? 1 : d)) : a.shape.filter((_, i) => i !== ax));
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    let best = -Infinity, arg = 0;
    for (let k = 0; k < r; k++) { const v = a.data[(o * r + k) * inner + i]; if (v > best) { best = v; arg = k; } }
    out.data[o * inner + i] = arg;
  }
  return out;
}
