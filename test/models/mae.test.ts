import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, rand, Rng, arr, type Arr, upload, normRelErr } from '../harness.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { backward } from '../../src/engine/autograd.js';
import { setTuning } from '../../src/engine/tuning.js';
import { reconstructionLoss } from '../../src/engine/ops/patch.js';
import { readSafetensors, writeSafetensors } from '../../src/engine/io/safetensors.js';
import { loadTorch } from '../../src/engine/io/torch.js';
import type { HostTensor } from '../../src/engine/io/host-tensor.js';
import {
  MAE, maeStateShapes, maskFromNoise, maskFromHidden, visibleCount, sincosPosEmbed2d, attentionCollector, type MaskPlan,
} from '../../src/models/index.js';
import { maeConfig, maeConfigNames, resolveMaeConfig, type MaeConfigInput } from '../../src/models/mae_configs.js';
import { maeReference, type RefParams } from './mae_reference.js';

const eng = await setup();
const rng = new Rng(9151);
// Small row splits compile fast (see test/engine/attention.test.ts).
setTuning({ attention: { rcap: 4 } });
const test = suite('mae');

// A tiny MAE on a non-square image: 2×3 patches of 4×4×3, encoder 16 wide (2 heads of 8), decoder
// 12 wide (3 heads of 4), so encoder and decoder differ in width, heads and token count.
const TINY: MaeConfigInput = {
  imgSize: [8, 12], patchSize: 4, inChans: 3, embedDim: 16, depth: 2, numHeads: 2,
  decoderEmbedDim: 12, decoderDepth: 1, decoderNumHeads: 3, mlpRatio: 4,
};
const B = 2;

const toArr = (h: HostTensor): Arr => arr(h.shape, h.data);

/** A model whose every weight (biases and LayerNorm affines too) is random, and the same weights as float64. */
async function randomModel(cfg: MaeConfigInput, seed: number): Promise<{ model: MAE; P: RefParams }> {
  const model = MAE.create(cfg, { seed });
  const sd = await model.stateDict();
  const r = new Rng(seed + 1);
  for (const [k, h] of sd.tensors) {
    if (k.endsWith('pos_embed')) continue;
    const data = h.data as Float32Array;
    // Keep the init's scale, then perturb: xavier weights stay, zeros and ones become random.
    for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i] + 0.2 * r.uniform(-1, 1));
  }
  model.loadStateDict(sd);
  const P: RefParams = new Map([...sd.tensors].map(([k, h]) => [k, toArr(h)]));
  return { model, P };
}

const images = (cfg: MaeConfigInput, n = B): Arr => {
  const c = resolveMaeConfig(cfg);
  return rand(rng, [n, c.inChans, c.imgSize[0], c.imgSize[1]], { lo: 0, hi: 1 });
};

function near(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  const err = normRelErr(got, want);
  if (process.env.MAE_TEST_LOG) console.log(`${what}: ${err.toExponential(2)}`);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(2)} > ${tol}`);
}

test('masking: argsort of noise, ids_restore inverts ids_shuffle, seeded and per sample', () => {
  const L = 10, lenKeep = 4;
  const noise = Float64Array.from({ length: 3 * L }, () => rng.next());
  const plan = maskFromNoise(noise, 3, L, lenKeep);
  for (let b = 0; b < 3; b++) {
    const row = [...noise.subarray(b * L, (b + 1) * L)];
    const sorted = row.map((v, i) => [v, i]).sort((x, y) => x[0] - y[0]).map(([, i]) => i);
    assert.equal([...plan.idsKeep.subarray(b * lenKeep, (b + 1) * lenKeep)], sorted.slice(0, lenKeep));
    for (let l = 0; l < L; l++) {
      assert.is(sorted[plan.idsRestore[b * L + l]], l, 'ids_restore is the inverse permutation');
      assert.is(plan.mask[b * L + l], plan.idsRestore[b * L + l] < lenKeep ? 0 : 1);
    }
  }
  // A given mask keeps its visible patches (ascending) and hides the rest.
  const given = maskFromHidden([1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0], 2, 6);
  assert.is(given.lenKeep, 3);
  assert.equal([...given.idsKeep], [1, 3, 4, 1, 3, 5]);
  assert.equal([...given.mask], [1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0]);
  assert.throws(() => maskFromHidden([1, 0, 0, 0, 1, 1], 2, 3), /every image must keep the same number of patches/);
  assert.throws(() => maskFromHidden([1, 1, 1], 1, 3), /hides every patch/);
  // Count rules: docs/method.md's round(ratio·L) hidden vs the reference's int(L·(1 − ratio)) kept.
  assert.is(visibleCount(64, 0.25), 48);
  assert.is(visibleCount(64, 0.3), 45);
  assert.is(visibleCount(64, 0.3, 'reference'), 44);
  assert.is(visibleCount(64, 0.75, 'reference'), 16);
  assert.throws(() => visibleCount(64, 1), /must be in \[0, 1\)/);
  assert.throws(() => visibleCount(2, 0.9), /leaves no visible patch/);
});

test('named configs: shapes and parameter counts match the PyTorch reference', () => {
  assert.equal(maeConfigNames(), ['mae-tiny-c32', 'mae-small-c32', 'mae-base-c32', 'mae-base-p16-224']);
  // Totals of state_dict().values() for the same modules built in PyTorch (make_mae_fixture.py's MAE class).
  const want: Record<string, number> = { 'mae-tiny-c32': 572240, 'mae-small-c32': 24625840, 'mae-base-c32': 110816560, 'mae-base-p16-224': 111907840 };
  for (const name of maeConfigNames()) {
    const n = maeStateShapes(name).reduce((s, [, sh]) => s + sh.reduce((a, b) => a * b, 1), 0);
    assert.is(n, want[name], name);
  }
  const base = maeConfig('mae-base-c32');
  assert.equal([base.embedDim, base.depth, base.numHeads, base.decoderEmbedDim, base.decoderDepth, base.patchSize], [768, 12, 12, 512, 8, 4]);
  assert.throws(() => maeConfig('mae-huge'), /unknown configuration 'mae-huge'/);
  assert.throws(() => resolveMaeConfig({ ...TINY, imgSize: [8, 10] }), /not divisible into 4×4 patches/);
  assert.throws(() => resolveMaeConfig({ ...TINY, embedDim: 18 }), /multiple of 4/);
  assert.throws(() => resolveMaeConfig({ ...TINY, numHeads: 3 }), /not divisible by numHeads 3/);
});

test('random init follows the reference: xavier_uniform Linear and patch weights, normal(0.02) tokens, LayerNorm 1/0, Linear biases 0', async () => {
  const model = MAE.create('mae-tiny-c32', { seed: 8 });
  const sd = await model.stateDict();
  const stats = (k: string): { lo: number; hi: number; mean: number; std: number } => {
    const d = sd.tensors.get(k)!.data;
    let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
    for (const v of d) { s += v; s2 += v * v; lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const mean = s / d.length;
    return { lo, hi, mean, std: Math.sqrt(s2 / d.length - mean * mean) };
  };
  // xavier_uniform: U(±sqrt(6 / (fan_in + fan_out))), std = bound / sqrt(3).
  for (const [k, fanIn, fanOut] of [['blocks.0.attn.qkv.weight', 96, 288], ['decoder_pred.weight', 64, 48], ['patch_embed.proj.weight', 48, 96]] as const) {
    const bound = Math.sqrt(6 / (fanIn + fanOut)), st = stats(k);
    assert.ok(st.lo >= -bound && st.hi <= bound && st.hi > 0.9 * bound && st.lo < -0.9 * bound, `${k} spans ±${bound.toFixed(4)}: [${st.lo}, ${st.hi}]`);
    assert.ok(Math.abs(st.std / (bound / Math.sqrt(3)) - 1) < 0.1, `${k} std ${st.std}`);
  }
  for (const k of ['cls_token', 'mask_token']) assert.ok(Math.abs(stats(k).std / 0.02 - 1) < 0.35, `${k} std ${stats(k).std}`);
  const pb = stats('patch_embed.proj.bias'), convBound = 1 / Math.sqrt(48);
  assert.ok(pb.lo >= -convBound && pb.hi <= convBound && pb.std > 0, 'patch_embed bias keeps the Conv2d default U(±1/sqrt(fan_in))');
  for (const k of ['blocks.0.norm1.weight', 'decoder_norm.weight']) assert.equal([stats(k).lo, stats(k).hi], [1, 1], k);
  for (const k of ['blocks.0.norm1.bias', 'blocks.3.mlp.fc1.bias', 'decoder_embed.bias', 'decoder_pred.bias']) assert.equal([stats(k).lo, stats(k).hi], [0, 0], k);
  // Same seed, same weights; another seed, others.
  const twin = MAE.create('mae-tiny-c32', { seed: 8 }), other = MAE.create('mae-tiny-c32', { seed: 9 });
  const k = 'blocks.2.mlp.fc2.weight';
  assert.equal([...(await twin.stateDict()).tensors.get(k)!.data], [...sd.tensors.get(k)!.data]);
  assert.not.equal([...(await other.stateDict()).tensors.get(k)!.data], [...sd.tensors.get(k)!.data]);
  model.dispose(); twin.dispose(); other.dispose();
});

test('forward equals a float64 reference MAE (loss with and without norm_pix, pred, attention probabilities)', async () => {
  const { model, P } = await randomModel(TINY, 11);
  const cfg = model.config;
  assert.equal(model.stateEntries().map((e) => [e.key, [...e.tensor.shape]]), maeStateShapes(cfg));
  const img = images(TINY);
  for (const normPix of [false, true]) {
    for (const ratio of [0.5, 0.25]) {
      await asyncScope(async () => {
        const { probe, maps } = attentionCollector();
        const out = model.forward(upload(img), { maskRatio: ratio, seed: 5 + ratio * 8, normPix, probe, probeProbs: true });
        const probs = { encoder: maps.encoder, decoder: maps.decoder };
        const plan = out.plan;
        assert.is(plan.lenKeep, 6 - Math.round(ratio * 6));
        const want = maeReference(cfg, P, img, plan.idsKeep, plan.lenKeep, plan.mask, normPix);
        const what = `normPix ${normPix} ratio ${ratio}`;
        assert.equal([...out.pred.shape], [B, 6, 48]);
        near(`${what} pred`, await out.pred.data(), want.pred.data, 1e-4);
        near(`${what} loss`, await out.loss.data(), [want.loss], 1e-4);
        assert.equal([...(await out.mask.data())], [...plan.mask]);
        assert.is(probs.encoder.length, 2);
        assert.is(probs.decoder.length, 1);
        for (const [i, p] of probs.encoder.entries()) {
          assert.equal([...p.shape], [B, 2, 1 + plan.lenKeep, 1 + plan.lenKeep]);
          near(`${what} encoder probs ${i}`, await p.data(), want.encProbs[i].data, 1e-4);
        }
        near(`${what} decoder probs`, await probs.decoder[0].data(), want.decProbs[0].data, 1e-4);
        [...probs.encoder, ...probs.decoder].forEach((t) => t.dispose());
      });
    }
  }
  model.dispose();
});

test('the gradient reaches the image through both the encoder input and the target (finite differences)', async () => {
  const { model, P } = await randomModel(TINY, 12);
  const img = images(TINY);
  const plan = model.maskPlan(B, { maskRatio: 0.5, seed: 3 });
  const hidden = [...plan.mask];
  for (const normPix of [false, true]) {
    await asyncScope(async () => {
      const x = upload(img).requireGrad();
      const out = model.forward(x, { mask: hidden, normPix });
      backward(out.loss);
      const got = await x.grad!.data();
      // Central differences of the float64 reference (same mask).
      const f = (): number => maeReference(model.config, P, img, plan.idsKeep, plan.lenKeep, plan.mask, normPix).loss;
      const fd = new Float64Array(img.data.length);
      for (let j = 0; j < fd.length; j++) {
        const v = img.data[j], h = 1e-5;
        img.data[j] = v + h; const fp = f();
        img.data[j] = v - h; const fm = f();
        img.data[j] = v;
        fd[j] = (fp - fm) / (2 * h);
      }
      near(`d loss / d image (normPix ${normPix})`, got, fd, 1e-4);
      for (const [k, t] of model.parameters()) assert.is(t.grad, undefined, `the frozen model's ${k} gets no gradient`);
      // Both paths carry a real share: the target path alone (pred detached) and the rest.
      const targetOnly = await asyncScope(async () => {
        const x2 = upload(img).requireGrad();
        const o2 = model.forward(x2, { mask: hidden, normPix });
        const l2 = reconstructionLoss(o2.pred.detach(), x2, o2.mask, { p: 4, normPix });
        backward(l2);
        return x2.grad!.data();
      });
      const largest = Math.max(...got.map(Math.abs));
      const encoderPath = got.map((g, i) => g - targetOnly[i]);
      assert.ok(Math.max(...targetOnly.map(Math.abs)) > 1e-2 * largest, 'the target path contributes to the image gradient');
      assert.ok(Math.max(...encoderPath.map(Math.abs)) > 1e-2 * largest, 'the encoder path contributes to the image gradient');
    });
  }
  model.dispose();
});

test('parameter gradients (tokens, biases) equal finite differences', async () => {
  const { model, P } = await randomModel(TINY, 13);
  model.requireGrad();
  const img = images(TINY);
  const plan = model.maskPlan(B, { maskRatio: 0.5, seed: 4 });
  await asyncScope(async () => {
    const out = model.forward(upload(img), { mask: [...plan.mask], normPix: true });
    backward(out.loss);
    const byKey = new Map(model.stateEntries().map((e) => [e.key, e.tensor]));
    for (const key of ['cls_token', 'mask_token', 'patch_embed.proj.bias', 'blocks.1.attn.qkv.bias', 'decoder_blocks.0.norm1.weight', 'decoder_pred.bias']) {
      const g = byKey.get(key)!.grad;
      assert.ok(g, `${key} has a gradient`);
      const got = await g!.data();
      const a = P.get(key)!;
      const fd = new Float64Array(a.data.length);
      for (let j = 0; j < fd.length; j++) {
        const v = a.data[j], h = 1e-5;
        a.data[j] = v + h; const fp = maeReference(model.config, P, img, plan.idsKeep, plan.lenKeep, plan.mask, true).loss;
        a.data[j] = v - h; const fm = maeReference(model.config, P, img, plan.idsKeep, plan.lenKeep, plan.mask, true).loss;
        a.data[j] = v;
        fd[j] = (fp - fm) / (2 * h);
      }
      near(`d loss / d ${key}`, got, fd, 1e-4);
    }
    for (const { key: k, tensor: t } of model.stateEntries()) if (k.endsWith('pos_embed')) assert.is(t.grad, undefined, `${k} is fixed`);
  });
  model.dispose();
});

test('safetensors round trip: a reloaded random MAE gives identical outputs', async () => {
  const model = MAE.create(TINY, { seed: 21 });
  const img = images(TINY);
  const noise = Array.from({ length: B * 6 }, () => rng.next());
  const run = (m: MAE): Promise<[Float32Array, Float32Array]> => asyncScope(async () => {
    const out = m.forward(upload(img), { noise, maskRatio: 0.5 });
    return [await out.loss.data(), await out.pred.data()];
  });
  const before = await run(model);
  const bytes = writeSafetensors(await model.stateDict());
  const sd = readSafetensors(bytes, 'mae.safetensors');
  assert.is(sd.tensors.size, model.stateEntries().length);
  const again = MAE.load(sd); // the configuration comes from the file's metadata
  assert.equal(again.config, model.config);
  const after = await run(again);
  assert.equal([...after[0]], [...before[0]], 'loss bit for bit');
  assert.equal([...after[1]], [...before[1]], 'pred bit for bit');
  // A different model really differs (the comparison above is not vacuous).
  const other = MAE.create(TINY, { seed: 22 });
  const third = await run(other);
  assert.not.equal([...third[1]], [...before[1]]);
  model.dispose(); again.dispose(); other.dispose();
});

test('zip-format PyTorch fixture loads and matches the stored PyTorch outputs', async () => {
  const io = JSON.parse(readFileSync('test/fixtures/mae_tiny_io.json', 'utf8')) as {
    config: { img: [number, number]; p: number; c: number; dim: number; depth: number; heads: number; ddim: number; ddepth: number; dheads: number; mlp_ratio: number };
    batch: number; mask_ratio: number; imgs: number[]; noise: number[]; loss: number; loss_norm_pix: number;
    pred: number[]; pred_shape: number[]; mask: number[]; ids_restore: number[];
    enc_probs0: number[]; enc_probs0_shape: number[]; dec_probs0: number[]; dec_probs0_shape: number[];
  };
  const c = io.config;
  const cfg: MaeConfigInput = {
    imgSize: c.img, patchSize: c.p, inChans: c.c, embedDim: c.dim, depth: c.depth, numHeads: c.heads,
    decoderEmbedDim: c.ddim, decoderDepth: c.ddepth, decoderNumHeads: c.dheads, mlpRatio: c.mlp_ratio,
  };
  const sd = loadTorch(readFileSync('test/fixtures/mae_tiny.pt'), 'mae_tiny.pt');
  // The fixed sin-cos tables as PyTorch computed them equal ours.
  const gh = c.img[0] / c.p, gw = c.img[1] / c.p;
  near('pos_embed', sincosPosEmbed2d(c.dim, gh, gw), sd.tensors.get('pos_embed')!.data, 1e-6);
  near('decoder_pos_embed', sincosPosEmbed2d(c.ddim, gh, gw), sd.tensors.get('decoder_pos_embed')!.data, 1e-6);
  const model = MAE.load(sd, cfg);
  const shape = [io.batch, c.c, c.img[0], c.img[1]];
  for (const normPix of [false, true]) {
    await asyncScope(async () => {
      const { probe, maps } = attentionCollector();
      const out = model.forward(tensor(io.imgs, shape), { noise: io.noise, maskRatio: io.mask_ratio, maskCount: 'reference', normPix, probe, probeProbs: true });
      assert.equal([...out.plan.idsRestore], io.ids_restore, 'ids_restore');
      assert.equal([...(await out.mask.data())], io.mask, 'mask');
      assert.equal([...out.pred.shape], io.pred_shape);
      near('pred', await out.pred.data(), io.pred, 1e-4);
      near(`loss (normPix ${normPix})`, await out.loss.data(), [normPix ? io.loss_norm_pix : io.loss], 1e-4);
      assert.equal([...maps.encoder[0].shape], io.enc_probs0_shape);
      near('encoder block 0 attention', await maps.encoder[0].data(), io.enc_probs0, 1e-4);
      assert.equal([...maps.decoder[0].shape], io.dec_probs0_shape);
      near('decoder block 0 attention', await maps.decoder[0].data(), io.dec_probs0, 1e-4);
      [...maps.encoder, ...maps.decoder].forEach((t) => t.dispose());
    });
  }
  // The positional tables may be left out of a checkpoint (they are fixed), nothing else may.
  const noPos = new Map([...sd.tensors].filter(([k]) => !k.endsWith('pos_embed')));
  model.loadStateDict(noPos);
  model.dispose();
});

test('clear errors: checkpoint keys and shapes, image shape, mask', async () => {
  const model = MAE.create(TINY, { seed: 1 });
  const sd = await model.stateDict();
  const missing = new Map(sd.tensors);
  missing.delete('blocks.1.mlp.fc2.weight');
  assert.throws(() => model.loadStateDict(missing), /mae: the state dict does not fit the model[\s\S]*missing \(1\): blocks\.1\.mlp\.fc2\.weight \[16, 64\]/);
  const wrong = new Map(sd.tensors);
  wrong.set('decoder_pred.weight', { shape: [27, 12], dtype: 'f32', data: new Float32Array(27 * 12) });
  wrong.set('extra.weight', { shape: [1], dtype: 'f32', data: new Float32Array(1) });
  assert.throws(() => model.loadStateDict(wrong), /wrong shape or dtype \(1\): decoder_pred\.weight: expected f32\[48, 12\], got f32\[27, 12\][\s\S]*unexpected \(1\): extra\.weight/);
  // Not strict: the unexpected key is ignored, the shape mismatch is still an error.
  assert.throws(() => model.loadStateDict(wrong, { strict: false }), /decoder_pred\.weight: expected f32\[48, 12\], got f32\[27, 12\]/);
  wrong.delete('decoder_pred.weight');
  model.loadStateDict(wrong, { strict: false });
  assert.throws(() => MAE.load(sd.tensors), /no configuration given/);
  await asyncScope(async () => {
    assert.throws(() => model.forward(upload(rand(rng, [2, 3, 8, 8], { lo: 0, hi: 1 }))), /mae\.forward: images must be f32 \[B, 3, 8, 12\] .* got f32 \[2, 3, 8, 8\]/);
    const x = upload(images(TINY));
    assert.throws(() => model.forward(x, { maskRatio: 1 }), /mask ratio 1 must be in \[0, 1\)/);
    assert.throws(() => model.forward(x, { mask: [1, 0, 1] }), /mask has 3 values, expected B·L = 2·6/);
    assert.throws(() => model.forward(x, { noise: [0.5] }), /noise has 1 values/);
  });
  model.dispose();
});

test('masks: seeded runs repeat, the model\'s generator gives fresh masks per call, each image its own', () => {
  const model = MAE.create(TINY, { seed: 2, maskSeed: 7 });
  const a = model.maskPlan(4, { maskRatio: 0.5, seed: 99 });
  const b = model.maskPlan(4, { maskRatio: 0.5, seed: 99 });
  assert.equal([...a.idsKeep], [...b.idsKeep]);
  const m1 = model.maskPlan(4, { maskRatio: 0.5 }), m2 = model.maskPlan(4, { maskRatio: 0.5 });
  const key = (p: MaskPlan, i: number): string => [...p.mask.subarray(i * 6, (i + 1) * 6)].join('');
  assert.ok([0, 1, 2, 3].some((i) => key(m1, i) !== key(m2, i)), 'fresh masks per call');
  assert.ok(new Set([0, 1, 2, 3].map((i) => key(m1, i))).size > 1, 'per-sample masks');
  const again = MAE.create(TINY, { seed: 2, maskSeed: 7 });
  assert.equal([...again.maskPlan(4, { maskRatio: 0.5 }).mask], [...m1.mask], 'the model\'s generator is seeded');
  model.dispose(); again.dispose();
});

test('mae-tiny-c32: forward and backward run, and the pool returns to its baseline', async () => {
  const model = MAE.create('mae-tiny-c32', { seed: 3 });
  const img = rand(rng, [2, 3, 32, 32], { lo: 0, hi: 1 });
  const base = eng.runtime.stats().bytesInUse;
  for (let step = 0; step < 2; step++) {
    await asyncScope(async () => {
      const x = upload(img).requireGrad();
      const { probe, maps } = attentionCollector();
      const out = model.forward(x, { maskRatio: 0.25, probe: step === 0 ? probe : undefined, probeProbs: true });
      assert.equal([...out.pred.shape], [2, 64, 48]);
      if (step === 0) assert.equal([...maps.decoder[1].shape], [2, 2, 65, 65]);
      [...(maps.encoder ?? []), ...(maps.decoder ?? [])].forEach((t) => t.dispose());
      backward(out.loss);
      const loss = (await out.loss.data())[0];
      const g = await x.grad!.data();
      assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
      assert.ok(g.every(Number.isFinite) && g.some((v) => v !== 0), 'a finite, nonzero image gradient');
    });
  }
  assert.is(eng.runtime.stats().bytesInUse, base, 'bytes in use back at the baseline');
  model.dispose();
});

test.after(() => { setTuning({ attention: undefined }); });

test.run();
