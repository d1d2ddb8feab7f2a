// The attention workbench on the engine: the forward probe reports what the forward used, the exact
// first-order attention shift matches a finite difference of A (error shrinking with the step), the
// AMV oracle's objective is zero at the clean image, has the gradient its finite difference says,
// and descends; and `amrm theorem` runs end to end on real MNIST digits with the shipped models, and
// with a MaskDiT purifier (test/eval/maskdit_attention.test.ts checks the pieces on MaskDiT).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, quiet, Rng } from '../harness.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { grad, noGrad } from '../../src/engine/autograd.js';
import { MAE } from '../../src/models/mae.js';
import { MaeReconstructor } from '../../src/models/reconstructor.js';
import { captureForward, qkWeights } from '../../src/eval/attention_capture.js';
import { AmvOracle } from '../../src/purify/amv_oracle.js';
import { theoremCommand } from '../../src/cli/theorem.js';
import { scratch } from '../data/fixtures.js';
import { writeTinyMnistMaskDit } from '../models/maskdit_fixtures.js';
import { checkFirstOrderShift, checkProjections, type SeenRecord } from './attention_f64.js';

await setup();
const test = suite('eval: attention workbench');

const CFG = { imgSize: 8, patchSize: 4, inChans: 3, embedDim: 16, depth: 2, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, mlpRatio: 2 };
const B = 2;

function randomImages(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n * 3 * 8 * 8 }, () => rng.uniform(0.1, 0.9));
}

test('the probe reports what the forward used: layer input, normalized input, Q, K, scale, probabilities', async () => {
  const rng = new Rng(41);
  const mae = MAE.create(CFG, { seed: 2 });
  await asyncScope(async () => {
    const seen: (SeenRecord & { z: Float32Array })[] = [];
    const reads: Promise<void>[] = [];
    const x = tensor(randomImages(rng, B), [B, 3, 8, 8]);
    const out = noGrad(() => mae.forward(x, {
      maskRatio: 0.5, seed: 3, probeProbs: true,
      probe: (r) => { reads.push(Promise.all([r.input.data(), r.normed.data(), r.q.data(), r.k.data(), r.probs!.data()]).then(([z, normed, q, k, p]) => { seen.push({ r, z, normed, q, k, p }); })); },
    }));
    await Promise.all(reads);
    assert.equal(seen.map((s) => `${s.r.stack}${s.r.layer}`).sort(), ['decoder0', 'encoder0', 'encoder1']);
    const sd = await mae.stateDict();
    for (const s of seen) {
      const { stack, layer } = s.r;
      const blockKey = stack === 'encoder' ? `blocks.${layer}` : `decoder_blocks.${layer}`;
      const [Bn, H, N, d] = s.r.q.shape;
      const D = H * d;
      assert.is(s.r.scale, 1 / Math.sqrt(d));
      assert.is(Bn, B);
      assert.is(N, stack === 'encoder' ? 1 + out.plan.lenKeep : 1 + mae.numPatches);
      // normed = LayerNorm(input) with norm1's affine.
      const g = sd.tensors.get(`${blockKey}.norm1.weight`)!.data, be = sd.tensors.get(`${blockKey}.norm1.bias`)!.data;
      let err = 0;
      for (let row = 0; row < Bn * N; row++) {
        const zr = s.z.subarray(row * D, (row + 1) * D);
        const mu = zr.reduce((a, v) => a + v, 0) / D;
        const va = zr.reduce((a, v) => a + (v - mu) ** 2, 0) / D;
        for (let c = 0; c < D; c++) err = Math.max(err, Math.abs((zr[c] - mu) / Math.sqrt(va + 1e-6) * g[c] + be[c] - s.normed[row * D + c]));
      }
      assert.ok(err < 1e-4, `${stack}${layer}: normed is LayerNorm(input), max error ${err}`);
      const W = sd.tensors.get(`${blockKey}.attn.qkv.weight`)!.data, bias = sd.tensors.get(`${blockKey}.attn.qkv.bias`)!.data;
      checkProjections(s, W, bias);
      // The reported W_Q, W_K are the qkv weight's first two thirds.
      const w = await asyncScope(async () => { const t = s.r.attention.qkWeights(); return { wQ: await t.wQ.data(), wK: await t.wK.data() }; });
      assert.equal(Array.from(w.wQ), Array.from(W.subarray(0, D * D)));
      assert.equal(Array.from(w.wK), Array.from(W.subarray(D * D, 2 * D * D)));
    }
  });
  mae.dispose();
});

test('the exact first-order attention shift matches a finite difference of A, the error shrinking with the step', async () => {
  const rng = new Rng(7);
  const mae = MAE.create(CFG, { seed: 5 });
  const model = new MaeReconstructor(mae);
  const mask = mae.maskPlan(B, { maskRatio: 0.5, seed: 1 }).mask;
  const cap = await captureForward(model, randomImages(rng, B), B, mask);
  const weights = await qkWeights(model);
  const sd = await mae.stateDict();
  await checkFirstOrderShift(cap, weights, (l) => {
    const key = l.stack === 'encoder' ? `blocks.${l.layer}` : `decoder_blocks.${l.layer}`;
    return { W: sd.tensors.get(`${key}.attn.qkv.weight`)!.data, bias: sd.tensors.get(`${key}.attn.qkv.bias`)!.data };
  }, rng);
  mae.dispose();
});

test('the AMV oracle: zero at the clean image, its gradient matches a finite difference, and sign descent lowers it', async () => {
  const rng = new Rng(13);
  const mae = MAE.create(CFG, { seed: 8 });
  const model = new MaeReconstructor(mae);
  const clean = randomImages(rng, B);
  const x0 = Float32Array.from(clean, (v) => v + rng.uniform(-0.05, 0.05));
  const mask = mae.maskPlan(B, { maskRatio: 0.5, seed: 4 }).mask;
  const shape = [B, 3, 8, 8];
  const lossAt = (x: Float32Array): Promise<number> => asyncScope(async () => {
    const oracle = new AmvOracle(model, tensor(clean, shape));
    return (await noGrad(() => oracle.reconstructionLoss(tensor(x, shape), { maskRatio: 0.5, masks: 1, rng: new Rng(0), mask })).data())[0];
  });
  // (Exactly zero up to the fused kernel's and the composed softmax's rounding of the same maps.)
  const atClean = await lossAt(clean);
  assert.ok(atClean < 1e-9, `the clean image has no attention variation to itself: ${atClean}`);
  const g = await asyncScope(async () => {
    const oracle = new AmvOracle(model, tensor(clean, shape));
    const x = tensor(x0, shape).requireGrad();
    const [gx] = grad(oracle.reconstructionLoss(x, { maskRatio: 0.5, masks: 1, rng: new Rng(0), mask }), [x]);
    return gx.data();
  });
  const v = Float32Array.from(x0, () => rng.normal());
  const h = 1e-3;
  const fd = (await lossAt(Float32Array.from(x0, (a, i) => a + h * v[i])) - await lossAt(Float32Array.from(x0, (a, i) => a - h * v[i]))) / (2 * h);
  const analytic = g.reduce((s, gi, i) => s + gi * v[i], 0);
  assert.ok(Math.abs(fd - analytic) < 0.05 * Math.abs(analytic) + 1e-6, `directional derivative: autograd ${analytic}, finite difference ${fd}`);
  // Sign descent with the mask fixed: the objective falls.
  let x = x0;
  const start = await lossAt(x);
  for (let s = 0; s < 8; s++) {
    const gs = await asyncScope(async () => {
      const oracle = new AmvOracle(model, tensor(clean, shape));
      const xt = tensor(x, shape).requireGrad();
      return (await grad(oracle.reconstructionLoss(xt, { maskRatio: 0.5, masks: 1, rng: new Rng(0), mask }), [xt])[0].data());
    });
    x = Float32Array.from(x, (a, i) => Math.min(1, Math.max(0, a - (1 / 255) * Math.sign(gs[i]))));
  }
  const end = await lossAt(x);
  assert.ok(end < 0.7 * start, `8 sign steps of 1/255: objective ${start} → ${end}`);
  mae.dispose();
});

test('the AMV oracle with two masks per step: the mean of its one-mask losses and gradients', async () => {
  const rng = new Rng(17);
  const mae = MAE.create(CFG, { seed: 9 });
  const model = new MaeReconstructor(mae);
  const clean = randomImages(rng, B);
  const x0 = Float32Array.from(clean, (v) => v + rng.uniform(-0.05, 0.05));
  const shape = [B, 3, 8, 8];
  // Copy-major: rows 0..B-1 are the first mask of each image, rows B..2B-1 the second.
  const both = mae.maskPlan(2 * B, { maskRatio: 0.5, seed: 6 }).mask;
  const L = both.length / (2 * B);
  const at = (masks: number, mask: Float32Array): Promise<{ loss: number; g: Float32Array }> => asyncScope(async () => {
    const oracle = new AmvOracle(model, tensor(clean, shape));
    const x = tensor(x0, shape).requireGrad();
    const loss = oracle.reconstructionLoss(x, { maskRatio: 0.5, masks, rng: new Rng(0), mask });
    const [gx] = grad(loss, [x]);
    return { loss: (await loss.data())[0], g: await gx.data() };
  });
  const two = await at(2, both);
  const first = await at(1, both.slice(0, B * L)), second = await at(1, both.slice(B * L));
  const want = (first.loss + second.loss) / 2;
  assert.ok(Math.abs(two.loss - want) <= 1e-5 * Math.abs(want), `loss with two masks ${two.loss}, mean of the one-mask losses ${want}`);
  const scale = Math.max(...first.g.map(Math.abs), ...second.g.map(Math.abs));
  const worst = Math.max(...two.g.map((v, i) => Math.abs(v - (first.g[i] + second.g[i]) / 2)));
  assert.ok(worst <= 1e-4 * scale, `gradient with two masks against the mean of the one-mask gradients: worst gap ${worst} (scale ${scale})`);
  assert.ok(first.loss > 0 && Math.abs(first.loss - second.loss) > 1e-6 * first.loss, 'the two masks are different masks');
  mae.dispose();
});

test('amrm theorem on MNIST test digits with the shipped models: report, plots, conventions; usage errors', async () => {
  const s = scratch('theorem');
  try {
    const json = join(s.dir, 'mnist.json');
    const rc = await quiet(() => theoremCommand(['--n', '3', '--eps', '2/255,8/255', '--attack-steps', '2', '--purify-steps', '3', '--pairs', '64', '--features', '16', '--json', json]));
    assert.is(rc, 0);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    assert.is(r.images, 3);
    assert.equal(r.budgets.map((b: { eps: number }) => b.eps), [2 / 255, 8 / 255]);
    assert.match(r.conventions, /d_h\^\(-1\/4\)/);
    for (const b of r.budgets) {
      assert.equal(b.layers.map((l: { stack: string; layer: number }) => `${l.stack}${l.layer}`), ['encoder0', 'encoder1', 'encoder2', 'encoder3', 'decoder0', 'decoder1']);
      for (const l of b.layers) {
        assert.is(l.heads.length, l.stack === 'encoder' ? 3 : 2);
        for (const h of l.heads) {
          assert.ok(h.bound.attack.pairs === 3 * 64 && h.bound.noise.pairs === 3 * 64, 'pairs per image and head');
          assert.ok(h.bound.attack.holds >= 0 && h.bound.attack.holds <= 1);
          assert.ok(h.ratio.median > 0.5 && h.ratio.median < 2, `a small shift is close to first order: ratio ${h.ratio.median}`);
        }
      }
      assert.is(b.theorem32.La.length, 3);
      assert.is(b.theorem32.amv2[0].length, 2, 'two decoder layers');
      assert.ok(Math.abs(b.perturbation.noise - b.perturbation.attack) < 1e-6, 'the noise control has the attack\'s norm');
    }
    assert.is(r.oracle.eps, 8 / 255);
    assert.is(r.oracle.oracleObjective.length, 3);
    assert.ok(r.oracle.amv.oracle < r.oracle.amv.attacked, `the oracle removes attention variation: ${r.oracle.amv.attacked} → ${r.oracle.amv.oracle}`);
    for (const k of ['shift', 'bound', 'theorem32']) {
      const svg = readFileSync(join(s.dir, `mnist-${k}.svg`), 'utf8');
      assert.match(svg, /^<svg/);
      assert.match(svg, /enc0|L_rec/);
    }
    // Bad flags: a clear message and nothing written.
    for (const [args, msg] of [
      [['--eps', '-1/255', '--json', join(s.dir, 'bad.json')], /--eps .*'-1\/255'/],
      [['--norm', 'l1', '--json', join(s.dir, 'bad.json')], /--norm must be linf or l2/],
      [['--json', join(s.dir, 'bad.txt')], /--json must name a \.json file/],
      [['--eps', '8/255', '--oracle-eps', '4/255', '--json', join(s.dir, 'bad.json')], /--oracle-eps 4\/255 must be one of the --eps budgets/],
      [['--eps', '2/255,wide', '--json', join(s.dir, 'bad.json')], /--eps must be numbers or fractions like 8\/255, comma-separated; got 'wide'/],
      [['--eps', '4/255,8/255', '--oracle-eps', '4/255,8/255', '--json', join(s.dir, 'bad.json')], /--oracle-eps takes one budget/],
    ] as [string[], RegExp][]) {
      let printed = '';
      const err = console.error;
      console.error = (...m: unknown[]) => { printed += m.join(' ') + '\n'; };
      try { assert.is(await theoremCommand(args), 2); } finally { console.error = err; }
      assert.match(printed, msg);
    }
    try {
      await quiet(() => theoremCommand(['--json', join(s.dir, 'no-such-folder', 'x.json')]));
      assert.unreachable('a missing output folder is refused');
    } catch (e) { assert.match((e as Error).message, /output folder .* does not exist/); }
    assert.not.ok(existsSync(join(s.dir, 'bad.json')), 'nothing written on a usage error');
  } finally { s.cleanup(); }
});

test('amrm theorem with a MaskDiT purifier (MNIST-shaped, random weights): its preset, its layers (no cls token), the oracle', async () => {
  const s = scratch('theorem-maskdit');
  try {
    const purifier = await writeTinyMnistMaskDit(s.dir, 3);
    const json = join(s.dir, 'md.json');
    // The paper's small steps (1/255): maskdit-mnist's 8/255 steps overshoot an 8/255 attack in two steps.
    const rc = await quiet(() => theoremCommand(['--purifier', purifier, '--preset', 'maskdit-cifar10', '--n', '2', '--eps', '8/255', '--attack-steps', '1', '--purify-steps', '2', '--pairs', '16', '--features', '8', '--json', json]));
    assert.is(rc, 0);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    assert.is(r.model.family, 'maskdit');
    assert.match(r.model.description, /^MaskDiT 28×28 p4 C1 enc 32×1 .*σ_pur 0\.1, noise seed 0$/);
    assert.is(r.preset, 'maskdit-cifar10');
    assert.is(r.purify.steps, 2);
    // The preset averages two mask draws per step, and so do both loops (L_rec's and the oracle's).
    assert.is(r.purify.masks, 2);
    assert.equal(r.mask, { ratio: 0.5, hidden: 25, patches: 49 });
    const [b] = r.budgets;
    assert.equal(b.layers.map((l: { stack: string; layer: number; tokens: number }) => `${l.stack}${l.layer}:${l.tokens}`), ['encoder0:24', 'decoder0:49']);
    for (const l of b.layers) {
      assert.is(l.heads.length, 4);
      assert.ok(l.amv > 0, `${l.stack}: the attack moves the attention`);
      for (const h of l.heads) assert.ok(h.bound.attack.pairs === 2 * 16 && Number.isFinite(h.ratio.median));
    }
    assert.is(b.theorem32.La.length, 2);
    assert.ok(b.theorem32.La.every(Number.isFinite) && b.theorem32.L.every(Number.isFinite));
    assert.is(r.oracle.oracleObjective.length, 2);
    assert.ok(r.oracle.amv.oracle < r.oracle.amv.attacked, `the oracle removes attention variation: ${r.oracle.amv.attacked} → ${r.oracle.amv.oracle}`);
  } finally { s.cleanup(); }
});

test.run();
