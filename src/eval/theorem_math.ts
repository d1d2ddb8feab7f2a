// Host-side float64 math for the paper's two theorems (docs/method.md §7): the positive random-feature
// estimator of the softmax kernel behind Theorem 3.1, the theorem's right-hand side per query-key
// pair, and the per-image and batch forms of Theorem 3.2. No GPU: the inputs are arrays read back
// from the engine, and everything is computed in float64 so that the numbers show the bounds, not
// float32 rounding.
import type { Rng } from '../engine/random.js';

/** A vector or a row-major matrix read back from the engine, or written by hand. */
export type Vec = ArrayLike<number>;

/** The conventions behind the numbers this module computes; the theorem tool prints it with its results. */
export const THEOREM_CONVENTIONS = `Theorem 3.1 (AMV sensitivity), evaluated per query-key pair (q_j, k_l) of one head of one image:
  q_j = d_h^(-1/4) Q_j and k_l = d_h^(-1/4) K_l, so that exp(q_j . k_l) is the softmax numerator exp(Q_j . K_l / sqrt(d_h));
  dq_j = d_h^(-1/4) delta_j W_Q and dk_l = d_h^(-1/4) delta_l W_K, with delta_j, delta_l the attacked-minus-clean shift of the
  normalized attention input (after LayerNorm) of tokens j and l;
  LHS = |A_adv[j,l] - A[j,l]| (attention probabilities after softmax), per pair;
  RHS = gamma |(Y - B q_j) . dq_j + (Y - B k_l) . dk_l|, the first-order change of the positive random-feature estimate of
  exp(q_j . k_l), with m features omega_i ~ N(0, I_{d_h}) (iid, or orthogonal blocks with chi-distributed norms),
  B = sum_i exp(omega_i . (q_j + k_l)), Y = sum_i exp(omega_i . (q_j + k_l)) omega_i,
  gamma = exp(-(|q_j|^2 + |k_l|^2)/2) / m; no max-subtraction or epsilon in the estimator.
  "holds" = fraction of pairs with LHS >= RHS; ratio = LHS/RHS over pairs with RHS > 0.
Theorem 3.2 (decoder AMV lower-bounds the adversarial reconstruction loss), per image i with T decoder layers:
  La_i >= L_i/2 + (1/(2T)) sum_t [ C amv2_i[t] - c ], C = H C_A >= 0 and c = c_rec >= 0 unknown constants;
  La_i = L_rec on the attacked image, L_i = L_rec on the clean one, amv2_i[t] = ||A_adv - A||_F^2 of decoder layer t,
  averaged over heads; slack_i = La_i - L_i/2.
  cMax (c = 0) = min_i 2T slack_i / sum_t amv2_i[t]; none exists if some slack_i < 0.
  Fitted C = least-squares slope (with intercept) of 2T slack_i on sum_t amv2_i[t], clipped at 0;
  c needed = max_i (C sum_t amv2_i[t] - 2T slack_i)/T, clipped at 0.
  Batch form (the paper's average over N images): holds with C = c = 0 iff mean La >= mean L / 2.`;

// ---------------------------------------------------------------------------------------------
// Validation

function positiveInt(where: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: ${name} must be a positive integer, got ${v}`);
}

function checkLength(where: string, name: string, v: ArrayLike<unknown>, want: number, what: string): void {
  if (v.length !== want) throw new Error(`${where}: ${name} has length ${v.length}, expected ${want} (${what})`);
}

function checkFeatures(where: string, f: RandomFeatures): void {
  positiveInt(where, 'features.m', f.m);
  positiveInt(where, 'features.d', f.d);
  checkLength(where, 'features.omega', f.omega, f.m * f.d, `features.m × features.d = ${f.m} × ${f.d}`);
}

function checkNonEmpty(where: string, name: string, v: Vec): void {
  if (v.length === 0) throw new Error(`${where}: ${name} is empty`);
}

// ---------------------------------------------------------------------------------------------
// Small vector helpers

function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

const squaredNorm = (a: Vec): number => dot(a, a);

/** ω_i · (q + k), without allocating q + k. */
function featureDotSum(f: RandomFeatures, i: number, q: Vec, k: Vec): number {
  let s = 0;
  for (let c = 0, o = i * f.d; c < f.d; c++) s += f.omega[o + c] * (q[c] + k[c]);
  return s;
}

// ---------------------------------------------------------------------------------------------
// 1. Positive random features for the softmax kernel

/** m feature vectors of dimension d, row-major [m, d]. */
export interface RandomFeatures {
  m: number;
  d: number;
  omega: Float64Array;
  orthogonal: boolean;
}

/**
 * m random features ω_i ~ N(0, I_d). With `orthogonal`, blocks of up to d mutually orthogonal
 * directions (Gram–Schmidt of Gaussian vectors), each rescaled to the length of an independent
 * Gaussian vector, as Performer's orthogonal random features: every ω_i is still marginally
 * N(0, I_d), so the estimator stays unbiased, and the orthogonality lowers its variance.
 * For m > d, independent blocks follow one another.
 */
export function randomFeatures(m: number, d: number, rng: Rng, o: { orthogonal?: boolean } = {}): RandomFeatures {
  positiveInt('randomFeatures', 'm', m);
  positiveInt('randomFeatures', 'd', d);
  const omega = new Float64Array(m * d);
  if (o.orthogonal) {
    for (let first = 0; first < m; first += d) orthogonalBlock(omega, first, Math.min(d, m - first), d, rng);
  } else {
    for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  }
  return { m, d, omega, orthogonal: !!o.orthogonal };
}

/** Rows first..first+count−1 of omega: orthogonal, uniformly oriented, chi_d-distributed lengths. */
function orthogonalBlock(omega: Float64Array, first: number, count: number, d: number, rng: Rng): void {
  for (let r = first; r < first + count; r++) {
    const row = omega.subarray(r * d, (r + 1) * d);
    let drawn: number, left: number;
    // The redraw only matters if a Gaussian vector falls (almost) in the span of the earlier rows,
    // which has probability zero but would divide by ~0 below.
    do {
      for (let c = 0; c < d; c++) row[c] = rng.normal();
      drawn = Math.sqrt(squaredNorm(row));
      // Projecting out twice keeps the block orthogonal to rounding in float64 ("twice is enough").
      for (let pass = 0; pass < 2; pass++) {
        for (let p = first; p < r; p++) {
          const prev = omega.subarray(p * d, (p + 1) * d);
          const along = dot(row, prev) / squaredNorm(prev);
          for (let c = 0; c < d; c++) row[c] -= along * prev[c];
        }
      }
      left = Math.sqrt(squaredNorm(row));
    } while (!(left > 1e-10 * drawn));
    const length = chiLength(d, rng);
    for (let c = 0; c < d; c++) row[c] *= length / left;
  }
}

/** The length of an independent N(0, I_d) vector. */
function chiLength(d: number, rng: Rng): number {
  let s = 0;
  for (let c = 0; c < d; c++) { const z = rng.normal(); s += z * z; }
  return Math.sqrt(s);
}

function checkPair(where: string, q: Vec, k: Vec, f: RandomFeatures): void {
  checkFeatures(where, f);
  checkLength(where, 'q', q, f.d, 'the features\' dimension');
  checkLength(where, 'k', k, f.d, 'the features\' dimension');
}

/**
 * The unbiased positive random-feature estimate of exp(q·k):
 * exp(−(|q|²+|k|²)/2) · (1/m) Σ_i exp(ω_i·(q+k)).
 * Performer implementations subtract a data-dependent maximum from the exponents and add an epsilon
 * to the features for numerical safety; both bias the estimate, so neither is done here. The
 * constant prefactor is folded into each exponent instead, which is exact and keeps a tiny prefactor
 * from meeting a huge sum.
 */
export function kernelEstimate(q: Vec, k: Vec, f: RandomFeatures): number {
  checkPair('kernelEstimate', q, k, f);
  const halfNorms = (squaredNorm(q) + squaredNorm(k)) / 2;
  let sum = 0;
  for (let i = 0; i < f.m; i++) sum += Math.exp(featureDotSum(f, i, q, k) - halfNorms);
  return sum / f.m;
}

/**
 * Variance of kernelEstimate over iid features, m of them:
 * e^{|q+k|²}(e^{|q+k|²} − 1)·e^{−(|q|²+|k|²)}/m, since ω·(q+k) ~ N(0, |q+k|²).
 * Computed as e^{2q·k}·expm1(|q+k|²)/m, the same number without the large cancelling exponents.
 */
export function kernelEstimateVariance(q: Vec, k: Vec, m: number): number {
  positiveInt('kernelEstimateVariance', 'm', m);
  checkLength('kernelEstimateVariance', 'k', k, q.length, 'the length of q');
  let sumSq = 0;
  for (let c = 0; c < q.length; c++) sumSq += (q[c] + k[c]) ** 2;
  return Math.exp(2 * dot(q, k)) * Math.expm1(sumSq) / m;
}

export interface Theorem31Pair {
  /** γ·|(Y − B q)·dq + (Y − B k)·dk|. */
  rhs: number;
  /** Σ_i exp(ω_i·(q+k)). */
  B: number;
  /** Σ_i exp(ω_i·(q+k)) ω_i, a d-vector. */
  Y: Float64Array;
  /** exp(−(|q|²+|k|²)/2)/m. */
  gamma: number;
}

/**
 * Theorem 3.1's right-hand side for one query-key pair. γ·((Y − B q)·dq + (Y − B k)·dk) is exactly
 * the first-order change of kernelEstimate(q, k, f) when q → q + dq and k → k + dk (same features):
 * the derivative of exp(−(|q|²+|k|²)/2) is −(q·dq + k·dk) times itself, that of exp(ω·(q+k)) is
 * ω·(dq+dk) times itself. q, k, dq, dk are already scaled by d_h^(−1/4) (theorem31Head does that).
 */
export function theorem31Pair(q: Vec, k: Vec, dq: Vec, dk: Vec, f: RandomFeatures): Theorem31Pair {
  checkPair('theorem31Pair', q, k, f);
  checkLength('theorem31Pair', 'dq', dq, f.d, 'the features\' dimension');
  checkLength('theorem31Pair', 'dk', dk, f.d, 'the features\' dimension');
  const d = f.d;
  let B = 0;
  const Y = new Float64Array(d);
  for (let i = 0; i < f.m; i++) {
    const e = Math.exp(featureDotSum(f, i, q, k));
    B += e;
    for (let c = 0; c < d; c++) Y[c] += e * f.omega[i * d + c];
  }
  const gamma = Math.exp(-(squaredNorm(q) + squaredNorm(k)) / 2) / f.m;
  let change = 0;
  for (let c = 0; c < d; c++) change += (Y[c] - B * q[c]) * dq[c] + (Y[c] - B * k[c]) * dk[c];
  return { rhs: gamma * Math.abs(change), B, Y, gamma };
}

export interface Theorem31HeadOptions {
  /** Queries [n, d], raw (this function scales them by d^(−1/4)). */
  Q: Vec;
  /** Keys [m, d], raw. */
  K: Vec;
  /** Query shifts δ W_Q [n, d], raw. */
  dQ: Vec;
  /** Key shifts δ W_K [m, d], raw. */
  dK: Vec;
  /** Clean attention probabilities [n, m]. */
  A: Vec;
  /** Attacked attention probabilities [n, m]. */
  Aadv: Vec;
  /** Number of queries. */
  n: number;
  /** Number of keys (default n). */
  m?: number;
  /** Head dimension d_h. */
  d: number;
  features: RandomFeatures;
  /** 'all' (default), or the size of a uniform random subset of the n·m pairs, to bound the cost. */
  pairs?: 'all' | number;
  /** Draws the subset; needed when `pairs` is a number below n·m. */
  rng?: Rng;
}

export interface Theorem31HeadResult {
  /** |Aadv[j,l] − A[j,l]| per evaluated pair. */
  lhs: Float64Array;
  /** theorem31Pair's rhs per evaluated pair. */
  rhs: Float64Array;
  /** The evaluated pairs as j·m + l, ascending. */
  index: Int32Array;
}

/**
 * Both sides of Theorem 3.1 for the query-key pairs of one attention head of one image. Equal to
 * theorem31Pair on d^(−1/4)-scaled rows, computed from the projections ω_i·q_j, ω_i·k_l, ω_i·dq_j,
 * ω_i·dk_l so that a pair costs O(features) instead of O(features·d); γ is folded into the
 * exponents (exact) so large |q|, |k| do not turn it into 0·∞.
 */
export function theorem31Head(o: Theorem31HeadOptions): Theorem31HeadResult {
  const where = 'theorem31Head';
  const { n, d, features: f } = o;
  const m = o.m ?? n;
  positiveInt(where, 'n', n);
  positiveInt(where, 'm', m);
  positiveInt(where, 'd', d);
  checkFeatures(where, f);
  if (f.d !== d) throw new Error(`${where}: features have dimension ${f.d}, but d is ${d}`);
  checkLength(where, 'Q', o.Q, n * d, `n × d = ${n} × ${d}`);
  checkLength(where, 'dQ', o.dQ, n * d, `n × d = ${n} × ${d}`);
  checkLength(where, 'K', o.K, m * d, `m × d = ${m} × ${d}`);
  checkLength(where, 'dK', o.dK, m * d, `m × d = ${m} × ${d}`);
  checkLength(where, 'A', o.A, n * m, `n × m = ${n} × ${m}`);
  checkLength(where, 'Aadv', o.Aadv, n * m, `n × m = ${n} × ${m}`);
  const index = selectPairs(where, n * m, o.pairs ?? 'all', o.rng);

  const scale = d ** -0.25;
  const pq = project(o.Q, n, d, f, scale), pk = project(o.K, m, d, f, scale);
  const pdq = project(o.dQ, n, d, f, scale), pdk = project(o.dK, m, d, f, scale);
  const qq = rowDots(o.Q, o.Q, n, d, scale * scale), kk = rowDots(o.K, o.K, m, d, scale * scale);
  const qdq = rowDots(o.Q, o.dQ, n, d, scale * scale), kdk = rowDots(o.K, o.dK, m, d, scale * scale);

  const M = f.m;
  const lhs = new Float64Array(index.length), rhs = new Float64Array(index.length);
  for (let p = 0; p < index.length; p++) {
    const j = Math.floor(index[p] / m), l = index[p] % m;
    const halfNorms = (qq[j] + kk[l]) / 2, normShift = qdq[j] + kdk[l];
    // γ·((Y − Bq)·dq + (Y − Bk)·dk) = (1/M) Σ_i exp(ω_i·(q+k) − (|q|²+|k|²)/2)·(ω_i·(dq+dk) − q·dq − k·dk).
    let change = 0;
    for (let i = 0; i < M; i++) {
      const e = Math.exp(pq[j * M + i] + pk[l * M + i] - halfNorms);
      change += e * (pdq[j * M + i] + pdk[l * M + i] - normShift);
    }
    rhs[p] = Math.abs(change) / M;
    lhs[p] = Math.abs(o.Aadv[index[p]] - o.A[index[p]]);
  }
  return { lhs, rhs, index };
}

/** All pairs 0..total−1, or `pairs` of them drawn uniformly without replacement, ascending. */
function selectPairs(where: string, total: number, pairs: 'all' | number, rng: Rng | undefined): Int32Array {
  const all = (): Int32Array => Int32Array.from({ length: total }, (_, i) => i);
  if (pairs === 'all') return all();
  positiveInt(where, 'pairs', pairs);
  if (pairs >= total) return all();
  if (!rng) throw new Error(`${where}: pairs = ${pairs} (a subset of ${total}) needs an rng`);
  // Partial Fisher–Yates: the first `pairs` slots end up a uniform random subset.
  const order = all();
  for (let t = 0; t < pairs; t++) {
    const u = t + rng.int(total - t);
    const swap = order[t]; order[t] = order[u]; order[u] = swap;
  }
  return order.slice(0, pairs).sort();
}

/** [rows, features]: scale·(ω_i · x_r). */
function project(x: Vec, rows: number, d: number, f: RandomFeatures, scale: number): Float64Array {
  const out = new Float64Array(rows * f.m);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < f.m; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += f.omega[i * d + c] * x[r * d + c];
      out[r * f.m + i] = scale * s;
    }
  }
  return out;
}

/** [rows]: factor·(a_r · b_r). */
function rowDots(a: Vec, b: Vec, rows: number, d: number, factor: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += a[r * d + c] * b[r * d + c];
    out[r] = factor * s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 2. Summaries

/** Quantiles with linear interpolation between order statistics (R's type 7); NaN-free input assumed. */
export function quantiles(values: Vec, qs: number[]): number[] {
  checkNonEmpty('quantiles', 'values', values);
  for (const q of qs) if (!(q >= 0 && q <= 1)) throw new Error(`quantiles: qs must lie in [0, 1], got ${q}`);
  const sorted = Float64Array.from(values).sort();
  const last = sorted.length - 1;
  return qs.map((q) => {
    const pos = q * last, lo = Math.floor(pos), hi = Math.min(lo + 1, last);
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
  });
}

export const median = (values: Vec): number => quantiles(values, [0.5])[0];

export function mean(values: Vec): number {
  checkNonEmpty('mean', 'values', values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

function checkSameLength(where: string, x: Vec, y: Vec): void {
  checkNonEmpty(where, 'x', x);
  checkLength(where, 'y', y, x.length, 'the length of x');
}

/** Pearson correlation; NaN when x or y is constant (the correlation is undefined then). */
export function pearson(x: Vec, y: Vec): number {
  checkSameLength('pearson', x, y);
  const mx = mean(x), my = mean(y);
  let sxx = 0, syy = 0, sxy = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxx += dx * dx; syy += dy * dy; sxy += dx * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Cosine of the angle between x and y; NaN when either is the zero vector. */
export function cosine(x: Vec, y: Vec): number {
  checkSameLength('cosine', x, y);
  const norms = Math.sqrt(squaredNorm(x) * squaredNorm(y));
  return norms === 0 ? NaN : dot(x, y) / norms;
}

export interface BoundSummary {
  pairs: number;
  /** Fraction of pairs with lhs >= rhs. */
  holds: number;
  /** Quantiles of lhs/rhs over the pairs with rhs > 0 (NaN when there are none). */
  ratio: { q05: number; q25: number; median: number; q75: number; q95: number };
}

/** How often lhs >= rhs, and how lhs/rhs is spread. */
export function boundSummary(lhs: Vec, rhs: Vec): BoundSummary {
  const where = 'boundSummary';
  checkNonEmpty(where, 'lhs', lhs);
  checkLength(where, 'rhs', rhs, lhs.length, 'the length of lhs');
  let holding = 0;
  const ratios: number[] = [];
  for (let i = 0; i < lhs.length; i++) {
    if (Number.isNaN(lhs[i])) throw new Error(`${where}: lhs[${i}] is NaN`);
    if (Number.isNaN(rhs[i])) throw new Error(`${where}: rhs[${i}] is NaN`);
    if (lhs[i] >= rhs[i]) holding++;
    // A pair with rhs = 0 holds trivially (lhs >= 0) and its ratio is infinite or undefined, so it
    // is counted in `holds` but left out of the ratio distribution.
    if (rhs[i] !== 0) ratios.push(lhs[i] / rhs[i]);
  }
  const [q05, q25, q50, q75, q95] = ratios.length ? quantiles(ratios, [0.05, 0.25, 0.5, 0.75, 0.95]) : [NaN, NaN, NaN, NaN, NaN];
  return { pairs: lhs.length, holds: holding / lhs.length, ratio: { q05, q25, median: q50, q75, q95 } };
}

// ---------------------------------------------------------------------------------------------
// 3. Theorem 3.2 on data

export interface Theorem32Summary {
  images: number;
  /** Decoder layers T. */
  layers: number;
  /** La_i − L_i/2 per image. */
  slack: number[];
  /** Σ_t amv2_i[t] per image. */
  amvSum: number[];
  /** Whether some C >= 0 makes the inequality hold on every image with c = 0 (iff every slack >= 0). */
  holdsWithZeroOffset: boolean;
  /** The largest such C; null when none exists, Infinity when no image has Σ amv2 > 0. */
  cMaxNoOffset: number | null;
  /** Least-squares slope (with intercept) of 2T·slack on Σ_t amv2; NaN when Σ amv2 is the same on every image. */
  lsSlope: number;
  /** The C the offset below is for: lsSlope clipped at 0 (C = H·C_A cannot be negative). */
  lsC: number;
  /** The smallest c >= 0 that makes the inequality hold on every image with C = lsC. */
  offsetAtLsC: number;
  /** Pearson correlation across images of Σ_t amv2 and slack (NaN when either is constant). */
  pearson: number;
  /** The paper's form, averaged over the N images. */
  batch: {
    meanLa: number;
    meanL: number;
    meanSlack: number;
    meanAmvSum: number;
    /** mean La >= mean L / 2. */
    holdsWithZeroConstants: boolean;
    /** Largest C with c = 0: 2T·meanSlack/meanAmvSum; null when meanSlack < 0, Infinity when meanAmvSum = 0. */
    cMax: number | null;
  };
}

/**
 * Theorem 3.2, La_i >= L_i/2 + (1/(2T)) Σ_t [C·amv2_i[t] − c], read against data: which constants
 * C = H·C_A >= 0 and c = c_rec >= 0 would make it hold, and how well the decoder AMV² tracks the
 * slack. It holds on image i iff 2T·slack_i >= C·Σ_t amv2_i[t] − T·c.
 */
export function theorem32Summary(La: number[], L: number[], amv2: number[][]): Theorem32Summary {
  const T = checkTheorem32('theorem32Summary', La, L, amv2);
  const slack = La.map((la, i) => la - L[i] / 2);
  const amvSum = amv2.map(sumOf);
  const twiceTSlack = slack.map((s) => 2 * T * s);

  const holdsWithZeroOffset = slack.every((s) => s >= 0);
  let cMaxNoOffset: number | null = null;
  if (holdsWithZeroOffset) {
    // Images with Σ amv2 = 0 hold for any C once their slack is >= 0.
    let cMax = Infinity;
    amvSum.forEach((x, i) => { if (x > 0) cMax = Math.min(cMax, twiceTSlack[i] / x); });
    cMaxNoOffset = cMax;
  }

  const lsSlope = leastSquaresSlope(amvSum, twiceTSlack);
  const lsC = Number.isNaN(lsSlope) ? NaN : Math.max(0, lsSlope);
  const offsetAtLsC = Number.isNaN(lsC) ? NaN : offsetFor(lsC, amvSum, twiceTSlack, T);

  const meanLa = mean(La), meanL = mean(L), meanSlack = meanLa - meanL / 2, meanAmvSum = mean(amvSum);
  const batchCMax = meanSlack < 0 ? null : meanAmvSum > 0 ? 2 * T * meanSlack / meanAmvSum : Infinity;
  return {
    images: La.length, layers: T, slack, amvSum, holdsWithZeroOffset, cMaxNoOffset, lsSlope, lsC, offsetAtLsC,
    pearson: pearson(amvSum, slack),
    batch: { meanLa, meanL, meanSlack, meanAmvSum, holdsWithZeroConstants: meanSlack >= 0, cMax: batchCMax },
  };
}

/** The smallest c >= 0 that makes Theorem 3.2 hold on every image for a given C >= 0. */
export function theorem32OffsetNeeded(La: number[], L: number[], amv2: number[][], C: number): number {
  const T = checkTheorem32('theorem32OffsetNeeded', La, L, amv2);
  if (!(C >= 0) || !Number.isFinite(C)) throw new Error(`theorem32OffsetNeeded: C must be a finite number >= 0, got ${C}`);
  return offsetFor(C, amv2.map(sumOf), La.map((la, i) => 2 * T * (la - L[i] / 2)), T);
}

/** max_i (C·x_i − y_i)/T clipped at 0, where y_i = 2T·slack_i. */
function offsetFor(C: number, x: number[], y: number[], T: number): number {
  let c = 0;
  for (let i = 0; i < x.length; i++) c = Math.max(c, (C * x[i] - y[i]) / T);
  return c;
}

function leastSquaresSlope(x: number[], y: number[]): number {
  const mx = mean(x), my = mean(y);
  let sxx = 0, sxy = 0;
  for (let i = 0; i < x.length; i++) { sxx += (x[i] - mx) ** 2; sxy += (x[i] - mx) * (y[i] - my); }
  return sxx === 0 ? NaN : sxy / sxx;
}

const sumOf = (v: number[]): number => v.reduce((s, x) => s + x, 0);

/** Checks the shapes and values; returns T. */
function checkTheorem32(where: string, La: number[], L: number[], amv2: number[][]): number {
  checkNonEmpty(where, 'La', La);
  checkLength(where, 'L', L, La.length, 'one value per image, as La');
  checkLength(where, 'amv2', amv2, La.length, 'one row per image, as La');
  const T = amv2[0].length;
  if (T < 1) throw new Error(`${where}: amv2[0] is empty (it needs one value per decoder layer)`);
  amv2.forEach((row, i) => {
    checkLength(where, `amv2[${i}]`, row, T, 'one value per decoder layer, as amv2[0]');
    row.forEach((v, t) => { if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`${where}: amv2[${i}][${t}] = ${v} is not a finite squared norm >= 0`); });
  });
  La.forEach((v, i) => { if (!Number.isFinite(v)) throw new Error(`${where}: La[${i}] = ${v} is not finite`); });
  L.forEach((v, i) => { if (!Number.isFinite(v)) throw new Error(`${where}: L[${i}] = ${v} is not finite`); });
  return T;
}
