// Robust fine-tuning (src/purify/robust.ts, `amrm train robust`): complementary masks partition the
// patches; the paste surrogate equals, patch by patch, the model's own output under the mask that
// predicts that patch (MAE: hidden; MaskDiT: kept, with the same noise), and passes gradients to the
// weights; the Stage I attack leaves no weight gradient behind; the command writes a model whose
// metadata makes it load with the robust preset, and resumes only with the same settings.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, Rng } from '../harness.js';
import { asyncScope, type Tensor } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { grad, noGrad } from '../../src/engine/autograd.js';
import { crossEntropy } from '../../src/engine/ops/loss.js';
import { mul } from '../../src/engine/ops/elementwise.js';
import { sum } from '../../src/engine/ops/reduce.js';
import { unpatchify } from '../../src/engine/ops/patch.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { reshape } from '../../src/engine/ops/layout.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import { MAE } from '../../src/models/mae.js';
import { diffusionNoise, toModelRange } from '../../src/models/maskdit.js';
import { maeConfig } from '../../src/models/mae_configs.js';
import { createClassifier } from '../../src/models/classifiers.js';
import { complementaryMasks, pasteGroups, pasteSurrogate, robustTask, unrolledSurrogate, type AdversarialBatch } from '../../src/purify/robust.js';
import { adversarialFolder } from '../../src/cli/train-robust.js';
import { MaeReconstruction } from '../../src/purify/loss.js';
import { purifyConfig } from '../../src/purify/amrm.js';
import { purifyPreset } from '../../src/purify/presets.js';
import { maeTask } from '../../src/train/tasks.js';
import { loadPurifier } from '../../src/cli/purifier.js';
import { main } from '../../src/cli/main.js';
import { loadMnistSplit } from '../../src/data/mnist.js';
import { randomMaskDit, writeTinyMnistMaskDit } from '../models/maskdit_fixtures.js';
import type { Batch } from '../../src/train/loader.js';

await setup();
const test = suite('purify: robust fine-tuning');
const dirs: string[] = [];
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'amrm-robust-')); dirs.push(d); return d; };

test('complementary masks: every patch hidden by exactly one mask, groups of near-equal size, a fresh split per image', () => {
  for (const [B, L, K] of [[3, 16, 4], [2, 49, 4], [2, 64, 2], [1, 7, 3]]) {
    const masks = complementaryMasks(B, L, K, new Rng(B * L + K));
    assert.is(masks.length, K);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < L; j++) assert.is(masks.reduce((s, m) => s + m[b * L + j], 0), 1, `patch ${j} of image ${b}`);
      const sizes = masks.map((m) => m.subarray(b * L, (b + 1) * L).reduce((s, v) => s + v, 0));
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `group sizes ${sizes}`);
    }
    if (B > 1) assert.not.equal(Array.from(masks[0].subarray(0, L)), Array.from(masks[0].subarray(L, 2 * L)));
  }
  assert.throws(() => complementaryMasks(1, 4, 1, new Rng(1)), /K 1 must be an integer in \[2, 4\]/);
  assert.is(pasteGroups('mae', 0.25), 4);
  assert.is(pasteGroups('maskdit', 0.5), 2);
});

const MAE_CFG = { ...maeConfig('mae-tiny-c32'), imgSize: [8, 8] as [number, number], patchSize: 2, inChans: 3, embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 };
const images = (rng: Rng, n: number, per: number): Float32Array => Float32Array.from({ length: n * per }, () => rng.uniform(0.05, 0.95));

/** Each patch of the [B, C, 8, 8] picture (p 2) from `from[k]` where `take(k)` marks it; checks the surrogate against that. */
function checkPasted(got: Float32Array, from: Float32Array[], masks: Float32Array[], B: number, map: (v: number) => number): number {
  let err = 0;
  for (let b = 0; b < B; b++) for (let c = 0; c < 3; c++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
    const i = ((b * 3 + c) * 8 + y) * 8 + x, patch = (y >> 1) * 4 + (x >> 1);
    const k = masks.findIndex((m) => m[b * 16 + patch] === 1);
    err = Math.max(err, Math.abs(got[i] - Math.min(1, Math.max(0, map(from[k][i])))));
  }
  return err;
}

test('paste surrogate, MAE: each patch is the MAE\'s prediction under the mask that hides it; gradients reach the weights and the input', async () => {
  const rng = new Rng(11);
  const mae = MAE.create(MAE_CFG, { seed: 3 });
  try {
    const B = 2, x = images(rng, B, 192);
    const masks = complementaryMasks(B, 16, 4, new Rng(5));
    const { got, preds } = await asyncScope(async () => {
      const xt = tensor(x, [B, 3, 8, 8]);
      const got = await noGrad(() => pasteSurrogate({ family: 'mae', mae }, xt, 0.25, new Rng(5))).data();
      const preds: Float32Array[] = [];
      for (const mask of masks) preds.push(new Float32Array(await noGrad(() => unpatchify(mae.forward(xt, { mask }).pred, 2, 3, 8, 8)).data()));
      return { got, preds };
    });
    const err = checkPasted(got, preds, masks, B, (v) => v);
    assert.ok(err < 1e-6, `max error ${err}`);
    // CE of a random linear read-out of the surrogate: the weights and the image get finite, non-zero gradients.
    mae.requireGrad(true);
    await asyncScope(async () => {
      const xt = tensor(x, [B, 3, 8, 8]).requireGrad();
      const s = pasteSurrogate({ family: 'mae', mae }, xt, 0.25, new Rng(5));
      const W = tensor(Float32Array.from({ length: 192 * 10 }, () => rng.normal()), [192, 10]);
      const loss = crossEntropy(matmul(reshape(s, [B, 192]), W), [1, 7]);
      const params = mae.parameters().map(([, t]) => t);
      const gs = grad(loss, [xt, ...params]);
      for (const [i, g] of gs.entries()) {
        const d = await g.data();
        assert.ok(d.every(Number.isFinite), `gradient ${i} is finite`);
      }
      const decoderPred = mae.parameters().findIndex(([k]) => k === 'decoder_pred.weight');
      assert.ok((await gs[1 + decoderPred].data()).some((v) => v !== 0), 'decoder_pred gets a gradient');
      assert.ok((await gs[0].data()).some((v) => v !== 0), 'the image gets a gradient');
    });
  } finally { mae.dispose(); }
});

test('paste surrogate, MaskDiT: each patch is D(2x − 1 + n; σ_pur) under the mask that keeps it, one noise draw for all masks', async () => {
  const rng = new Rng(12);
  const model = await randomMaskDit({ imgSize: 8, patchSize: 2, inChans: 3, hiddenSize: 32, depth: 1, numHeads: 2, decoderHiddenSize: 16, decoderDepth: 1, decoderNumHeads: 2 }, 4);
  try {
    const B = 2, sigma = 0.3, x = images(rng, B, 192);
    const draw = new Rng(9);
    const noise = diffusionNoise(draw, [sigma, sigma], 192);
    const kept = complementaryMasks(B, 16, 2, draw);
    const { got, outs } = await asyncScope(async () => {
      const xt = tensor(x, [B, 3, 8, 8]);
      const got = await noGrad(() => pasteSurrogate({ family: 'maskdit', maskdit: model, sigma }, xt, 0.5, new Rng(9))).data();
      const noisy = noGrad(() => toModelRange(xt)).data().then((y) => Float32Array.from(y, (v, i) => v + noise[i]));
      const nt = tensor(await noisy, [B, 3, 8, 8]);
      const outs: Float32Array[] = [];
      for (const k of kept) outs.push(new Float32Array(await noGrad(() => model.denoise(nt, { sigma, mask: k.map((v) => 1 - v) }).images).data()));
      return { got, outs };
    });
    const err = checkPasted(got, outs, kept, B, (v) => (v + 1) / 2);
    assert.ok(err < 1e-5, `max error ${err}`);
  } finally { model.dispose(); }
});

test('unrolled surrogate: its weight gradient (through every step\'s input gradient, by second-order autograd) matches finite differences', async () => {
  const rng = new Rng(13);
  const mae = MAE.create(MAE_CFG, { seed: 6 });
  try {
    const B = 2, x = images(rng, B, 192), c = Float32Array.from({ length: B * 192 }, () => rng.normal());
    const key = 'decoder_pred.weight';
    const sd = await mae.stateDict();
    const w0 = Float32Array.from(sd.tensors.get(key)!.data as Float32Array);
    const V = Float32Array.from(w0, () => rng.normal());
    const recon = new MaeReconstruction(mae);
    const o = { steps: 2, stepSize: 0.05, tau: 2, maskRatio: 0.25 };
    const f = (): Tensor => sum(mul(unrolledSurrogate(recon, tensor(x, [B, 3, 8, 8]), o, new Rng(21)), tensor(c, [B, 3, 8, 8])));
    const at = async (e: number): Promise<number> => {
      (sd.tensors.get(key)!.data as Float32Array).set(w0.map((v, i) => v + e * V[i]));
      mae.loadStateDict(sd);
      return asyncScope(async () => (await f().data())[0]);
    };
    const central = async (e: number): Promise<number> => ((await at(e)) - (await at(-e))) / (2 * e);
    const fd = (4 * (await central(0.01)) - (await central(0.02))) / 3;
    (sd.tensors.get(key)!.data as Float32Array).set(w0);
    mae.loadStateDict(sd);
    mae.requireGrad(true);
    const exact = await asyncScope(async () => {
      const W = mae.parameters().find(([k]) => k === key)![1];
      const [g] = grad(f(), [W]);
      const d = await g.data();
      return d.reduce((s, v, i) => s + v * V[i], 0);
    });
    const err = Math.abs(exact - fd) / Math.abs(fd);
    assert.ok(err < 1e-2, `directional derivative ${exact} vs finite differences ${fd} (relative error ${err.toExponential(2)})`);
  } finally { mae.dispose(); }
});

test('Stage I attacks the batch with the weights off the tape: no weight gradient is left behind, and they are trainable again after', async () => {
  const mae = MAE.create({ ...MAE_CFG, imgSize: [28, 28], patchSize: 7, inChans: 1 }, { seed: 2 });
  const classifier = createClassifier(undefined, loadStateDictFile('models/mnist-cnn.safetensors'));
  try {
    const base = maeTask(mae, { seed: 1, maskRatio: 0.25 });
    const task = robustTask(base, { family: 'mae', mae }, new MaeReconstruction(mae), classifier, {
      seed: 1, purify: purifyConfig('mae-mnist', { steps: 2 }), eps: 0.3, attackSteps: 1, noise: 8 / 255, recWeight: 1, surrogate: 'paste',
    });
    const set = loadMnistSplit('test');
    const n = 4, images = set.images.slice(0, n * 784), labels = set.labels.slice(0, n);
    await asyncScope(async () => {
      const b = { images, labels, shape: [n, 1, 28, 28], x: tensor(images, [n, 1, 28, 28]), y: tensor(labels, [n], 'i32'), epoch: 0, index: 0, dispose() {} } as unknown as Batch;
      await task.prepare!(b, 0);
      for (const [k, t] of mae.parameters()) {
        assert.is(t.grad, undefined, `${k} has a gradient after the attack`);
        assert.ok(t.requiresGrad, `${k} is trainable again`);
      }
      const loss = task.loss(b, 0);
      assert.ok(Number.isFinite((await loss.data())[0]));
      const terms = await task.lastTerms();
      assert.ok(terms.ce > 0 && terms.attack_fooled >= 0 && terms.attack_fooled <= 1, JSON.stringify(terms));
    });
  } finally { mae.dispose(); classifier.dispose(); }
});

test('a cached attack: the first epoch attacks a batch and stores it (on disk, read back as written); a later epoch trains on it without attacking', async () => {
  const mae = MAE.create({ ...MAE_CFG, imgSize: [28, 28], patchSize: 7, inChans: 1 }, { seed: 2 });
  const classifier = createClassifier(undefined, loadStateDictFile('models/mnist-cnn.safetensors'));
  const dir = tmp();
  const folder = adversarialFolder(join(dir, 'adversarial'));
  let sets = 0, gets = 0;
  const store = { get: (i: number) => { gets++; return folder.get(i); }, set: (i: number, b: AdversarialBatch) => { sets++; folder.set(i, b); } };
  try {
    const task = robustTask(maeTask(mae, { seed: 1, maskRatio: 0.25 }), { family: 'mae', mae }, new MaeReconstruction(mae), classifier, {
      seed: 1, purify: purifyConfig('mae-mnist', { steps: 2 }), eps: 0.3, attackSteps: 1, noise: 8 / 255, recWeight: 1, surrogate: 'paste', adversarialStore: store,
    });
    const set = loadMnistSplit('test');
    const n = 4;
    const batch = (first: number, epoch: number): Batch => {
      const images = set.images.slice(first * 784, (first + n) * 784), labels = set.labels.slice(first, first + n);
      return { images, labels, shape: [n, 1, 28, 28], x: tensor(images, [n, 1, 28, 28]), y: tensor(labels, [n], 'i32'), epoch, index: 0, dispose() {} } as unknown as Batch;
    };
    await asyncScope(async () => {
      const b0 = batch(0, 0);
      await task.prepare!(b0, 0);
      assert.is(sets, 1, 'the first epoch attacks and stores the batch');
      const stored = adversarialFolder(join(dir, 'adversarial')).get(0)!;
      assert.equal(stored.shape, [n, 1, 28, 28]);
      assert.equal(Array.from(stored.labels), Array.from(b0.labels));
      assert.ok(stored.images.every((v, i) => v >= 0 && v <= 1 && Math.abs(v - b0.images[i]) <= 0.3 + 0.2), 'the stored images are attacked versions of the batch');
      await task.loss(b0, 0).data();
      const first = (await task.lastTerms()).ce;
      // Epoch 2, same index, other images: the stored batch is trained on, nothing is attacked.
      const b1 = batch(100, 1);
      await task.prepare!(b1, 2);
      assert.is(sets, 1, 'no attack in a later epoch');
      assert.ok(gets >= 2);
      await task.loss(b1, 0).data(); // step 0's surrogate masks, to compare with the first epoch's loss
      const terms = await task.lastTerms();
      assert.is(terms.attack_fooled, stored.fooled);
      assert.ok(Math.abs(terms.ce - first) < 1e-4, `the stored batch's cross-entropy again (${terms.ce} vs ${first}): its labels, not the epoch's`);
    });
    // A file that does not fit its header is named.
    writeFileSync(join(dir, 'adversarial', 'batch-00003.bin'), new Uint8Array(24));
    assert.throws(() => folder.get(3), /batch-00003\.bin: 24 bytes, its header/);
  } finally { mae.dispose(); classifier.dispose(); }
});

test('amrm train robust: a MaskDiT fine-tuned on MNIST loads with the rmaskdit-mnist preset, records where it came from, and resumes only with the same settings', async () => {
  const out = tmp();
  const purifier = await writeTinyMnistMaskDit(tmp(), 3);
  const args = ['train', 'robust', '--purifier', purifier, '--classifier', 'models/mnist-cnn.safetensors', '--dataset', 'mnist', '--limit', '8', '--batch', '4',
    '--attack-steps', '1', '--purify-steps', '1', '--masks', '2', '--out', out];
  const quiet = console.log;
  console.log = () => {};
  try { assert.is(await main(args), 0); } finally { console.log = quiet; }
  const sd = loadStateDictFile(join(out, 'model.safetensors'));
  assert.is(sd.metadata?.['amrm.robust.from'], 'maskdit-mnist-tiny.safetensors');
  const recorded = JSON.parse(sd.metadata!['amrm.robust.options']);
  assert.equal([recorded.surrogate, recorded.eps, recorded.attack_steps, recorded.purify_steps, recorded.train_images], ['paste', 0.3, 1, 1, 8]);
  // The loop the attack ran through is recorded whole: maskdit-mnist's knobs where no flag overrode them.
  const loop = purifyConfig('maskdit-mnist');
  assert.equal([recorded.eta, recorded.masks, recorded.mask_ratio, recorded.sigma], [loop.eta, 2, loop.maskRatio, purifyPreset('maskdit-mnist').sigma]);
  const p = loadPurifier(join(out, 'model.safetensors'), { dataset: 'mnist' });
  assert.is(p.preset, 'rmaskdit-mnist');
  p.dispose();
  const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const steps = log.filter((l) => 'step' in l);
  assert.is(steps.length, 2);
  for (const s of steps) assert.ok(Number.isFinite(s.loss) && Number.isFinite(s.ce) && s.loss >= s.ce, JSON.stringify(s));
  const end = log.find((l) => 'epoch_end' in l);
  assert.ok(end && end.test_n === 256 && end.test_surrogate_clean_accuracy >= 0, JSON.stringify(end));
  const errors: string[] = [];
  const error = console.error;
  console.error = (...m: unknown[]) => { errors.push(m.join(' ')); };
  console.log = () => {};
  try {
    assert.is(await main([...args, '--resume', '--eps', '0.2']), 1);
    assert.is(await main(['train', 'robust', '--purifier', purifier, '--dataset', 'mnist', '--out', out]), 2);
  } finally { console.error = error; console.log = quiet; }
  assert.match(errors.join('\n'), /made with eps 0\.3, this run asks for 0\.2/);
  // The unrolled surrogate runs through a MaskDiT's second-order graph.
  const out2 = tmp();
  console.log = () => {};
  try {
    const args2 = args.map((v, i) => (args[i - 1] === '--out' ? out2 : args[i - 1] === '--limit' ? '4' : v));
    assert.is(await main([...args2, '--surrogate', 'unrolled', '--unrolled-steps', '1']), 0);
  } finally { console.log = quiet; }
  const unrolled = JSON.parse(loadStateDictFile(join(out2, 'model.safetensors')).metadata!['amrm.robust.options']);
  assert.equal([unrolled.surrogate, unrolled.unrolled_steps, unrolled.tau], ['unrolled', 1, 0.5]);
  const step = JSON.parse(readFileSync(join(out2, 'log.jsonl'), 'utf8').split('\n')[0]);
  assert.ok(Number.isFinite(step.loss) && Number.isFinite(step.ce), JSON.stringify(step));
  // --adversarial cache over two epochs: one file per batch of the epoch, and the option recorded.
  const out3 = tmp();
  console.log = () => {};
  try {
    const args3 = args.map((v, i) => (args[i - 1] === '--out' ? out3 : args[i - 1] === '--limit' ? '4' : args[i - 1] === '--batch' ? '2' : v));
    assert.is(await main([...args3, '--adversarial', 'cache', '--epochs', '2']), 0);
  } finally { console.log = quiet; }
  assert.equal(readdirSync(join(out3, 'adversarial')).sort(), ['batch-00000.bin', 'batch-00001.bin']);
  assert.is(JSON.parse(loadStateDictFile(join(out3, 'model.safetensors')).metadata!['amrm.robust.options']).adversarial, 'cache');
  const cachedLog = readFileSync(join(out3, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'step' in l);
  assert.is(cachedLog.length, 4);
  assert.match(errors.join('\n'), /--classifier is required/);
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
