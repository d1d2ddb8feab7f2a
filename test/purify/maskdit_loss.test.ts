import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, Rng } from '../harness.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';
import { sum } from '../../src/engine/ops/reduce.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { grad, noGrad } from '../../src/engine/autograd.js';
import { writeAtomic, loadStateDictFile } from '../../src/engine/io/node.js';
import { writeSafetensors } from '../../src/engine/io/safetensors.js';
import { MaskDiT, diffusionNoise, toModelRange } from '../../src/models/maskdit.js';
import { MAE } from '../../src/models/mae.js';
import { MaskDitReconstruction } from '../../src/purify/maskdit_loss.js';
import { purify, purifyConfig, purifyDifferentiable } from '../../src/purify/amrm.js';
import { loadPurifier } from '../../src/cli/purifier.js';
import { purifierFamily } from '../../src/purify/load.js';

await setup();
const test = suite('purify: MaskDiT-Pure');
const rng = new Rng(77);

// The PyTorch fixture's tiny MaskDiT (random weights: every part does something).
const CFG = { imgSize: 8, patchSize: 2, inChans: 3, hiddenSize: 32, depth: 2, numHeads: 2, decoderHiddenSize: 24, decoderDepth: 2, decoderNumHeads: 2, numClasses: 10 };
const load = (): MaskDiT => MaskDiT.load(loadStateDictFile('test/fixtures/maskdit_tiny.pt'), CFG);
const SHAPE = [2, 3, 8, 8];
const images = (): number[] => Array.from({ length: 2 * 192 }, () => rng.uniform(0.05, 0.95));

test('L_rec is the training loss at σ_pur of the image in [-1, 1], with the masks and noise drawn from the loop\'s generator', async () => {
  const model = load();
  try {
    await asyncScope(async () => {
      const x = images();
      const recon = new MaskDitReconstruction(model, { sigma: 0.2 });
      const got = (await noGrad(() => recon.reconstructionLoss(tensor(x, SHAPE), { maskRatio: 0.5, masks: 1, rng: new Rng(5) })).data())[0];
      // The same draws by hand: the noise first, then the masks, from one generator.
      const r = new Rng(5);
      const n = diffusionNoise(r, [0.2, 0.2], 192);
      const want = noGrad(() => model.loss(toModelRange(tensor(x, SHAPE)), { sigma: 0.2, diffusionNoise: n, maskRatio: 0.5, rng: r }));
      assert.ok(Math.abs(got - (await want.loss.data())[0]) <= 1e-6 * Math.abs(got), `${got} vs the model's loss`);
      // Fresh draws per call: two calls on one generator differ.
      const g = new Rng(9);
      const a = (await noGrad(() => recon.reconstructionLoss(tensor(x, SHAPE), { maskRatio: 0.5, masks: 1, rng: g })).data())[0];
      const b = (await noGrad(() => recon.reconstructionLoss(tensor(x, SHAPE), { maskRatio: 0.5, masks: 1, rng: g })).data())[0];
      assert.ok(a !== b, 'fresh masks and noise every call');
      // Several masks: the mean over copies of the batch, each with its own draws.
      const two = (await noGrad(() => recon.reconstructionLoss(tensor(x, SHAPE), { maskRatio: 0.5, masks: 2, rng: new Rng(5) })).data())[0];
      assert.ok(Number.isFinite(two) && two > 0);
    });
  } finally { model.dispose(); }
});

test('the input gradient of L_rec against a central finite difference (same draws on both sides)', async () => {
  const model = load();
  try {
    await asyncScope(async () => {
      const recon = new MaskDitReconstruction(model, { sigma: 0.3 });
      const x = images();
      const dir = x.map(() => rng.normal());
      const at = async (s: number): Promise<number> => (await noGrad(() => recon.reconstructionLoss(tensor(x.map((v, i) => v + s * dir[i]), SHAPE), { maskRatio: 0.5, masks: 1, rng: new Rng(3) })).data())[0];
      const xt = tensor(x, SHAPE).requireGrad();
      const [g] = grad(recon.reconstructionLoss(xt, { maskRatio: 0.5, masks: 1, rng: new Rng(3) }), [xt]);
      const gd = await g.data();
      const analytic = gd.reduce((s, v, i) => s + v * dir[i], 0);
      const h = 1e-3;
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      assert.ok(Math.abs(fd - analytic) <= 2e-2 * Math.abs(analytic), `finite difference ${fd} vs gradient ${analytic}`);
    });
  } finally { model.dispose(); }
});

test('purification descends L_rec (fixed draws) and stays in the ball and [0, 1]', async () => {
  const model = load();
  try {
    await asyncScope(async () => {
      const recon = new MaskDitReconstruction(model, { sigma: 0.1 });
      const x0 = images();
      const lossAt = async (x: ArrayLike<number>): Promise<number> => (await noGrad(() => recon.reconstructionLoss(tensor(x, SHAPE), { maskRatio: 0.5, masks: 1, rng: new Rng(1) })).data())[0];
      const options = purifyConfig('maskdit-cifar10', { steps: 10, seed: 4 });
      const r = await purify(recon, tensor(x0, SHAPE), options, { trackLoss: true });
      const out = await r.images.data();
      for (let i = 0; i < out.length; i++) {
        assert.ok(out[i] >= 0 && out[i] <= 1 && Math.abs(out[i] - x0[i]) <= options.eta + 1e-6, 'in the ball and [0, 1]');
      }
      // Every step draws fresh masks and noise, so the tracked loss is noisy; under one fixed draw the end is lower than the start.
      assert.ok((await lossAt(out)) < (await lossAt(x0)), 'the loss under a fixed draw falls');
    });
  } finally { model.dispose(); }
});

test('the loop runs with the weights frozen: the conditioning is made once, and the images, losses and exact gradients through the loop are those of a model that remakes it every step', async () => {
  const model = load();
  try {
    const recon = new MaskDitReconstruction(model, { sigma: 0.2 });
    // The same model without `frozen`: every step makes its conditioning again.
    const plain = { name: recon.name, inputShape: recon.inputShape, reconstructionLoss: recon.reconstructionLoss.bind(recon) };
    const x0 = images();
    const options = purifyConfig('maskdit-cifar10', { steps: 4, seed: 9 });
    const rt = engine().runtime;
    const before = rt.stats().bytesInUse;
    const runOf = async (m: typeof plain | MaskDitReconstruction): Promise<{ x: number[]; losses: number[]; g: number[]; dispatches: number }> => asyncScope(async () => {
      let dispatches = 0;
      rt.observer = { see: () => { dispatches++; return true; } };
      let r;
      try { r = await purify(m, tensor(x0, SHAPE), options, { trackLoss: true }); } finally { rt.observer = undefined; }
      const x = Array.from(await r.images.data()), losses = Array.from(r.losses!);
      // Exact gradients through the loop on the tape (it spans every step and is used after the loop returns).
      const xin = tensor(x0, SHAPE).requireGrad();
      const d = await purifyDifferentiable(m, xin, options, {}, 'tape');
      const [g] = grad(sum(d.images), [xin]);
      return { x, losses, g: Array.from(await g.data()), dispatches };
    });
    const a = await runOf(recon), b = await runOf(plain);
    assert.equal(a.x, b.x, 'the same purified images');
    assert.equal(a.losses, b.losses, 'the same losses');
    assert.equal(a.g, b.g, 'the same gradients through the loop');
    assert.ok(a.dispatches < b.dispatches, `fewer dispatches with the conditioning made once (${a.dispatches} vs ${b.dispatches})`);
    await rt.sync();
    assert.is(rt.stats().bytesInUse, before, 'the kept conditioning is freed when the loop ends');
  } finally { model.dispose(); }
});

test('loadPurifier: the family from the file, the default preset per family, a preset of the other family refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'amrm-purifier-'));
  const md = load();
  const mae = MAE.create({ imgSize: 8, patchSize: 4, inChans: 3, embedDim: 16, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
  try {
    const mdFile = join(dir, 'md.safetensors'), maeFile = join(dir, 'mae.safetensors');
    writeAtomic(mdFile, writeSafetensors(await md.stateDict()));
    writeAtomic(maeFile, writeSafetensors(await mae.stateDict()));
    assert.is(purifierFamily(loadStateDictFile('test/fixtures/maskdit_tiny.pt'), 'x'), 'maskdit', 'reference keys, no metadata');
    // The family picks the data set's preset, and the preset gives σ_pur (the CIFAR-10 sweep's 0.1);
    // --sigma overrides it, for a MaskDiT only.
    const a = loadPurifier(mdFile, { dataset: 'cifar10' });
    assert.equal([a.family, a.preset, a.family === 'maskdit' ? a.recon.sigma : NaN], ['maskdit', 'maskdit-cifar10', 0.1]);
    a.dispose();
    const a2 = loadPurifier(mdFile, { dataset: 'cifar10', sigma: 0.3 });
    assert.is(a2.family === 'maskdit' ? a2.recon.sigma : NaN, 0.3);
    a2.dispose();
    assert.throws(() => loadPurifier(maeFile, { dataset: 'cifar10', sigma: 0.3 }), /σ_pur \(--sigma\) is MaskDiT-Pure's noise level, but .* is an MAE/);
    const b = loadPurifier(maeFile, { dataset: 'cifar10' });
    assert.equal([b.family, b.preset], ['mae', 'mae-cifar10']);
    b.dispose();
    assert.throws(() => loadPurifier(mdFile, { preset: 'mae-cifar10' }), /preset mae-cifar10 is for mae, but .* is a MaskDiT/);
    assert.throws(() => loadPurifier(maeFile, { preset: 'maskdit-cifar10' }), /is an MAE/);
    assert.throws(() => loadPurifier(mdFile, { inputShape: [1, 28, 28], dataset: 'mnist', preset: 'maskdit-mnist' }), /takes \[3,8,8\] images, mnist has \[1,28,28\]/);
  } finally {
    md.dispose(); mae.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
