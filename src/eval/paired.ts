// Two evaluations on the same images, compared image by image: which images each gets right, and
// whether the difference between them is more than chance (the exact McNemar test on the images
// they disagree on). Two accuracies on the same sample differ by a handful of images; only the
// paired count says whether those are the same handful.

export interface PairedCounts {
  n: number;
  /** Images each evaluation gets right. */
  a: number;
  b: number;
  both: number;
  aOnly: number;
  bOnly: number;
  neither: number;
  /** Exact two-sided McNemar p-value: under "no difference" each discordant image is a fair coin. */
  pValue: number;
}

/** Per-image right/wrong of two evaluations of the same images, in the same order. */
export function pairedCounts(aRight: ArrayLike<boolean>, bRight: ArrayLike<boolean>): PairedCounts {
  if (aRight.length !== bRight.length) throw new Error(`pairedCounts: ${aRight.length} images against ${bRight.length}`);
  let both = 0, aOnly = 0, bOnly = 0, neither = 0;
  for (let i = 0; i < aRight.length; i++) {
    if (aRight[i] && bRight[i]) both++;
    else if (aRight[i]) aOnly++;
    else if (bRight[i]) bOnly++;
    else neither++;
  }
  return { n: aRight.length, a: both + aOnly, b: both + bOnly, both, aOnly, bOnly, neither, pValue: mcnemarExact(aOnly, bOnly) };
}

/**
 * min(1, 2·P(X ≤ min(b, c))) for X ~ Binomial(b + c, 1/2), summed in log space so that thousands of
 * discordant images neither underflow nor lose the tail.
 */
export function mcnemarExact(b: number, c: number): number {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) throw new Error(`mcnemarExact: counts must be non-negative integers, got ${b} and ${c}`);
  const n = b + c, k = Math.min(b, c);
  if (n === 0) return 1;
  // log P(X = j) = log C(n, j) − n·log 2, built up term by term.
  const logs: number[] = [];
  let lp = -n * Math.LN2;
  for (let j = 0; j <= k; j++) {
    if (j > 0) lp += Math.log(n - j + 1) - Math.log(j);
    logs.push(lp);
  }
  const top = Math.max(...logs);
  const tail = Math.exp(top) * logs.reduce((s, l) => s + Math.exp(l - top), 0);
  return Math.min(1, 2 * tail);
}
