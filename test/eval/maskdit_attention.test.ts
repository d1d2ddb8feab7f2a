// The attention workbench on MaskDiT, through its MaskedReconstructor (σ_pur fixed, one seeded noise
// draw): the probe reports every encoder and decoder layer with what the forward used (checked in
// float64 from the checkpoint, the adaLN conditioning at σ_pur included), the loss is MaskDiT-Pure's
// L_rec under that noise, the first-order attention shift matches a finite difference, the AMV
// oracle is zero at the clean image and descends, the noise seed fixes the maps, and the picture is
// D destandardized by the noisy patch's statistics, (· + 1) / 2, on hidden patches and the input on visible ones. The tiny PyTorch fixture's weights.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng } from '../harness.js';
import { asyncScope, type Tensor } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { grad, noGrad } from '../../src/engine/autograd.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import { MaskDiT, toModelRange } from '../../src/models/maskdit.js';
import { timestepFeatures } from '../../src/models/dit.js';
import { MaskDitReconstructor, attentionMapsOf } from '../../src/models/reconstructor.js';
import { MaskDitReconstruction } from '../../src/purify/maskdit_loss.js';
import { captureForward, qkWeights } from '../../src/eval/attention_capture.js';
import { reconstructionView } from '../../src/eval/reconstruction_figure.js';
import { AmvOracle } from '../../src/purify/amv_oracle.js';
import { checkFirstOrderShift, checkProjections, type SeenRecord } from './attention_f64.js';

await setup();
const test = suite('eval: MaskDiT attention workbench');

const CFG = { imgSize: 8, patchSize: 2, inChans: 3, hiddenSize: 32, depth: 2, numHeads: 2, decoderHiddenSize: 24, decoderDepth: 2, decoderNumHeads: 2, numClasses: 10 };
const load = (): MaskDiT => MaskDiT.load(loadStateDictFile('test/fixtures/maskdit_tiny.pt'), CFG);
const B = 2, SIGMA = 0.2, L = 16;
const SHAPE = [B, 3, 8, 8];
const images = (rng: Rng, n = B): Float32Array => Float32Array.from({ length: n * 192 }, () => rng.uniform(0.05, 0.95));
const silu = (v: number): number => v / (1 + Math.exp(-v));

/** y = W x + b in float64, W [out, in]. */
function linear(W: ArrayLike<number>, b: ArrayLike<number> | undefined, x: ArrayLike<number>, out: number): Float64Array {
  const inp = x.length, y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < inp; i++) s += W[o * inp + i] * x[i];
    y[o] = s;
  }
  return y;
}

test('the probe through the MaskDiT reconstructor: every layer, normed = modulate(LN(input)) at σ_pur, Q, K, probabilities; the loss is L_rec under the fixed noise', async () => {
  const rng = new Rng(31);
  const model = load();
  const rec = new MaskDitReconstructor(model, { sigma: SIGMA, noiseSeed: 5 });
  try {
    const sd = await model.stateDict();
    const T = (k: string): Float32Array => sd.tensors.get(`model.${k}`)!.data as Float32Array;
    // SiLU of the conditioning at σ_pur (no label: the table's zero row), in float64.
    const D = 32;
    const t1 = linear(T('t_embedder.mlp.0.weight'), T('t_embedder.mlp.0.bias'), timestepFeatures([Math.log(SIGMA) / 4], 256), D).map(silu);
    const cAct = linear(T('t_embedder.mlp.2.weight'), T('t_embedder.mlp.2.bias'), t1, D).map(silu);
    await asyncScope(async () => {
      const x = images(rng);
      const mask = rec.maskPlan(B, { maskRatio: 0.5, seed: 3 }).mask;
      const seen: (SeenRecord & { z: Float32Array })[] = [];
      const reads: Promise<void>[] = [];
      const xt = tensor(x, SHAPE);
      const out = noGrad(() => rec.forward(xt, {
        mask, probeProbs: true, perImage: true,
        probe: (r) => { reads.push(Promise.all([r.input.data(), r.normed.data(), r.q.data(), r.k.data(), r.probs!.data()]).then(([z, normed, q, k, p]) => { seen.push({ r, z, normed, q, k, p }); })); },
      }));
      await Promise.all(reads);
      assert.equal(seen.map((s) => `${s.r.stack}${s.r.layer}`).sort(), ['decoder0', 'decoder1', 'encoder0', 'encoder1']);
      assert.equal(rec.layers.map((l) => l.name), ['enc0', 'enc1', 'dec0', 'dec1']);
      for (const s of seen) {
        const { stack, layer } = s.r;
        const key = stack === 'encoder' ? `blocks.${layer}` : `decoder_blocks.${layer}`;
        const [Bn, H, N, d] = s.r.q.shape;
        const Dl = H * d;
        assert.is(Bn, B);
        assert.is(N, stack === 'encoder' ? 8 : L, `${stack}${layer}: no cls token; the encoder sees the 8 visible patches`);
        assert.is(s.r.scale, 1 / Math.sqrt(d));
        // normed = LN(input) (no affine, eps 1e-6) · (1 + scale_msa) + shift_msa, from adaLN at σ_pur.
        const mod = linear(T(`${key}.adaLN_modulation.1.weight`), T(`${key}.adaLN_modulation.1.bias`), cAct, 6 * Dl);
        let err = 0;
        for (let row = 0; row < Bn * N; row++) {
          const zr = s.z.subarray(row * Dl, (row + 1) * Dl);
          const mu = zr.reduce((a, v) => a + v, 0) / Dl;
          const va = zr.reduce((a, v) => a + (v - mu) ** 2, 0) / Dl;
          for (let c = 0; c < Dl; c++) err = Math.max(err, Math.abs((zr[c] - mu) / Math.sqrt(va + 1e-6) * (1 + mod[Dl + c]) + mod[c] - s.normed[row * Dl + c]));
        }
        assert.ok(err < 1e-4, `${stack}${layer}: normed is the modulated LayerNorm of the input, max error ${err}`);
        const W = T(`${key}.attn.qkv.weight`), bias = T(`${key}.attn.qkv.bias`);
        checkProjections(s, W, bias);
      }
      const w = await qkWeights(rec);
      for (const [i, l] of rec.layers.entries()) {
        const W = T(`${l.stack === 'encoder' ? 'blocks' : 'decoder_blocks'}.${l.index}.attn.qkv.weight`), Dl = l.attention.dim;
        assert.equal(Array.from(w[i].wQ), Array.from(W.subarray(0, Dl * Dl)));
        assert.equal(Array.from(w[i].wK), Array.from(W.subarray(Dl * Dl, 2 * Dl * Dl)));
      }
      // The loss: the model's training loss at σ_pur of 2x − 1 with the reconstructor's noise (one
      // draw, the same for both images); the per-image losses average to it.
      const n = new Float32Array(B * 192);
      for (let b = 0; b < B; b++) n.set(rec.noise, b * 192);
      const want = (await noGrad(() => model.loss(toModelRange(tensor(x, SHAPE)), { sigma: SIGMA, diffusionNoise: n, mask })).loss.data())[0];
      const got = (await out.loss.data())[0];
      assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want), `loss ${got} vs the model's ${want}`);
      const per = await Promise.all(out.perImage!.map(async (t) => (await t.data())[0]));
      assert.ok(Math.abs((per[0] + per[1]) / 2 - got) <= 1e-5 * got, `per-image losses ${per} average to ${got}`);
      assert.ok(per[0] !== per[1]);
    });
  } finally { model.dispose(); }
});

test('the exact first-order attention shift on MaskDiT matches a finite difference of A, the error shrinking with the step', async () => {
  const rng = new Rng(9);
  const model = load();
  try {
    const rec = new MaskDitReconstructor(model, { sigma: SIGMA, noiseSeed: 1 });
    const cap = await captureForward(rec, images(rng), B, rec.maskPlan(B, { maskRatio: 0.5, seed: 2 }).mask);
    assert.equal(cap.layers.map((l) => `${l.stack}${l.layer}:${l.tokens}`), ['encoder0:8', 'encoder1:8', 'decoder0:16', 'decoder1:16']);
    const sd = await model.stateDict();
    await checkFirstOrderShift(cap, await qkWeights(rec), (l) => {
      const key = `model.${l.stack === 'encoder' ? 'blocks' : 'decoder_blocks'}.${l.layer}.attn.qkv`;
      return { W: sd.tensors.get(`${key}.weight`)!.data, bias: sd.tensors.get(`${key}.bias`)!.data };
    }, rng);
  } finally { model.dispose(); }
});

test('the AMV oracle on MaskDiT (fixed mask and noise): zero at the clean image, and sign descent lowers it', async () => {
  const rng = new Rng(17);
  const model = load();
  try {
    const rec = new MaskDitReconstructor(model, { sigma: SIGMA, noiseSeed: 4 });
    const clean = images(rng);
    const x0 = Float32Array.from(clean, (v) => Math.min(1, Math.max(0, v + rng.uniform(-0.06, 0.06))));
    const mask = rec.maskPlan(B, { maskRatio: 0.5, seed: 6 }).mask;
    const opts = { maskRatio: 0.5, masks: 1, rng: new Rng(0), mask };
    const lossAt = (x: Float32Array): Promise<number> => asyncScope(async () => {
      const oracle = new AmvOracle(rec, tensor(clean, SHAPE));
      return (await noGrad(() => oracle.reconstructionLoss(tensor(x, SHAPE), opts)).data())[0];
    });
    const oracleName = new AmvOracle(rec, tensor(clean, SHAPE));
    assert.match(oracleName.name, /AMV oracle \(MaskDiT 8×8 p2 .*σ_pur 0\.2, noise seed 4\)/);
    oracleName.clean.dispose();
    const atClean = await lossAt(clean);
    assert.ok(atClean < 1e-9, `the clean image has no attention variation to itself under the same noise: ${atClean}`);
    let x = x0;
    const start = await lossAt(x);
    assert.ok(start > 1e-4, `the perturbed image's attention differs: ${start}`);
    for (let s = 0; s < 8; s++) {
      const gs = await asyncScope(async () => {
        const oracle = new AmvOracle(rec, tensor(clean, SHAPE));
        const xt = tensor(x, SHAPE).requireGrad();
        return (await grad(oracle.reconstructionLoss(xt, opts), [xt])[0].data());
      });
      x = Float32Array.from(x, (a, i) => Math.min(1, Math.max(0, a - (2 / 255) * Math.sign(gs[i]))));
    }
    const end = await lossAt(x);
    assert.ok(end < 0.7 * start, `8 sign steps of 2/255: objective ${start} → ${end}`);
  } finally { model.dispose(); }
});

test('the noise seed fixes the maps: the same seed and image give the same maps (at any batch position), another seed other maps', async () => {
  const rng = new Rng(23);
  const model = load();
  try {
    await asyncScope(async () => {
      const one = images(rng, 1);
      const twice = new Float32Array(2 * 192);
      twice.set(one, 0); twice.set(one, 192);
      const read = async (maps: { encoder: Tensor[]; decoder: Tensor[] }): Promise<Float32Array[]> => {
        const out: Float32Array[] = [];
        for (const t of [...maps.encoder, ...maps.decoder]) { out.push(await t.data()); t.dispose(); }
        return out;
      };
      const at = (seed: number, x: Float32Array, n: number): Promise<Float32Array[]> =>
        read(attentionMapsOf(new MaskDitReconstructor(model, { sigma: SIGMA, noiseSeed: seed }), tensor(x, [n, 3, 8, 8]), { mask: new Float32Array(n * L).fill(0).map((_, i) => (i % L) % 2) }));
      const a = await at(3, one, 1), b = await at(3, one, 1), c = await at(4, one, 1), d = await at(3, twice, 2);
      assert.is(a.length, 4);
      a.forEach((m, i) => {
        assert.equal(Array.from(b[i]), Array.from(m), `layer ${i}: same seed, same maps`);
        assert.ok(m.some((v, j) => v !== c[i][j]), `layer ${i}: another seed, other maps`);
        // The draw is one image's noise shared by every image: the copy at position 1 sees the same.
        assert.equal(Array.from(d[i].subarray(m.length)), Array.from(d[i].subarray(0, m.length)), `layer ${i}: both batch positions alike`);
      });
      // purify's AMV tracking (MaskDitReconstruction.attentionMaps) uses the same reconstructor: the same seed, the same maps.
      const lrec = new MaskDitReconstruction(model, { sigma: SIGMA });
      const e = await read(lrec.attentionMaps(tensor(one, [1, 3, 8, 8]), { maskRatio: 0.5, seed: 8 }));
      const f = await read(lrec.attentionMaps(tensor(one, [1, 3, 8, 8]), { maskRatio: 0.5, seed: 8 }));
      const g = await read(lrec.attentionMaps(tensor(one, [1, 3, 8, 8]), { maskRatio: 0.5, seed: 9 }));
      e.forEach((m, i) => { assert.equal(Array.from(f[i]), Array.from(m)); });
      assert.ok(e.some((m, i) => m.length !== g[i].length || m.some((v, j) => v !== g[i][j])), 'another probe seed, other maps');
    });
  } finally { model.dispose(); }
});

test('the MaskDiT picture: hidden patches are D(2x − 1 + n; σ_pur) at the noisy patch\'s own mean and spread (their training target is standardized per patch), mapped by (· + 1) / 2; visible ones the input', async () => {
  const rng = new Rng(29);
  const model = load();
  try {
    const rec = new MaskDitReconstructor(model, { sigma: SIGMA, noiseSeed: 2 });
    const x = images(rng);
    const v = await reconstructionView(rec, x, B, { maskRatio: 0.5, seed: 7 });
    assert.equal(Array.from(v.mask), Array.from(rec.maskPlan(B, { maskRatio: 0.5, seed: 7 }).mask));
    const noisy = Float32Array.from(x, (u, i) => 2 * u - 1 + rec.noise[i % 192]);
    const D = await asyncScope(async () => noGrad(() => model.denoise(tensor(noisy, SHAPE), { sigma: SIGMA, mask: v.mask })).images.data());
    const at = (b: number, c: number, yy: number, xx: number): number => ((b * 3 + c) * 8 + yy) * 8 + xx;
    let hiddenErr = 0, changed = 0;
    for (let b = 0; b < B; b++) for (let patch = 0; patch < L; patch++) {
      const idx: number[] = [];
      for (let c = 0; c < 3; c++) for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) idx.push(at(b, c, (patch >> 2) * 2 + dy, (patch & 3) * 2 + dx));
      const mu = idx.reduce((s, i) => s + noisy[i], 0) / idx.length;
      const sd = Math.sqrt(idx.reduce((s, i) => s + (noisy[i] - mu) ** 2, 0) / (idx.length - 1) + 1e-6);
      for (const i of idx) {
        if (v.mask[b * L + patch]) {
          hiddenErr = Math.max(hiddenErr, Math.abs(v.rec[i] - (D[i] * sd + mu + 1) / 2));
          if (Math.abs(v.rec[i] - x[i]) > 1e-3) changed++;
          assert.is(v.masked[i], 0.5);
        } else {
          assert.is(v.rec[i], x[i], 'visible: the input itself');
          assert.is(v.masked[i], x[i]);
        }
      }
    }
    assert.ok(hiddenErr < 1e-5, `hidden patches are (D·sd + mean + 1) / 2: max error ${hiddenErr}`);
    assert.ok(changed > 0, 'the hidden patches are predicted, not copied');
  } finally { model.dispose(); }
});

test.run();
