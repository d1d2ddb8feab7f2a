import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, arr, type Arr, checkForward, checkGrad, upload, download, normRelErr, finiteDiff } from '../harness.js';
import * as SJ from '../../src/engine/ops/softmax_jacobian.js';
import * as R from '../../src/engine/reference/softmax_jacobian.js';
import { softmax as refSoftmax } from '../../src/engine/reference/softmax.js';
import { asyncScope, type Tensor } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';
import { engine } from '../../src/engine/engine.js';
import { setTuning, type ShiftTiling } from '../../src/engine/tuning.js';

await setup();
const rng = new Rng(8642);
const test = suite('softmax_jacobian');
const IMPLS = ['fused', 'composed'] as const;

const f32 = (a: Arr): Arr => arr(a.shape, a.data.map(Math.fround));
/** Row-stochastic A: the softmax of random scores, rounded to f32 as the GPU sees it. */
const probs = (shape: number[]): Arr => f32(refSoftmax(rand(rng, shape, { lo: -4, hi: 4 })));
/** Q, K [B, H, N, d] and A = softmax(Q Kᵀ/√d) (the attention the shift is taken at). */
function attn(B: number, H: number, N: number, d: number, M = N): { Q: Arr; K: Arr; A: Arr } {
  const Q = rand(rng, [B, H, N, d], { lo: -1.5, hi: 1.5 }), K = rand(rng, [B, H, M, d], { lo: -1.5, hi: 1.5 });
  return { Q, K, A: f32(R.attention(Q, K, 1 / Math.sqrt(d))) };
}

// MAE shapes (kept small) and odd sizes; rank 1 and 2 for the row kernels' generality.
const MAPS = [[1, 3, 17, 17], [2, 3, 65, 65], [1, 3, 5, 5], [2, 3, 33, 33], [7], [3, 1], [2, 3, 4, 9]];

test('rows of A sum to 1 (the inputs are real attention probabilities)', () => {
  const A = probs([2, 3, 33, 33]);
  for (let r = 0; r < 2 * 3 * 33; r++) {
    let s = 0;
    for (let j = 0; j < 33; j++) s += A.data[r * 33 + j];
    assert.ok(Math.abs(s - 1) < 1e-6, `row ${r} sums to ${s}`);
  }
});

for (const name of ['softmaxJvp', 'softmaxVjp'] as const) {
  test(`${name}: fused and composed equal the float64 reference; gradients to both inputs`, async () => {
    for (const impl of IMPLS) {
      for (const shape of MAPS) {
        await checkForward({
          name: `${name} ${impl}`, inputs: [probs(shape), rand(rng, shape)], metric: 'norm', tol: 1e-5,
          gpu: (A, V) => SJ[name](A, V, { impl }), ref: R[name],
        });
      }
      for (const shape of [[2, 5], [1, 3, 5, 5], [4, 1]]) {
        await checkGrad({ name: `${name} ${impl}`, inputs: [probs(shape), rand(rng, shape)], gpu: (A, V) => SJ[name](A, V, { impl }), ref: R[name] }, rng);
      }
    }
  });
}

// [B, H, N, d] with the key count M; d = 5 exercises the zero padding of the packed operands.
const SHIFTS: [number, number, number, number, number?][] = [
  [1, 3, 17, 16], [2, 3, 65, 64], [1, 3, 5, 16], [2, 3, 33, 64], [1, 3, 65, 16], [1, 2, 7, 5, 9], [2, 1, 1, 3, 6], [1, 1, 4, 8, 1],
];

test('attentionShift: fused and composed equal the float64 reference', async () => {
  for (const impl of IMPLS) {
    for (const [B, H, N, d, M] of SHIFTS) {
      const { Q, K, A } = attn(B, H, N, d, M);
      const dQ = rand(rng, Q.shape), dK = rand(rng, K.shape);
      await checkForward({
        name: `attentionShift ${impl}`, inputs: [Q, K, dQ, dK, A], metric: 'norm', tol: 1e-4,
        gpu: (q, k, dq, dk, a) => SJ.attentionShift(q, k, dq, dk, a, { impl }), ref: (q, k, dq, dk, a) => R.attentionShift(q, k, dq, dk, a),
      });
    }
    // An explicit scale.
    const { Q, K, A } = attn(1, 2, 9, 8);
    await checkForward({
      name: `attentionShift ${impl} scale 0.3`, inputs: [Q, K, rand(rng, Q.shape), rand(rng, K.shape), A], metric: 'norm', tol: 1e-4,
      gpu: (q, k, dq, dk, a) => SJ.attentionShift(q, k, dq, dk, a, { impl, scale: 0.3 }), ref: (q, k, dq, dk, a) => R.attentionShift(q, k, dq, dk, a, 0.3),
    });
  }
});

test('the large end of the MAE shapes: N = 257 (16×16 patches + class token), d = 128, H = 12, B = 64', async () => {
  // The default splits at the sizes of an ImageNet-scale MAE and a CIFAR batch, against float64.
  for (const impl of IMPLS) {
    for (const shape of [[1, 12, 257, 257], [64, 3, 17, 17]]) {
      for (const name of ['softmaxJvp', 'softmaxVjp'] as const) {
        await checkForward({ name: `${name} ${impl} [${shape}]`, inputs: [probs(shape), rand(rng, shape)], metric: 'norm', tol: 1e-5, gpu: (A, V) => SJ[name](A, V, { impl }), ref: R[name] });
      }
      await checkForward({ name: `amvLoss ${impl} [${shape}]`, inputs: [probs(shape), probs(shape)], metric: 'norm', tol: 1e-5, gpu: (a, b) => SJ.amvLoss(a, b, { impl }), ref: R.amvLoss });
    }
    for (const [B, H, N, d] of [[1, 2, 257, 128], [1, 12, 65, 64], [64, 3, 17, 16]]) {
      const { Q, K, A } = attn(B, H, N, d);
      await checkForward({
        name: `attentionShift ${impl} [${B}, ${H}, ${N}, ${d}]`, inputs: [Q, K, rand(rng, Q.shape), rand(rng, K.shape), A], metric: 'norm', tol: 1e-4,
        gpu: (q, k, dq, dk, a) => SJ.attentionShift(q, k, dq, dk, a, { impl }), ref: (q, k, dq, dk, a) => R.attentionShift(q, k, dq, dk, a),
      });
    }
  }
});

test('attentionShift: every work split and both operand layouts (packed, direct)', async () => {
  // The adapters' defaults run above; these are the other blockings, ragged ends included.
  const splits: ShiftTiling[] = [
    { tr: 8, tc4: 4, wg: 8, packed: true }, { tr: 16, tc4: 4, wg: 8 }, { tr: 2, tc4: 1, wg: 64 },
    { tr: 3, tc4: 2, wg: 4 }, { tr: 1, tc4: 1, wg: 1, packed: true },
  ];
  try {
    for (const t of splits) {
      setTuning({ shift: t });
      for (const [B, H, N, d, M] of [[1, 3, 17, 16], [2, 1, 33, 8, 21], [1, 2, 5, 4, 70]]) {
        const { Q, K, A } = attn(B, H, N, d, M);
        await checkForward({
          name: `attentionShift ${JSON.stringify(t)}`, inputs: [Q, K, rand(rng, Q.shape), rand(rng, K.shape), A], metric: 'norm', tol: 1e-4,
          gpu: (q, k, dq, dk, a) => SJ.attentionShift(q, k, dq, dk, a), ref: (q, k, dq, dk, a) => R.attentionShift(q, k, dq, dk, a),
        });
      }
    }
  } finally {
    setTuning({ shift: undefined });
  }
});

test('attentionShift is the directional derivative of softmax(Q Kᵀ/√d) (finite differences in float64)', async () => {
  for (const [B, H, N, d] of [[1, 3, 17, 16], [2, 3, 33, 64], [1, 3, 5, 16]]) {
    const { Q, K, A } = attn(B, H, N, d);
    const dQ = rand(rng, Q.shape, { lo: -1, hi: 1 }), dK = rand(rng, K.shape, { lo: -1, hi: 1 });
    const scale = 1 / Math.sqrt(d);
    const h = 1e-4;
    const S = R.scores(Q, K, scale), dS = R.scoreShift(Q, K, dQ, dK, scale);
    const at = (t: number): Arr => refSoftmax(arr(S.shape, S.data.map((v, i) => v + t * dS.data[i])));
    const p = at(h), m = at(-h);
    const fdScores = p.data.map((v, i) => (v - m.data[i]) / (2 * h));
    // The same derivative taken through Q and K themselves: A(Q + t dQ, K + t dK).
    const shifted = (t: number): Arr => R.attention(arr(Q.shape, Q.data.map((v, i) => v + t * dQ.data[i])), arr(K.shape, K.data.map((v, i) => v + t * dK.data[i])), scale);
    const p2 = shifted(h), m2 = shifted(-h);
    const fdQK = p2.data.map((v, i) => (v - m2.data[i]) / (2 * h));
    for (const impl of IMPLS) {
      await asyncScope(async () => {
        const got = await download(SJ.attentionShift(upload(Q), upload(K), upload(dQ), upload(dK), upload(A), { impl }));
        const e1 = normRelErr(got.data, fdScores), e2 = normRelErr(got.data, fdQK);
        assert.ok(e1 < 2e-4, `${impl} [${Q.shape}]: off the softmax(S ± h dS) difference by ${e1.toExponential(2)}`);
        assert.ok(e2 < 2e-4, `${impl} [${Q.shape}]: off the A(Q ± h dQ, K ± h dK) difference by ${e2.toExponential(2)}`);
      });
    }
  }
});

test('attentionShift: gradients to Q, K, dQ, dK and A by finite differences', async () => {
  for (const impl of IMPLS) {
    for (const [B, H, N, d, M] of [[1, 2, 5, 3, 5], [2, 1, 3, 4, 6]]) {
      const { Q, K, A } = attn(B, H, N, d, M);
      await checkGrad({
        name: `attentionShift ${impl}`, inputs: [Q, K, rand(rng, Q.shape), rand(rng, K.shape), A],
        gpu: (q, k, dq, dk, a) => SJ.attentionShift(q, k, dq, dk, a, { impl }), ref: (q, k, dq, dk, a) => R.attentionShift(q, k, dq, dk, a),
      }, rng);
    }
  }
});

test('amvLoss: per-map values, the scalar sum, and gradients to A and Aref', async () => {
  for (const impl of IMPLS) {
    for (const shape of [[1, 3, 17, 17], [2, 3, 65, 65], [2, 3, 5, 5], [1, 3, 33, 33], [4, 6], [2, 3, 1, 7]]) {
      await checkForward({ name: `amvLoss ${impl}`, inputs: [probs(shape), probs(shape)], metric: 'norm', tol: 1e-5, gpu: (a, b) => SJ.amvLoss(a, b, { impl }), ref: R.amvLoss });
    }
    await checkForward({
      name: `amvLossSum ${impl}`, inputs: [probs([2, 3, 9, 9]), probs([2, 3, 9, 9])], metric: 'norm', tol: 1e-5,
      gpu: (a, b) => SJ.amvLossSum(a, b, { impl }), ref: (a, b) => arr([], [R.amvLoss(a, b).data.reduce((s, v) => s + v, 0)]),
    });
    for (const shape of [[2, 3, 5, 5], [3, 4]]) {
      await checkGrad({ name: `amvLoss ${impl}`, inputs: [probs(shape), probs(shape)], gpu: (a, b) => SJ.amvLoss(a, b, { impl }), ref: R.amvLoss }, rng);
    }
  }
  // The scalar sum backpropagates G = 2(A − Aref).
  await asyncScope(async () => {
    const A = probs([1, 2, 6, 6]), B = probs([1, 2, 6, 6]);
    const a = upload(A).requireGrad();
    backward(SJ.amvLossSum(a, upload(B)));
    const g = await download(a.grad!);
    assert.ok(normRelErr(g.data, A.data.map((v, i) => 2 * (v - B.data[i]))) < 1e-6, 'gradient of the summed loss is 2(A − Aref)');
  });
});

/** Σ over maps of the float64 AMV of softmax(Q Kᵀ·scale), differentiated by central differences. */
function fdAmvQK(Q: Arr, K: Arr, Aref: Arr, scale: number): [Float64Array, Float64Array] {
  const ref = (q: Arr, k: Arr): Arr => R.amvLossQK(q, k, Aref, scale);
  const ones = arr(Q.shape.slice(0, -2), new Float64Array(Q.shape.slice(0, -2).reduce((a, b) => a * b, 1)).fill(1));
  return [finiteDiff(ref, [Q, K], 0, ones), finiteDiff(ref, [Q, K], 1, ones)];
}

test('amvGradQK: loss, dQ, dK against the float64 chain rule and finite differences of the loss', async () => {
  for (const impl of IMPLS) {
    for (const [B, H, N, d, M, scale] of [[1, 3, 17, 16], [2, 3, 65, 64], [1, 3, 5, 16], [2, 3, 33, 64], [1, 2, 7, 5, 9, 0.7]]) {
      const { Q, K } = attn(B, H, N, d, M);
      const Aref = probs([B, H, N, M ?? N]);
      const want = R.amvGradQK(Q, K, Aref, scale ?? 1 / Math.sqrt(d));
      await asyncScope(async () => {
        const got = SJ.amvGradQK(upload(Q), upload(K), upload(Aref), { impl, scale });
        assert.equal([...got.loss.shape], [B, H]);
        const tag = `amvGradQK ${impl} [${Q.shape}]`;
        for (const [k, tol] of [['loss', 1e-5], ['dQ', 1e-4], ['dK', 1e-4]] as const) {
          const e = normRelErr((await download(got[k])).data, want[k].data);
          assert.ok(e < tol, `${tag}: ${k} off the float64 reference by ${e.toExponential(2)}`);
        }
      });
    }
    // Finite differences of the float64 loss as a function of Q and K (small shapes: each entry costs two evaluations).
    for (const [B, H, N, d, M] of [[1, 3, 5, 4, 5], [2, 1, 6, 3, 4]]) {
      const { Q, K } = attn(B, H, N, d, M);
      const Aref = probs([B, H, N, M]);
      const scale = 1 / Math.sqrt(d);
      const [fq, fk] = fdAmvQK(Q, K, Aref, scale);
      await asyncScope(async () => {
        const got = SJ.amvGradQK(upload(Q), upload(K), upload(Aref), { impl });
        const eq = normRelErr((await download(got.dQ)).data, fq), ek = normRelErr((await download(got.dK)).data, fk);
        assert.ok(eq < 1e-4 && ek < 1e-4, `amvGradQK ${impl} [${Q.shape}]: dQ off by ${eq.toExponential(2)}, dK by ${ek.toExponential(2)} from finite differences`);
      });
    }
  }
});

test('the module switch and the per-call impl choose the path', async () => {
  await asyncScope(async () => {
    const A = upload(probs([2, 5])).requireGrad(), V = upload(rand(rng, [2, 5]));
    const opOf = (t: Tensor): string | undefined => t.node?.op;
    assert.is(opOf(SJ.softmaxJvp(A, V)), 'softmaxJvp');
    const prev = SJ.setSoftmaxJacobianImpl('composed');
    try {
      assert.is(SJ.softmaxJacobianImpl(), 'composed');
      assert.is(opOf(SJ.softmaxJvp(A, V)), 'mul');
      assert.is(opOf(SJ.softmaxVjp(A, V, { impl: 'fused' })), 'softmaxVjp');
    } finally {
      SJ.setSoftmaxJacobianImpl(prev);
    }
    assert.throws(() => SJ.setSoftmaxJacobianImpl('tiled' as never), /setSoftmaxJacobianImpl: unknown implementation 'tiled'/);
  });
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const A = upload(probs([1, 2, 5, 5])), Q = upload(rand(rng, [1, 2, 5, 4])), K = upload(rand(rng, [1, 2, 6, 4]));
    assert.throws(() => SJ.softmaxJvp(A, upload(rand(rng, [1, 2, 5, 4]))), /softmaxJvp: A \[1, 2, 5, 5\] and dS \[1, 2, 5, 4\] must have the same shape/);
    assert.throws(() => SJ.softmaxVjp(A, upload(rand(rng, [5, 5]))), /softmaxVjp: A \[1, 2, 5, 5\] and G \[5, 5\] must have the same shape/);
    assert.throws(() => SJ.attentionShift(Q, K, Q, K, A), /attentionShift: A \[1, 2, 5, 5\] must have shape \[1, 2, 5, 6\]/);
    assert.throws(() => SJ.attentionShift(Q, upload(rand(rng, [1, 2, 6, 3])), Q, K, A), /attentionShift: Q \[1, 2, 5, 4\] and K \[1, 2, 6, 3\] must agree/);
    assert.throws(() => SJ.attentionShift(Q, K, K, K, A), /attentionShift: dQ \[1, 2, 6, 4\] must have the shape of Q \[1, 2, 5, 4\]/);
    assert.throws(() => SJ.amvLoss(A, upload(probs([1, 2, 5, 6]))), /amvLoss: A \[1, 2, 5, 5\] and Aref \[1, 2, 5, 6\] must have the same shape/);
    assert.throws(() => SJ.amvLoss(upload(probs([5])), upload(probs([5]))), /amvLoss: A must be \[\.\.\., N, M\] \(rank >= 2\), got \[5\]/);
    assert.throws(() => SJ.amvGradQK(Q, K, A), /amvGradQK: Aref \[1, 2, 5, 5\] must have shape \[1, 2, 5, 6\]/);
    assert.throws(() => SJ.softmaxJvp(A, A, { impl: 'tiled' as never }), /softmaxJvp: unknown impl 'tiled'/);
  });
});

test('forward and backward leave the pool where it started', async () => {
  const rt = engine().runtime;
  await rt.sync();
  const base = rt.stats();
  for (let step = 0; step < 6; step++) {
    const impl = IMPLS[step % 2];
    const { Q: q, K: k, A: a } = attn(1, 2, 5, 4, 6);
    const ts = [q, k, rand(rng, q.shape), rand(rng, k.shape), a].map((x) => upload(x).requireGrad());
    const ref = upload(probs([1, 2, 5, 6]));
    const dA = SJ.attentionShift(ts[0], ts[1], ts[2], ts[3], ts[4], { impl });
    const j = SJ.softmaxVjp(ts[4], dA, { impl });
    const l = SJ.amvLossSum(j, ref, { impl });
    backward(l);
    const g = SJ.amvGradQK(ts[0], ts[1], ref, { impl });
    for (const t of [...ts, ref, dA, j, l, g.loss, g.dQ, g.dK]) t.dispose();
  }
  await rt.sync();
  assert.is(rt.stats().bytesInUse, base.bytesInUse);
  assert.is(rt.stats().buffersInUse, base.buffersInUse);
});

test.run();
