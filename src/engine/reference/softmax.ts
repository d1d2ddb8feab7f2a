// float64 references of softmax and log-softmax along the last axis.
import { type Arr, arr } from './core.js';

function rows(a: Arr, f: (row: Float64Array, out: Float64Array) => void): Arr {
  const d = a.shape[a.shape.length - 1];
  const out = arr(a.shape);
  for (let b = 0; d > 0 && b < a.data.length; b += d) f(a.data.subarray(b, b + d), out.data.subarray(b, b + d));
  return out;
}

/** log Σ exp(row), stable. */
export function logSumExp(row: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - m);
  return m + Math.log(s);
}

export const softmax = (a: Arr): Arr => rows(a, (r, o) => {
  const lse = logSumExp(r);
  for (let i = 0; i < r.length; i++) o[i] = Math.exp(r[i] - lse);
});

export const logSoftmax = (a: Arr): Arr => rows(a, (r, o) => {
  const lse = logSumExp(r);
  for (let i = 0; i < r.length; i++) o[i] = r[i] - lse;
});
