// float64 reference of the losses.
import { type Arr, arr } from './core.js';
import { logSumExp } from './softmax.js';

/** Cross-entropy of logits [n, c] against integer labels [n] (out-of-range labels give NaN). */
export function crossEntropy(logits: Arr, labels: Arr, reduction: 'mean' | 'sum' | 'none' = 'mean'): Arr {
  const [n, c] = logits.shape;
  const rows = arr([n]);
  for (let i = 0; i < n; i++) {
    const row = logits.data.subarray(i * c, (i + 1) * c);
    const t = labels.data[i];
    rows.data[i] = Number.isInteger(t) && t >= 0 && t < c ? logSumExp(row) - row[t] : NaN;
  }
  if (reduction === 'none') return rows;
  const s = rows.data.reduce((a, b) => a + b, 0);
  return arr([], [reduction === 'mean' ? s / n : s]);
}
