// Seeded subsets of a data set, and index lists written by hand ('0-499', '3,7,10-12').
import { Rng } from '../engine/random.js';

/** Index lists longer than this are refused: a typo like '0-99999999999' should not allocate gigabytes. */
const MAX_LISTED = 1 << 24;

/**
 * `n` distinct indices from 0..total-1, chosen by `seed` (the same on every run and platform).
 * A partial Fisher-Yates shuffle over a sparse swap table: O(n) time and memory however large
 * `total` is. The first m of the n indices are exactly sampleIndices(total, m, seed), so a larger
 * sample extends a smaller one.
 */
export function sampleIndices(total: number, n: number, seed: number): Int32Array {
  if (!Number.isInteger(total) || total < 0 || total > 0x7fffffff) throw new Error(`sampleIndices: total ${total} is not a non-negative 32-bit integer`);
  if (!Number.isInteger(n) || n < 0 || n > total) throw new Error(`sampleIndices: n ${n} is not an integer in 0..${total} (sampling without replacement)`);
  if (!Number.isFinite(seed)) throw new Error(`sampleIndices: seed ${seed} is not a number`);
  const rng = new Rng(seed >>> 0);
  const swapped = new Map<number, number>();
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(total - i);
    const at = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out[i] = at;
  }
  return out;
}

/**
 * Parses a list of indices and inclusive ranges: '0-499', '3,7,10-12' (spaces allowed). With
 * `total`, every index must be below it. Repeats are refused, since a subset lists each image once.
 */
export function parseIndexRange(spec: string, total?: number): Int32Array {
  if (typeof spec !== 'string' || spec.trim() === '') throw new Error(`parseIndexRange: empty index list ${JSON.stringify(spec)} (write e.g. '0-499' or '3,7,10-12')`);
  const parts = spec.split(',').map((p) => p.trim());
  const ranges: [number, number][] = [];
  let count = 0;
  for (const p of parts) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(p);
    if (!m) throw new Error(`parseIndexRange: ${JSON.stringify(p)} in ${JSON.stringify(spec)} is not an index or a range a-b of non-negative integers`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b > 0x7fffffff || a > 0x7fffffff) throw new Error(`parseIndexRange: ${JSON.stringify(p)} is past the largest index 2147483647`);
    if (b < a) throw new Error(`parseIndexRange: range ${JSON.stringify(p)} ends before it starts`);
    if (total !== undefined && b >= total) throw new Error(`parseIndexRange: ${JSON.stringify(p)} reaches ${b}, past the last index ${total - 1}`);
    count += b - a + 1;
    if (count > MAX_LISTED) throw new Error(`parseIndexRange: ${JSON.stringify(spec)} lists more than ${MAX_LISTED} indices`);
    ranges.push([a, b]);
  }
  // Repeats are found by sorting the ranges, not by expanding them into a set.
  const sorted = ranges.slice().sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i][0] <= sorted[i - 1][1]) throw new Error(`parseIndexRange: index ${sorted[i][0]} is listed twice in ${JSON.stringify(spec)}`);
  }
  const out = new Int32Array(count);
  let o = 0;
  for (const [a, b] of ranges) for (let k = a; k <= b; k++) out[o++] = k;
  return out;
}

/**
 * The images an evaluation runs on, as `amrm eval` selects them: an index list, else a seeded sample
 * of n, else every image (undefined). Reports record these fields, so a report's images can be found again.
 */
export function selectIndices(total: number, o: { indices?: string | null; n?: number | null; seed?: number | null }): Int32Array | undefined {
  if (o.indices !== undefined && o.indices !== null) return parseIndexRange(o.indices, total);
  if (o.n !== undefined && o.n !== null) return sampleIndices(total, o.n, o.seed ?? 0);
  return undefined;
}
