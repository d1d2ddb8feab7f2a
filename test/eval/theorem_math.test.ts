import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/engine/random.js';
import {
  randomFeatures, kernelEstimate, kernelEstimateVariance, theorem31Pair, theorem31Head, quantiles, median, mean,
  pearson, cosine, boundSummary, theorem32Summary, theorem32OffsetNeeded, THEOREM_CONVENTIONS, type RandomFeatures,
} from '../../src/eval/theorem_math.js';

const test = suite('eval: theorem math');

const throwsLike = (f: () => unknown, re: RegExp) => {
  try { f(); } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error matching ${re}`);
};

const close = (got: number, want: number, rel: number, what: string) =>
  assert.ok(Math.abs(got - want) <= rel * Math.abs(want), `${what}: got ${got}, want ${want} (rel tol ${rel})`);

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };
const gaussian = (rng: Rng, d: number) => Array.from({ length: d }, () => rng.normal());
const withNorm = (v: number[], norm: number) => { const s = norm / Math.sqrt(dot(v, v)); return v.map((x) => x * s); };

/** Random q, k with norms in [0.5, 0.8] and |q+k|² <= 1: the estimator's tails are then light enough to test its variance. */
function moderatePair(rng: Rng, d: number): { q: number[]; k: number[] } {
  for (;;) {
    const q = withNorm(gaussian(rng, d), rng.uniform(0.5, 0.8)), k = withNorm(gaussian(rng, d), rng.uniform(0.5, 0.8));
    const s = q.map((x, c) => x + k[c]);
    if (dot(s, s) <= 1) return { q, k };
  }
}

/**
 * The standard error of the sample variance of N draws of the estimate (a mean of m iid
 * Z = P·e^W, W ~ N(0, v), P = e^{−(|q|²+|k|²)/2}), from Z's lognormal moments E Z^r = P^r e^{r²v/2}:
 * Var(s²) ≈ (μ4 − σ⁴ (N−3)/(N−1))/N with μ4, σ² those of the mean of m.
 */
function sampleVarianceSE(q: number[], k: number[], m: number, N: number): number {
  const v = q.reduce((s, x, c) => s + (x + k[c]) ** 2, 0), P = Math.exp(-(dot(q, q) + dot(k, k)) / 2);
  const raw = (r: number) => P ** r * Math.exp(r * r * v / 2);
  const mu = raw(1), varZ = raw(2) - mu * mu;
  const mu4Z = raw(4) - 4 * mu * raw(3) + 6 * mu * mu * raw(2) - 3 * mu ** 4;
  const varX = varZ / m, mu4X = (mu4Z + 3 * (m - 1) * varZ * varZ) / m ** 3;
  return Math.sqrt((mu4X - varX * varX * (N - 3) / (N - 1)) / N);
}

/** Mean and sample variance of kernelEstimate over N independent feature sets. */
function estimates(q: number[], k: number[], m: number, N: number, rng: Rng, orthogonal: boolean): { mean: number; variance: number } {
  const xs = new Float64Array(N);
  for (let t = 0; t < N; t++) xs[t] = kernelEstimate(q, k, randomFeatures(m, q.length, rng, { orthogonal }));
  const mu = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - mu) ** 2;
  return { mean: mu, variance: ss / (N - 1) };
}

test('kernelEstimate: unbiased for exp(q·k), iid variance as kernelEstimateVariance says', () => {
  const rng = new Rng(31), d = 4, m = 8, N = 20000;
  for (let c = 0; c < 4; c++) {
    const { q, k } = moderatePair(rng, d);
    const want = Math.exp(dot(q, k)), theoryVar = kernelEstimateVariance(q, k, m);
    const got = estimates(q, k, m, N, rng, false);
    const meanSE = Math.sqrt(theoryVar / N);
    assert.ok(Math.abs(got.mean - want) < 4 * meanSE, `case ${c}: mean ${got.mean} vs exp(q·k) ${want}, SE ${meanSE}`);
    // 4 standard errors of the sample variance; the check is only worth something while that stays small.
    const relTol = 4 * sampleVarianceSE(q, k, m, N) / theoryVar;
    assert.ok(relTol < 0.15, `case ${c}: variance tolerance ${relTol} too loose to test anything`);
    close(got.variance, theoryVar, relTol, `case ${c}: sample variance`);
    // A variance a factor m off (a missing 1/m) or the clean e^{|q+k|²}(e^{|q+k|²}−1)/m without e^{−(|q|²+|k|²)} would fail.
    assert.ok(Math.abs(got.variance - theoryVar * m) > relTol * theoryVar * m);
  }
});

test('orthogonal features: right mean, variance no larger than iid', () => {
  const rng = new Rng(32), d = 4, m = 8, N = 20000;
  for (let c = 0; c < 3; c++) {
    const { q, k } = moderatePair(rng, d);
    const want = Math.exp(dot(q, k)), iidVar = kernelEstimateVariance(q, k, m);
    const got = estimates(q, k, m, N, rng, true);
    // The iid standard error bounds the orthogonal one.
    assert.ok(Math.abs(got.mean - want) < 4 * Math.sqrt(iidVar / N), `case ${c}: mean ${got.mean} vs ${want}`);
    const relTol = 4 * sampleVarianceSE(q, k, m, N) / iidVar;
    assert.ok(got.variance <= iidVar * (1 + relTol), `case ${c}: orthogonal variance ${got.variance} > iid ${iidVar}`);
  }
});

test('randomFeatures: shapes, orthogonal blocks of d, marginally N(0, I)', () => {
  const rng = new Rng(33);
  const f = randomFeatures(10, 4, rng, { orthogonal: true });
  assert.is(f.omega.length, 40);
  assert.is(f.orthogonal, true);
  const row = (i: number) => f.omega.subarray(i * 4, i * 4 + 4);
  const blocks = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]];
  for (const b of blocks) for (const i of b) for (const j of b) {
    if (i < j) assert.ok(Math.abs(dot(row(i), row(j))) < 1e-12 * Math.sqrt(dot(row(i), row(i)) * dot(row(j), row(j))), `rows ${i}, ${j}`);
  }
  // Different blocks are independent, so not orthogonal; lengths are drawn, not all equal.
  assert.ok(Math.abs(dot(row(0), row(4))) > 1e-6);
  assert.ok(Math.abs(dot(row(0), row(0)) - dot(row(1), row(1))) > 1e-6);
  // E|ω|² = d and E ω_c² = 1 for both kinds (Var|ω|² = 2d, so over 8,000 rows the SE of the mean is 0.03).
  for (const orthogonal of [false, true]) {
    let sq = 0, first = 0, rows = 0;
    for (let t = 0; t < 2000; t++) {
      const g = randomFeatures(4, 4, rng, { orthogonal });
      for (let i = 0; i < 4; i++) { const r = g.omega.subarray(i * 4, i * 4 + 4); sq += dot(r, r); first += r[0] * r[0]; rows++; }
    }
    close(sq / rows, 4, 0.04, `E|ω|² (${orthogonal ? 'orthogonal' : 'iid'})`);
    close(first / rows, 1, 0.08, `E ω_0² (${orthogonal ? 'orthogonal' : 'iid'})`);
  }
  // Seeded: the same generator state gives the same features.
  assert.equal(Array.from(randomFeatures(5, 3, new Rng(7)).omega), Array.from(randomFeatures(5, 3, new Rng(7)).omega));
});

test('theorem31Pair: rhs is the first-order change of kernelEstimate (finite differences)', () => {
  const rng = new Rng(34), d = 8;
  for (let c = 0; c < 4; c++) {
    const f = randomFeatures(16, d, rng, { orthogonal: c % 2 === 1 });
    const [q, k, dq, dk] = [0.4, 0.4, 0.3, 0.3].map((s) => gaussian(rng, d).map((x) => x * s));
    const { rhs } = theorem31Pair(q, k, dq, dk, f);
    const base = kernelEstimate(q, k, f);
    const err = [1e-2, 1e-3, 1e-4].map((h) => {
      const moved = kernelEstimate(q.map((x, i) => x + h * dq[i]), k.map((x, i) => x + h * dk[i]), f);
      return Math.abs(Math.abs(moved - base) / h - rhs);
    });
    // First order: the error is h·(second-order term), so it shrinks tenfold with h.
    for (const i of [0, 1]) {
      const shrink = err[i] / err[i + 1];
      assert.ok(shrink > 7 && shrink < 13, `case ${c}: errors ${err} shrink by ${shrink}, not ~10`);
    }
    assert.ok(err[2] < 1e-3 * rhs, `case ${c}: error ${err[2]} at h = 1e-4 vs rhs ${rhs}`);
  }
});

test('theorem31Head equals theorem31Pair on d^(-1/4)-scaled rows; pair subsets', () => {
  const rng = new Rng(35), n = 3, keys = 4, d = 8, s = d ** -0.25;
  const f = randomFeatures(6, d, rng);
  const mat = (rows: number, scale: number) => Float32Array.from({ length: rows * d }, () => Math.fround(scale * rng.normal()));
  const Q = mat(n, 1), K = mat(keys, 1), dQ = mat(n, 0.2), dK = mat(keys, 0.2);
  const A = Float64Array.from({ length: n * keys }, () => rng.next()), Aadv = A.map((a) => a + rng.uniform(-0.1, 0.1));
  const row = (x: ArrayLike<number>, r: number) => Array.from({ length: d }, (_, c) => s * x[r * d + c]);
  const full = theorem31Head({ Q, K, dQ, dK, A, Aadv, n, m: keys, d, features: f });
  assert.equal(Array.from(full.index), Array.from({ length: n * keys }, (_, i) => i));
  for (let j = 0; j < n; j++) for (let l = 0; l < keys; l++) {
    const p = j * keys + l;
    close(full.rhs[p], theorem31Pair(row(Q, j), row(K, l), row(dQ, j), row(dK, l), f).rhs, 1e-12, `rhs (${j}, ${l})`);
    assert.is(full.lhs[p], Math.abs(Aadv[p] - A[p]));
  }
  const sub = theorem31Head({ Q, K, dQ, dK, A, Aadv, n, m: keys, d, features: f, pairs: 5, rng: new Rng(1) });
  assert.is(sub.index.length, 5);
  assert.ok(sub.index.every((v, i) => v >= 0 && v < n * keys && (i === 0 || v > sub.index[i - 1])), `${sub.index}`);
  sub.index.forEach((p, i) => { assert.is(sub.rhs[i], full.rhs[p]); assert.is(sub.lhs[i], full.lhs[p]); });
  const again = theorem31Head({ Q, K, dQ, dK, A, Aadv, n, m: keys, d, features: f, pairs: 5, rng: new Rng(1) });
  assert.equal(Array.from(again.index), Array.from(sub.index));
  // Every pair is about equally likely: 3,000 subsets of 5 out of 12, each pair ~1,250 times.
  const hits = new Array(n * keys).fill(0), pick = new Rng(2);
  for (let t = 0; t < 3000; t++) for (const p of theorem31Head({ Q, K, dQ, dK, A, Aadv, n, m: keys, d, features: f, pairs: 5, rng: pick }).index) hits[p]++;
  assert.ok(hits.every((h) => h > 1100 && h < 1400), `${hits}`);
  assert.is(theorem31Head({ Q, K, dQ, dK, A, Aadv, n, m: keys, d, features: f, pairs: 100 }).index.length, n * keys);
});

test('a 2-token head worked by hand', () => {
  // d = 2, two features given explicitly.
  const f: RandomFeatures = { m: 2, d: 2, omega: Float64Array.from([1, 0, 0.5, -1]), orthogonal: false };
  // Scaled rows (what theorem31Head should make of the raw ones below).
  const q0 = [0.5, 0], q1 = [0, 0.4], k0 = [0.2, 0.2], k1 = [0, 0.5];
  const dq0 = [0.1, 0], dq1 = [0, -0.1], dk0 = [0.05, 0], dk1 = [0, -0.2];
  const A = [0.7, 0.3, 0.6, 0.4], Aadv = [0.55, 0.45, 0.5, 0.5];

  // Pair (0, 1): q + k = (0.5, 0.5); ω_0·(q+k) = 0.5, ω_1·(q+k) = 0.5·0.5 − 0.5 = −0.25.
  const B01 = Math.exp(0.5) + Math.exp(-0.25);
  const Y01 = [Math.exp(0.5) * 1 + Math.exp(-0.25) * 0.5, Math.exp(0.5) * 0 + Math.exp(-0.25) * -1];
  const gamma01 = Math.exp(-(0.25 + 0.25) / 2) / 2;
  const inner01 = (Y01[0] - B01 * 0.5) * 0.1 + (Y01[1] - B01 * 0) * 0 + (Y01[0] - B01 * 0) * 0 + (Y01[1] - B01 * 0.5) * -0.2;
  const rhs01 = gamma01 * Math.abs(inner01);
  close(rhs01, 0.075 * Math.exp(0.25) + 0.15 * Math.exp(-0.5), 1e-14, 'hand simplification (0, 1)');
  close(rhs01, 0.18728150520848, 1e-12, 'rhs (0, 1) by hand');
  const lhs01 = Math.abs(0.45 - 0.3); // 0.15 < 0.187: the bound fails for this pair.
  const p01 = theorem31Pair(q0, k1, dq0, dk1, f);
  close(p01.B, B01, 1e-15, 'B (0, 1)');
  close(p01.Y[0], Y01[0], 1e-15, 'Y_0 (0, 1)');
  close(p01.Y[1], Y01[1], 1e-15, 'Y_1 (0, 1)');
  close(p01.gamma, gamma01, 1e-15, 'gamma (0, 1)');
  close(p01.rhs, rhs01, 1e-14, 'rhs (0, 1)');
  close(kernelEstimate(q0, k1, f), gamma01 * B01, 1e-14, 'estimate (0, 1)');
  assert.ok(!(lhs01 >= p01.rhs));

  // Pair (1, 0): q + k = (0.2, 0.6); ω_0·(q+k) = 0.2, ω_1·(q+k) = 0.1 − 0.6 = −0.5.
  const B10 = Math.exp(0.2) + Math.exp(-0.5);
  const Y10 = [Math.exp(0.2) + Math.exp(-0.5) * 0.5, -Math.exp(-0.5)];
  const gamma10 = Math.exp(-(0.16 + 0.08) / 2) / 2;
  const inner10 = (Y10[0] - B10 * 0) * 0 + (Y10[1] - B10 * 0.4) * -0.1 + (Y10[0] - B10 * 0.2) * 0.05 + (Y10[1] - B10 * 0.2) * 0;
  const rhs10 = gamma10 * Math.abs(inner10);
  close(rhs10, Math.exp(-0.12) / 2 * (0.08 * Math.exp(0.2) + 0.155 * Math.exp(-0.5)), 1e-14, 'hand simplification (1, 0)');
  close(rhs10, 0.08502217662059, 1e-12, 'rhs (1, 0) by hand');
  const lhs10 = Math.abs(0.5 - 0.6); // 0.1 >= 0.085: the bound holds for this pair.
  const p10 = theorem31Pair(q1, k0, dq1, dk0, f);
  close(p10.B, B10, 1e-15, 'B (1, 0)');
  close(p10.Y[0], Y10[0], 1e-15, 'Y_0 (1, 0)');
  close(p10.Y[1], Y10[1], 1e-15, 'Y_1 (1, 0)');
  close(p10.gamma, gamma10, 1e-15, 'gamma (1, 0)');
  close(p10.rhs, rhs10, 1e-14, 'rhs (1, 0)');
  assert.ok(lhs10 >= p10.rhs);

  // Through theorem31Head: raw rows are the scaled ones times d^(1/4) = 2^(1/4); pair (j, l) sits at j·2 + l.
  const r = 2 ** 0.25;
  const head = theorem31Head({
    Q: [0.5 * r, 0, 0, 0.4 * r], K: [0.2 * r, 0.2 * r, 0, 0.5 * r],
    dQ: [0.1 * r, 0, 0, -0.1 * r], dK: [0.05 * r, 0, 0, -0.2 * r],
    A, Aadv, n: 2, d: 2, features: f,
  });
  close(head.rhs[1], rhs01, 1e-13, 'head rhs (0, 1)');
  close(head.rhs[2], rhs10, 1e-13, 'head rhs (1, 0)');
  close(head.lhs[1], lhs01, 1e-13, 'head lhs (0, 1)');
  close(head.lhs[2], lhs10, 1e-13, 'head lhs (1, 0)');
  close(head.rhs[0], theorem31Pair(q0, k0, dq0, dk0, f).rhs, 1e-13, 'head rhs (0, 0)');
  close(head.rhs[3], theorem31Pair(q1, k1, dq1, dk1, f).rhs, 1e-13, 'head rhs (1, 1)');
  const sum = boundSummary(head.lhs, head.rhs);
  const holding = [0, 1, 2, 3].filter((p) => head.lhs[p] >= head.rhs[p]).length;
  assert.is(sum.pairs, 4);
  assert.is(sum.holds, holding / 4);
  assert.ok(sum.holds > 0 && sum.holds < 1, 'pair (0, 1) fails and (1, 0) holds');
});

test('quantiles, median, mean, pearson, cosine, boundSummary', () => {
  assert.equal(quantiles([3, 1, 2, 4], [0, 0.25, 0.5, 1]), [1, 1.75, 2.5, 4]);
  assert.is(median([5, 1, 3]), 3);
  assert.is(median(Float32Array.from([4, 1, 3, 2])), 2.5);
  assert.is(mean([1, 2, 6]), 3);
  // x = (1, 2, 3), y = (2, 4, 7): Sxy = 5, Sxx = 2, Syy = 114/9.
  close(pearson([1, 2, 3], [2, 4, 7]), 5 / Math.sqrt(2 * 114 / 9), 1e-14, 'pearson');
  close(pearson([1, 2, 3], [6, 4, 2]), -1, 1e-14, 'pearson, anticorrelated');
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  assert.ok(Number.isNaN(pearson([1, 2, 3], [2, 2, 2])));
  close(cosine([1, 0], [1, 1]), Math.SQRT1_2, 1e-15, 'cosine');
  assert.ok(Number.isNaN(cosine([0, 0], [1, 1])));
  // rhs = 0 holds and stays out of the ratios; ratios 0.5, 2, 5.
  const s = boundSummary([1, 2, 0, 5], [2, 1, 0, 1]);
  assert.is(s.pairs, 4);
  assert.is(s.holds, 0.75);
  close(s.ratio.median, 2, 1e-15, 'median ratio');
  close(s.ratio.q05, 0.5 + 0.1 * 1.5, 1e-14, 'q05 ratio');
  close(s.ratio.q25, 0.5 + 0.5 * 1.5, 1e-14, 'q25 ratio');
  close(s.ratio.q75, 2 + 0.5 * 3, 1e-14, 'q75 ratio');
  close(s.ratio.q95, 2 + 0.9 * 3, 1e-14, 'q95 ratio');
  assert.ok(Number.isNaN(boundSummary([1], [0]).ratio.median));
  assert.ok(THEOREM_CONVENTIONS.includes('d_h^(-1/4)') && THEOREM_CONVENTIONS.includes('Theorem 3.2'));
});

test('theorem32Summary on hand-made data', () => {
  // T = 2. slack = La − L/2 = (0.1, 0.6, 0.9, 1.6); Σ_t amv2 = (0, 1, 2, 3); 2T·slack = (0.4, 2.4, 3.6, 6.4).
  const La = [0.6, 1.0, 1.2, 1.8], L = [1, 0.8, 0.6, 0.4], amv2 = [[0, 0], [0.25, 0.75], [1, 1], [2, 1]];
  const s = theorem32Summary(La, L, amv2);
  assert.is(s.images, 4);
  assert.is(s.layers, 2);
  [0.1, 0.6, 0.9, 1.6].forEach((v, i) => close(s.slack[i], v, 1e-14, `slack ${i}`));
  assert.equal(s.amvSum, [0, 1, 2, 3]);
  assert.is(s.holdsWithZeroOffset, true);
  // min over Σ amv2 > 0 of 2T·slack/Σ amv2 = min(2.4/1, 3.6/2, 6.4/3) = 1.8.
  close(s.cMaxNoOffset as number, 1.8, 1e-14, 'cMax');
  // x̄ = 1.5, ȳ = 3.2; Sxy = (−1.5)(−2.8) + (−0.5)(−0.8) + 0.5·0.4 + 1.5·3.2 = 9.6; Sxx = 5; slope 1.92.
  close(s.lsSlope, 1.92, 1e-14, 'slope');
  assert.is(s.lsC, s.lsSlope);
  // c = max_i (1.92·x_i − y_i)/2 = max(−0.2, −0.24, 0.12, −0.32) = 0.12.
  close(s.offsetAtLsC, 0.12, 1e-13, 'offset');
  close(theorem32OffsetNeeded(La, L, amv2, 1.92), 0.12, 1e-13, 'offsetNeeded');
  // At C = cMax no offset is needed (up to rounding: the third image holds with equality).
  assert.ok(theorem32OffsetNeeded(La, L, amv2, 1.8) < 1e-14);
  close(theorem32OffsetNeeded(La, L, amv2, 3), (3 * 3 - 6.4) / 2, 1e-14, 'offsetNeeded at C = 3');
  // With C = 1.92 and c = 0.12 the inequality holds on every image, with equality on the third.
  s.slack.forEach((sl, i) => assert.ok(La[i] >= L[i] / 2 + (1.92 * s.amvSum[i] - 2 * 0.12) / 4 - 1e-12, `image ${i}`));
  // Syy of slack = 18.88/16, Sxy = 9.6/4.
  close(s.pearson, 9.6 / Math.sqrt(5 * 18.88), 1e-14, 'pearson');
  close(s.batch.meanLa, 1.15, 1e-14, 'meanLa');
  close(s.batch.meanL, 0.7, 1e-14, 'meanL');
  assert.is(s.batch.holdsWithZeroConstants, true);
  // 2T·mean slack / mean Σ amv2 = 4·0.8/1.5.
  close(s.batch.cMax as number, 4 * 0.8 / 1.5, 1e-14, 'batch cMax');

  // A negative slope: slack falls as AMV² grows. slack = (0.5, 0.6, 0.3), Σ amv2 = (0.4, 0.4, 0.5).
  const t = theorem32Summary([1.0, 0.8, 0.9], [1.0, 0.4, 1.2], [[0.1, 0.3], [0.2, 0.2], [0, 0.5]]);
  close(t.cMaxNoOffset as number, 2.4, 1e-14, 'cMax (min of 5, 6, 2.4)');
  close(t.lsSlope, -10, 1e-12, 'negative slope');
  assert.is(t.lsC, 0);
  assert.is(t.offsetAtLsC, 0);
  // dx = (−1, −1, 2)/30, dy = (2, 8, −10)/15: r = −(1/15)/√((1/150)(168/225)) = −√(25/28).
  close(t.pearson, -Math.sqrt(25 / 28), 1e-13, 'pearson (negative)');

  // Failing: the second image's attacked loss is below half its clean loss, so no C >= 0 works with c = 0.
  const u = theorem32Summary([1.0, 0.1, 0.9], [1.0, 0.8, 1.2], [[0.1, 0.3], [0.2, 0.2], [0, 0.5]]);
  close(u.slack[1], -0.3, 1e-14, 'negative slack');
  assert.is(u.holdsWithZeroOffset, false);
  assert.is(u.cMaxNoOffset, null);
  assert.is(u.batch.holdsWithZeroConstants, true); // mean La 2/3 >= mean L/2 = 0.5
  const w = theorem32Summary([0.2, 0.1], [1, 0.8], [[1], [2]]);
  assert.is(w.batch.holdsWithZeroConstants, false); // mean La 0.15 < 0.45
  assert.is(w.batch.cMax, null);
  // With C = 0 the offset must cover the worst slack: T = 1, slack = (−0.3, −0.3), c = max_i(−2T·slack_i)/T = 0.6.
  close(theorem32OffsetNeeded([0.2, 0.1], [1, 0.8], [[1], [2]], 0), 0.6, 1e-14, 'offset for C = 0');
  // No image with AMV²: any C works.
  assert.is(theorem32Summary([1, 1], [1, 1], [[0], [0]]).cMaxNoOffset, Infinity);
});

test('input validation names the argument', () => {
  const rng = new Rng(36);
  const f = randomFeatures(3, 2, rng);
  throwsLike(() => randomFeatures(0, 2, rng), /randomFeatures: m must be a positive integer, got 0/);
  throwsLike(() => randomFeatures(3, 1.5, rng), /randomFeatures: d must be a positive integer, got 1\.5/);
  throwsLike(() => kernelEstimate([1, 2, 3], [1, 2], f), /kernelEstimate: q has length 3, expected 2/);
  throwsLike(() => kernelEstimate([1, 2], [1], f), /kernelEstimate: k has length 1, expected 2/);
  throwsLike(() => kernelEstimateVariance([1, 2], [1, 2], 0), /kernelEstimateVariance: m must be a positive integer/);
  throwsLike(() => kernelEstimateVariance([1, 2], [1], 4), /kernelEstimateVariance: k has length 1/);
  throwsLike(() => theorem31Pair([1, 2], [1, 2], [1], [1, 2], f), /theorem31Pair: dq has length 1/);
  throwsLike(() => theorem31Pair([1, 2], [1, 2], [1, 2], [1, 2, 3], f), /theorem31Pair: dk has length 3/);
  throwsLike(() => kernelEstimate([1, 2], [1, 2], { ...f, omega: new Float64Array(5) }), /features\.omega has length 5, expected 6/);
  const head = { Q: [1, 2, 3, 4], K: [1, 2, 3, 4], dQ: [0, 0, 0, 0], dK: [0, 0, 0, 0], A: [1, 0, 0, 1], Aadv: [1, 0, 0, 1], n: 2, d: 2, features: f };
  theorem31Head(head);
  throwsLike(() => theorem31Head({ ...head, Q: [1, 2, 3] }), /theorem31Head: Q has length 3, expected 4 \(n × d = 2 × 2\)/);
  throwsLike(() => theorem31Head({ ...head, dK: [1, 2] }), /theorem31Head: dK has length 2/);
  throwsLike(() => theorem31Head({ ...head, Aadv: [1, 0, 0] }), /theorem31Head: Aadv has length 3/);
  throwsLike(() => theorem31Head({ ...head, m: 3 }), /theorem31Head: K has length 4, expected 6 \(m × d = 3 × 2\)/);
  throwsLike(() => theorem31Head({ ...head, d: 4, Q: new Array(8).fill(0) }), /theorem31Head: features have dimension 2, but d is 4/);
  throwsLike(() => theorem31Head({ ...head, pairs: 0 }), /theorem31Head: pairs must be a positive integer, got 0/);
  throwsLike(() => theorem31Head({ ...head, pairs: 2 }), /theorem31Head: pairs = 2 .* needs an rng/);
  throwsLike(() => quantiles([], [0.5]), /quantiles: values is empty/);
  throwsLike(() => quantiles([1], [1.5]), /quantiles: qs must lie in \[0, 1\], got 1\.5/);
  throwsLike(() => mean([]), /mean: values is empty/);
  throwsLike(() => pearson([1, 2], [1]), /pearson: y has length 1, expected 2/);
  throwsLike(() => cosine([], []), /cosine: x is empty/);
  throwsLike(() => boundSummary([1, 2], [1]), /boundSummary: rhs has length 1, expected 2/);
  throwsLike(() => boundSummary([1, NaN], [1, 1]), /boundSummary: lhs\[1\] is NaN/);
  throwsLike(() => theorem32Summary([1, 2], [1], [[1], [1]]), /theorem32Summary: L has length 1, expected 2/);
  throwsLike(() => theorem32Summary([1, 2], [1, 2], [[1]]), /theorem32Summary: amv2 has length 1, expected 2/);
  throwsLike(() => theorem32Summary([1, 2], [1, 2], [[1, 2], [1]]), /theorem32Summary: amv2\[1\] has length 1, expected 2/);
  throwsLike(() => theorem32Summary([1], [1], [[]]), /theorem32Summary: amv2\[0\] is empty/);
  throwsLike(() => theorem32Summary([1], [1], [[-1]]), /theorem32Summary: amv2\[0\]\[0\] = -1/);
  throwsLike(() => theorem32Summary([NaN], [1], [[1]]), /theorem32Summary: La\[0\] = NaN/);
  throwsLike(() => theorem32Summary([], [], []), /theorem32Summary: La is empty/);
  throwsLike(() => theorem32OffsetNeeded([1], [1], [[1]], -1), /theorem32OffsetNeeded: C must be a finite number >= 0, got -1/);
});

test.run();
