import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng } from '../harness.js';
import { Tensor, asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { reshape } from '../../src/engine/ops/layout.js';
import { engine } from '../../src/engine/engine.js';
import { MAE } from '../../src/models/mae.js';
import type { Classifier } from '../../src/models/cnn.js';
import { createClassifier } from '../../src/models/classifiers.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import { loadCifar10 } from '../../src/data/cifar-fs.js';
import { MaeReconstruction } from '../../src/purify/loss.js';
import { purify, purifyConfig } from '../../src/purify/amrm.js';
import { assertInBall, parseEps, perturbationNorms, project } from '../../src/attacks/ball.js';
import { classifierTarget, lossAndGradient, logitsOf, margins, predictions, purifiedTarget, drawSeed } from '../../src/attacks/target.js';
import { pgd } from '../../src/attacks/pgd.js';
import { apgd } from '../../src/attacks/apgd.js';
import { square, squareP } from '../../src/attacks/square.js';
import { pgdKeep, robustAccuracy } from '../../src/eval/robust.js';
import { haveFiles, CIFAR_DIR, RESNET20 } from '../models/fixtures.js';

await setup();
const test = suite('attacks');
const rng = new Rng(77);

/** A linear classifier on [C, H, W] images: logits = x·W + b (fast, and gradients are exact). */
function linearClassifier(shape: [number, number, number], K: number, r: Rng): Classifier {
  const per = shape[0] * shape[1] * shape[2];
  const W = tensor(Float32Array.from({ length: per * K }, () => r.uniform(-1, 1)), [per, K]);
  const b = tensor(Float32Array.from({ length: K }, () => r.uniform(-0.1, 0.1)), [K]);
  return {
    arch: 'linear', numClasses: K, inputShape: shape,
    forward: (x: Tensor) => matmul(reshape(x, [x.shape[0], per]), W, { bias: b }),
    dispose: () => { W.dispose(); b.dispose(); },
  };
}

/** Images with labels set to the classifier's own predictions (so clean accuracy is 100%). */
async function labelled(c: Classifier, B: number, r: Rng): Promise<{ x: Float32Array; y: Int32Array }> {
  const per = c.inputShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: B * per }, () => r.uniform(0.1, 0.9));
  const y = predictions(await logitsOf(classifierTarget(c), x, B, 0), c.numClasses);
  return { x, y };
}

test('ball: projection, the check every attack runs, eps parsing', () => {
  const x = Float32Array.of(0, 0.5, 1, 0.25);
  const a = Float32Array.of(-0.2, 0.6, 0.95, 0.2);
  project(a, x, 2, 'linf', 0.05);
  // Bounds are rounded inwards to f32, so the projected values sit at most one f32 step inside.
  [0, 0.55, 0.95, 0.2].forEach((v, i) => assert.ok(Math.abs(a[i] - v) < 2e-7, `${a[i]} vs ${v}`));
  assertInBall('t', a, x, 2, 'linf', 0.05);
  assert.throws(() => assertInBall('pgd', Float32Array.of(0, 0.6, 1, 0.25), x, 2, 'linf', 0.05), /pgd: example 0 has a linf perturbation of 0\.1\d*, outside the ball of radius 0\.05/);
  assert.throws(() => assertInBall('sq', Float32Array.of(0, 0.5, 1.01, 0.25), x, 2, 'linf', 0.05), /sq: example 1 has value 1\.0\d* outside \[0, 1\]/);
  const b = Float32Array.of(0.3, 0.9, 0.5, 0.5);
  project(b, Float32Array.of(0.5, 0.5, 0.5, 0.5), 2, 'l2', 0.1);
  assert.ok(perturbationNorms(b, Float32Array.of(0.5, 0.5, 0.5, 0.5), 2, 'l2')[0] <= 0.1);
  assert.is(parseEps('8/255'), 8 / 255);
  assert.is(parseEps('0.5'), 0.5);
  assert.throws(() => parseEps('eight'), /not a number/);
  assert.equal([0, 9, 10, 11, 50, 51, 8001].map((i) => squareP(0.8, i, 10000)), [0.8, 0.8, 0.8, 0.4, 0.4, 0.2, 0.8 / 512]);
});

test('PGD (l_inf, l_2), APGD-CE/DLR and Square fool a linear classifier and stay in their balls', async () => {
  const c = linearClassifier([3, 4, 4], 10, rng);
  try {
    const t = classifierTarget(c);
    const { x, y } = await labelled(c, 6, rng);
    const acc = (f: Uint8Array): number => f.reduce((s, v) => s + (v ? 0 : 1), 0) / f.length;
    const check = async (name: string, r: { adversarial: Float32Array; fooled: Uint8Array }, norm: 'linf' | 'l2', eps: number): Promise<void> => {
      assertInBall(name, r.adversarial, x, 48, norm, eps);
      const p = predictions(await logitsOf(t, r.adversarial, 6, 0), 10);
      p.forEach((v, i) => assert.is(v !== y[i] ? 1 : 0, r.fooled[i], `${name}: example ${i}'s fooled flag`));
      assert.is(acc(r.fooled), 0, `${name} leaves ${acc(r.fooled)} accuracy`);
    };
    await check('pgd linf', await pgd(t, x, y, { norm: 'linf', eps: 0.3, steps: 10 }), 'linf', 0.3);
    await check('pgd l2', await pgd(t, x, y, { norm: 'l2', eps: 2.5, steps: 10, schedule: 'cosine', stepSize: 1 }), 'l2', 2.5);
    await check('apgd-ce', await apgd(t, x, y, { norm: 'linf', eps: 0.3, steps: 10, loss: 'ce' }), 'linf', 0.3);
    await check('apgd-dlr', await apgd(t, x, y, { norm: 'linf', eps: 0.3, steps: 10, loss: 'dlr' }), 'linf', 0.3);
    await check('apgd-ce l2', await apgd(t, x, y, { norm: 'l2', eps: 2.5, steps: 10, loss: 'ce' }), 'l2', 2.5);
    await check('square', await square(t, x, y, { eps: 0.3, steps: 60 }), 'linf', 0.3);
    // A tiny budget fools fewer: the attacks respond to eps.
    const weak = await pgd(t, x, y, { norm: 'linf', eps: 0.001, steps: 3 });
    assert.ok(acc(weak.fooled) > 0, 'eps 0.001 leaves some examples right');
  } finally { c.dispose(); }
});

test('PGD keep: the first fooling iterate stops at the boundary, the last goes past it; a transfer evaluation keeps the last', async () => {
  const c = linearClassifier([3, 4, 4], 10, rng);
  try {
    const t = classifierTarget(c);
    const { x, y } = await labelled(c, 8, rng);
    const o = { norm: 'linf' as const, eps: 0.3, steps: 12, seed: 5 };
    const first = await pgd(t, x, y, { ...o, keep: 'first' }), last = await pgd(t, x, y, { ...o, keep: 'last' });
    assert.equal(Array.from(first.adversarial), Array.from((await pgd(t, x, y, o)).adversarial), "a deterministic target's default is 'first'");
    const mFirst = margins(await logitsOf(t, first.adversarial, 8, 0), 10, y), mLast = margins(await logitsOf(t, last.adversarial, 8, 0), 10, y);
    for (let b = 0; b < 8; b++) {
      assert.ok(mFirst[b] < 0 && mLast[b] < 0, `example ${b} is fooled either way`);
      assert.ok(mLast[b] < mFirst[b], `example ${b}: the last iterate lands further past the boundary (${mLast[b]} vs ${mFirst[b]})`);
    }
    // checkLast: false skips the final query and returns the same last iterate.
    const unchecked = await pgd(t, x, y, { ...o, keep: 'last', checkLast: false });
    assert.equal(Array.from(unchecked.adversarial), Array.from(last.adversarial));
    assert.is(unchecked.queries, last.queries - 1);
    assert.is(pgdKeep({}), 'first');
    assert.is(pgdKeep({ purifier: { model: {} as never, options: purifyConfig('mae-cifar10') } }), 'last');
  } finally { c.dispose(); }
});

test('EOT averages gradients over draws; the exact gradient through the purifier is the closed-form Jacobian times the BPDA gradient', async () => {
  const mae = MAE.create({ imgSize: 8, patchSize: 4, inChans: 3, embedDim: 16, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, mlpRatio: 2 }, { seed: 4 });
  const c = linearClassifier([3, 8, 8], 10, rng);
  try {
    const options = purifyConfig(undefined, { steps: 5, maskRatio: 0.5, eta: 2.5 / 255, seed: 9 });
    const p = { model: new MaeReconstruction(mae), options };
    const B = 2, per = 192;
    const x = Float32Array.from({ length: B * per }, (_, i) => (i % 4 === 0 ? rng.uniform(0, 2 / 255) : rng.uniform(0.1, 0.9)));
    const y = Int32Array.of(3, 7);
    const exact = purifiedTarget(c, p, 'exact'), bpda = purifiedTarget(c, p, 'bpda');
    const ge = await lossAndGradient(exact, x, y, 'ce', 1, { next: 11 });
    const gb = await lossAndGradient(bpda, x, y, 'ce', 1, { next: 11 });
    assert.equal(Array.from(ge.loss), Array.from(gb.loss), 'same draw, same purified images, same loss');
    // The purified images of draw 11, step by step, give the closed-form diagonal Jacobian.
    const traj = await asyncScope(async () => (await purify(p.model, tensor(x, [B, 3, 8, 8]), { ...options, seed: drawSeed(options.seed, 11) }, { trajectory: true })).trajectory!);
    const J = new Float64Array(x.length).fill(1);
    for (const s of traj) {
      for (let i = 0; i < x.length; i++) {
        if (s[i] === 0 || s[i] === 1) J[i] = 0;
        else if (s[i] === Math.fround(x[i] - Math.fround(options.eta)) || s[i] === Math.fround(x[i] + Math.fround(options.eta))) J[i] = 1;
      }
    }
    assert.ok(J.some((v) => v === 0), 'some pixels end clamped');
    for (let i = 0; i < x.length; i++) assert.is(ge.grad[i], Math.fround(gb.grad[i] * J[i]), `pixel ${i}`);
    // EOT: R draws average R single-draw gradients with consecutive draw numbers.
    const e3 = await lossAndGradient(exact, x, y, 'ce', 3, { next: 20 });
    const g1: Awaited<ReturnType<typeof lossAndGradient>>[] = [];
    for (const d of [20, 21, 22]) g1.push(await lossAndGradient(exact, x, y, 'ce', 1, { next: d }));
    for (let i = 0; i < x.length; i += 7) {
      const m = (g1[0].grad[i] + g1[1].grad[i] + g1[2].grad[i]) / 3;
      assert.ok(Math.abs(e3.grad[i] - m) <= 1e-6 * (1 + Math.abs(m)), `EOT pixel ${i}: ${e3.grad[i]} vs ${m}`);
    }
    assert.ok(g1[0].grad.some((v, i) => v !== g1[1].grad[i]), 'different draws, different masks, different gradients');
    // The harness end to end on this pipeline: PGD-EOT with exact gradients, a result in range.
    const set = { images: x, labels: y, n: B, shape: [B, 3, 8, 8] as [number, number, number, number], classes: [] };
    const r = await robustAccuracy(set, { classifier: c, purifier: p, attack: 'pgd', norm: 'linf', eps: 8 / 255, steps: 2, eot: 2, adaptive: 'exact', batch: 2, seed: 1 });
    assert.ok(r.robustCorrect <= r.cleanCorrect && r.n === 2 && r.imagesPerS > 0);
  } finally { mae.dispose(); c.dispose(); }
});

test('a list of attacks is the worst case per image: the first attack as alone, the next on its survivors; the adversarial images kept', async () => {
  const shape: [number, number, number] = [3, 4, 4];
  const c = linearClassifier(shape, 5, rng);
  try {
    const B = 12;
    const { x, y } = await labelled(c, B, rng);
    const set = { images: x, labels: y, n: B, shape: [B, ...shape] as [number, number, number, number], classes: [] };
    const o = { classifier: c, norm: 'linf' as const, eps: 0.01, steps: 3, eot: 1, adaptive: 'none' as const, batch: 5, seed: 4 };
    const alone = await robustAccuracy(set, { ...o, attack: 'square' });
    const both = await robustAccuracy(set, { ...o, attack: ['square', 'pgd'], keepAdversarial: true });
    assert.is(both.cleanCorrect, B);
    // The first attack makes the same draws as when it runs alone.
    assert.is(both.brokenBy[0], alone.cleanCorrect - alone.robustCorrect);
    assert.is(both.robustCorrect, both.cleanCorrect - both.brokenBy[0] - both.brokenBy[1]);
    assert.ok(both.robustCorrect <= alone.robustCorrect);
    // Every kept image is in the ball, and the classifier's verdict on it is the reported one.
    const adv = both.adversarial!;
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(adv[i] - x[i]) <= 0.01 + 1e-6, `pixel ${i} left the ball`);
    const p = predictions(await logitsOf(classifierTarget(c), adv, B, 0), 5);
    assert.equal(Array.from(p), Array.from(both.robustPredictions));
    let err: Error | undefined;
    try { await robustAccuracy(set, { ...o, attack: ['pgd', 'fgsm' as 'pgd'] }); } catch (e) { err = e as Error; }
    assert.match(err?.message ?? 'no error', /unknown attack 'fgsm'/);
  } finally { c.dispose(); }
});

test('ResNet-20 on 16 CIFAR-10 test images at 8/255: PGD and APGD drive accuracy near 0, Square lowers it (llvmpipe only)', async () => {
  if (!haveFiles('the ResNet-20 attack check', RESNET20, CIFAR_DIR)) return;
  if (engine().gpu.kind !== 'llvmpipe') { console.log(`  NOTICE: the ResNet-20 attack check runs on llvmpipe only (this is ${engine().gpu.kind}; ResNet-20 is about 10x slower there)`); return; }
  const set = loadCifar10(CIFAR_DIR, { split: 'test', indices: Array.from({ length: 16 }, (_, i) => i) });
  const model = createClassifier('resnet20', loadStateDictFile(RESNET20));
  try {
    const t = classifierTarget(model);
    const clean = predictions(await logitsOf(t, set.images, 16, 0), 10);
    const right = Array.from({ length: 16 }, (_, i) => i).filter((i) => clean[i] === set.labels[i]);
    const x = new Float32Array(right.length * 3072);
    right.forEach((i, j) => x.set(set.images.subarray(i * 3072, (i + 1) * 3072), j * 3072));
    const y = Int32Array.from(right, (i) => set.labels[i]);
    const eps = 8 / 255;
    const robust = (f: Uint8Array): number => f.reduce((s, v) => s + (v ? 0 : 1), 0);
    const a = await pgd(t, x, y, { norm: 'linf', eps, steps: 7, stepSize: 2 / 255 });
    const b = await apgd(t, x, y, { norm: 'linf', eps, steps: 7, loss: 'ce' });
    const sq = await square(t, x.subarray(0, 8 * 3072), y.subarray(0, 8), { eps, steps: 20 });
    console.log(`  ResNet-20: clean ${right.length}/16; robust after PGD-7 ${robust(a.fooled)}, APGD-CE-7 ${robust(b.fooled)}, Square-20 (first 8) ${robust(sq.fooled)}/8`);
    assert.ok(robust(a.fooled) <= 1, `PGD leaves ${robust(a.fooled)} of ${right.length}`);
    assert.ok(robust(b.fooled) <= 1, `APGD leaves ${robust(b.fooled)} of ${right.length}`);
    assert.ok(robust(sq.fooled) < 8, 'Square fools at least one of 8');
  } finally { model.dispose(); }
});

test.run();
