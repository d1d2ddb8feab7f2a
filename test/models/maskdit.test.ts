import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, Rng, normRelErr } from '../harness.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { backward, noGrad } from '../../src/engine/autograd.js';
import { readSafetensors, writeSafetensors } from '../../src/engine/io/safetensors.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import type { StateDict } from '../../src/engine/io/host-tensor.js';
import { MaskDiT, maskDitStateShapes, edmCoefficients } from '../../src/models/maskdit.js';
import { maskDitConfig, maskDitConfigNames, type MaskDitConfigInput } from '../../src/models/maskdit_configs.js';
import { attentionCollector } from '../../src/models/vit.js';

await setup();
const test = suite('maskdit');
const rng = new Rng(4242);

// test/fixtures/make_maskdit_fixture.py: the reference architecture in PyTorch, random weights,
// outputs in float64 (see the script's docstring).
interface Case {
  name: string; y: number[]; n: number[]; sigma: number[]; labels: number[] | null; mask_ratio: number; mask: number[];
  D_masked: number[]; D_full: number[]; loss_per_image: number[]; grad_y: number[]; attn_enc0?: number[];
}
const FIX = JSON.parse(readFileSync('test/fixtures/maskdit_tiny_io.json', 'utf8')) as {
  config: Record<string, number | boolean>; keys: [string, number[]][]; cases: Case[];
};
const fc = FIX.config;
const TINY: MaskDitConfigInput = {
  imgSize: fc.input_size as number, patchSize: fc.patch_size as number, inChans: fc.in_channels as number,
  hiddenSize: fc.hidden_size as number, depth: fc.depth as number, numHeads: fc.num_heads as number,
  decoderHiddenSize: fc.decoder_hidden_size as number, decoderDepth: fc.decoder_depth as number, decoderNumHeads: fc.decoder_num_heads as number,
  mlpRatio: fc.mlp_ratio as number, numClasses: fc.num_classes as number, sigmaData: fc.sigma_data as number,
  learnPosEmbed: fc.learn_pos_embed as boolean, maeLossCoef: fc.mae_loss_coef as number,
};
const SHAPE = [3, 3, 8, 8];
const labelsOf = (c: Case): number[] | undefined => {
  if (!c.labels) return undefined;
  const K = TINY.numClasses!;
  return Array.from({ length: c.labels.length / K }, (_, b) => c.labels!.slice(b * K, (b + 1) * K).indexOf(1));
};
function near(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const err = normRelErr(got, want);
  if (process.env.MAE_TEST_LOG) console.log(`${what}: ${err.toExponential(2)}`);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(2)} > ${tol}`);
}

const loadFixture = (): MaskDiT => MaskDiT.load(loadStateDictFile('test/fixtures/maskdit_tiny.pt'), TINY);

test('state: the reference\'s keys and shapes; a training checkpoint loads its ema entry, a plain state dict loads too', async () => {
  assert.equal(maskDitStateShapes(TINY).map(([k, s]) => `${k} ${s}`).sort(), FIX.keys.map(([k, s]) => `${k} ${s}`).sort());
  const fromCheckpoint = loadFixture();
  const plain = MaskDiT.load(loadStateDictFile('test/fixtures/maskdit_tiny_sd.pt'), TINY);
  try {
    const a = await fromCheckpoint.stateDict(), b = await plain.stateDict();
    for (const [k, h] of b.tensors) assert.equal([...a.tensors.get(k)!.data], [...h.data], `${k}: the ema weights, not the model entry (+1)`);
  } finally { fromCheckpoint.dispose(); plain.dispose(); }
});

test('forward: D(x; σ) masked and unmasked, with and without labels, equals PyTorch (float64) to 1e-4', async () => {
  const model = loadFixture();
  try {
    for (const c of FIX.cases) {
      await asyncScope(async () => {
        const x = tensor(c.y.map((v, i) => v + c.n[i]), SHAPE);
        const labels = labelsOf(c);
        const masked = noGrad(() => model.denoise(x, { sigma: c.sigma, labels, mask: c.mask }));
        near(`case ${c.name} D masked`, await masked.images.data(), c.D_masked, 1e-4);
        const full = noGrad(() => model.denoise(x, { sigma: c.sigma, labels }));
        assert.is(full.plan, undefined, 'no mask given: every token is seen');
        near(`case ${c.name} D unmasked`, await full.images.data(), c.D_full, 1e-4);
      });
    }
  } finally { model.dispose(); }
});

test('loss and its input gradient (both paths: D\'s input and the targets) equal PyTorch to 1e-4', async () => {
  const model = loadFixture();
  try {
    for (const c of FIX.cases) {
      await asyncScope(async () => {
        const y = tensor(c.y, SHAPE).requireGrad();
        const out = model.loss(y, { sigma: c.sigma, labels: labelsOf(c), mask: c.mask, diffusionNoise: c.n });
        const want = c.loss_per_image.reduce((a, b) => a + b, 0) / c.loss_per_image.length;
        near(`case ${c.name} loss`, await out.loss.data(), [want], 1e-4);
        backward(out.loss);
        // PyTorch differentiated the sum of the per-image losses; the engine's loss is their mean.
        near(`case ${c.name} d loss / d y`, await y.grad!.data(), c.grad_y.map((v) => v / c.loss_per_image.length), 1e-4);
      });
    }
  } finally { model.dispose(); }
});

test('probe: the first encoder block\'s attention equals PyTorch\'s (kept tokens)', async () => {
  const model = loadFixture();
  const c = FIX.cases[0];
  try {
    await asyncScope(async () => {
      const { probe, maps } = attentionCollector();
      // The reference orders the kept tokens by its noise; give the engine that order through ids_keep's noise.
      const ids = (c as unknown as { ids_restore: number[] }).ids_restore;
      noGrad(() => model.denoise(tensor(c.y.map((v, i) => v + c.n[i]), SHAPE), { sigma: c.sigma, labels: labelsOf(c), noise: ids, maskRatio: c.mask_ratio, probe, probeProbs: true }));
      assert.is(maps.encoder.length, TINY.depth);
      assert.is(maps.decoder.length, TINY.decoderDepth);
      near('attention of encoder block 0', await maps.encoder[0].data(), c.attn_enc0!, 1e-4);
      for (const t of [...maps.encoder, ...maps.decoder]) t.dispose();
    });
  } finally { model.dispose(); }
});

test('parameter gradients against central finite differences along random directions', async () => {
  const model = loadFixture();
  const c = FIX.cases[2];
  const lossOf = async (): Promise<number> => asyncScope(async () => {
    const out = noGrad(() => model.loss(tensor(c.y, SHAPE), { sigma: c.sigma, labels: labelsOf(c), mask: c.mask, diffusionNoise: c.n }));
    return (await out.loss.data())[0];
  });
  try {
    const sd = await model.stateDict();
    model.requireGrad(true);
    const grads = await asyncScope(async () => {
      const out = model.loss(tensor(c.y, SHAPE), { sigma: c.sigma, labels: labelsOf(c), mask: c.mask, diffusionNoise: c.n });
      backward(out.loss);
      const g = new Map<string, Float32Array>();
      for (const [k, t] of model.parameters()) g.set(k, await t.grad!.data() as Float32Array);
      return g;
    });
    model.requireGrad(false);
    // Parameters of every kind of part: patch embedding, noise embedding, label table, adaLN, attention, MLP, decoder layer, mask token, final layer, position tables.
    const keys = ['model.x_embedder.proj.weight', 'model.t_embedder.mlp.0.weight', 'model.y_embedder.embedding_table.weight', 'model.blocks.1.adaLN_modulation.1.weight',
      'model.blocks.0.attn.qkv.weight', 'model.decoder_blocks.1.mlp.fc1.weight', 'model.decoder_layer.adaLN_modulation.1.bias', 'model.mask_token',
      'model.final_layer.linear.weight', 'model.pos_embed', 'model.decoder_pos_embed'];
    for (const key of keys) {
      const base = sd.tensors.get(key)!.data as Float32Array;
      const dir = Float32Array.from(base, () => rng.normal());
      const h = 2e-3;
      const at = async (s: number): Promise<number> => {
        const moved = new Map(sd.tensors);
        moved.set(key, { ...sd.tensors.get(key)!, data: Float32Array.from(base, (v, i) => v + s * h * dir[i]) });
        model.loadStateDict(moved);
        return lossOf();
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * h);
      const g = grads.get(key)!;
      const analytic = g.reduce((a, v, i) => a + v * dir[i], 0);
      assert.ok(Math.abs(fd - analytic) <= 2e-2 * Math.max(1e-2, Math.abs(analytic)), `${key}: finite difference ${fd} vs gradient ${analytic}`);
    }
    model.loadStateDict(sd);
  } finally { model.dispose(); }
});

test('a new model is the reference\'s init: zero final layer and gates, so D(x; σ) = c_skip·x', async () => {
  const model = MaskDiT.create(TINY, { seed: 3 });
  try {
    await asyncScope(async () => {
      const x = Array.from({ length: 3 * 192 }, () => rng.uniform(-1, 1));
      const sigma = [0.05, 0.5, 3];
      const out = noGrad(() => model.denoise(tensor(x, SHAPE), { sigma, maskRatio: 0.5 }));
      const want = x.map((v, i) => edmCoefficients(sigma[Math.floor(i / 192)], 0.5).cSkip * v);
      near('D of an untrained model', await out.images.data(), want, 1e-6);
    });
  } finally { model.dispose(); }
});

test('checkpoints: safetensors round trip with the config in the metadata; a wrong shape names the key and both shapes', async () => {
  const model = loadFixture();
  try {
    const sd = await model.stateDict();
    const again = MaskDiT.load(readSafetensors(writeSafetensors(sd)));
    assert.equal(again.config, model.config);
    again.dispose();
    const bad: StateDict = { tensors: new Map(sd.tensors), metadata: sd.metadata };
    bad.tensors.set('model.blocks.0.attn.qkv.weight', { shape: [96, 31], dtype: 'f32', data: new Float32Array(96 * 31) });
    assert.throws(() => MaskDiT.load(bad), /model\.blocks\.0\.attn\.qkv\.weight.*\[96, 31\].*\[96, 32\]|model\.blocks\.0\.attn\.qkv\.weight.*\[96, 32\].*\[96, 31\]/);
    const missing: StateDict = { tensors: new Map(sd.tensors), metadata: sd.metadata };
    missing.tensors.delete('model.mask_token');
    assert.throws(() => MaskDiT.load(missing), /model\.mask_token/);
    assert.throws(() => MaskDiT.load(new Map(sd.tensors)), /no configuration given/);
    assert.throws(() => noGrad(() => model.denoise(tensor(new Float32Array(2 * 64), [2, 1, 8, 8]), { sigma: 1 })), /images must be f32 \[B, 3, 8, 8\]/);
    assert.throws(() => noGrad(() => model.denoise(tensor(new Float32Array(3 * 192), SHAPE), { sigma: [1, 2] })), /2 noise levels for 3 images/);
    assert.throws(() => noGrad(() => model.denoise(tensor(new Float32Array(3 * 192), SHAPE), { sigma: 0 })), /σ 0 must be a positive/);
    assert.throws(() => noGrad(() => model.denoise(tensor(new Float32Array(3 * 192), SHAPE), { sigma: 1, labels: [0, 10, 1] })), /label 10 of image 1/);
  } finally { model.dispose(); }
});

test('named configurations build and describe their shapes', () => {
  for (const name of maskDitConfigNames()) {
    const shapes = maskDitStateShapes(name);
    const c = maskDitConfig(name);
    assert.ok(shapes.some(([k]) => k === 'model.final_layer.linear.weight'), name);
    assert.is(shapes.filter(([k]) => /^model\.blocks\.\d+\.attn\.qkv\.weight$/.test(k)).length, c.depth);
  }
  assert.is(maskDitConfig('maskdit-c32').hiddenSize, 128);
  assert.throws(() => maskDitConfig('maskdit-c32', { hiddenSize: 130 }), /multiple of 4/);
  assert.throws(() => maskDitConfig('nope'), /unknown configuration 'nope'/);
});

test.run();
