import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng } from '../harness.js';
import { Tensor, asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { mul } from '../../src/engine/ops/elementwise.js';
import { sum } from '../../src/engine/ops/reduce.js';
import { grad } from '../../src/engine/autograd.js';
import { engine } from '../../src/engine/engine.js';
import { MAE } from '../../src/models/mae.js';
import { attentionCollector } from '../../src/models/vit.js';
import { MaeReconstruction, type ReconstructionModel } from '../../src/purify/loss.js';
import { AMV_PROBE_SEED_OFFSET, purify, purifyConfig, purifyDifferentiable, stepSizeAt, type PurifyOptions } from '../../src/purify/amrm.js';
import { PURIFY_PRESETS, purifyPreset } from '../../src/purify/presets.js';
import { setTuning } from '../../src/engine/tuning.js';
import { recordDispatches } from '../../src/engine/profile.js';

await setup();
const test = suite('purify: AMRM loop');

/** A stand-in with a hand-checkable gradient: loss = Σ w·x, so g = w and each step moves by −lambda·sign(w). */
function linearLoss(w: Float32Array, shape: [number, number, number]): ReconstructionModel {
  return {
    name: 'linear', inputShape: shape,
    reconstructionLoss: (x) => sum(mul(x, tensor(w, x.shape))),
  };
}

/** A very small MAE (8×8 images, four 4×4 patches) with random weights: fast on software adapters. */
const tinyMae = (): MAE => MAE.create({
  imgSize: 8, patchSize: 4, inChans: 3, embedDim: 16, depth: 1, numHeads: 2,
  decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, mlpRatio: 2,
}, { seed: 3 });

const opts = (o: Partial<PurifyOptions>): PurifyOptions => purifyConfig(undefined, { maskRatio: 0.5, ...o });

test('presets: the paper table by name, the MNIST one from its sweep', () => {
  assert.equal([purifyPreset('mae-cifar10').maskRatio, purifyPreset('mae-cifar10').steps, purifyPreset('mae-cifar10').halve], [0.25, 150, true]);
  assert.equal([PURIFY_PRESETS['mae-cifar100'].maskRatio, PURIFY_PRESETS['mae-cifar100'].steps, PURIFY_PRESETS['mae-cifar100'].halve], [0.3, 100, false]);
  assert.equal([PURIFY_PRESETS['mae-svhn'].maskRatio, PURIFY_PRESETS['mae-svhn'].steps, PURIFY_PRESETS['mae-svhn'].halve], [0.3, 150, true]);
  assert.equal([PURIFY_PRESETS['mae-mnist'].chosen, PURIFY_PRESETS['mae-mnist'].source], [true, 'sweep on MNIST training digits: bench/results/mnist-preset-sweep.json']);
  assert.throws(() => purifyPreset('mae-imagenet-xl'), /unknown preset 'mae-imagenet-xl'/);
  const c = purifyConfig('mae-cifar10', { steps: 4, eta: undefined });
  assert.equal([c.steps, c.eta, c.maskRatio, c.preset], [4, 16 / 255, 0.25, 'mae-cifar10']);
  assert.throws(() => purifyConfig(undefined, { masks: 0 }), /masks must be a positive integer/);
  // A preset may carry masks per step (maskdit-cifar10: 2, from its sweep); an override wins.
  assert.equal([purifyConfig('maskdit-cifar10').masks, purifyConfig('maskdit-cifar10', { masks: 1 }).masks, purifyConfig('mae-cifar10').masks], [2, 1, 1]);
  // The "1*" halving: steps 1..floor(S/2) at lambda, the rest at lambda/2 (s > S/2).
  assert.equal([1, 2, 3, 4, 5].map((s) => stepSizeAt({ steps: 5, stepSize: 1, halve: true }, s) * 255), [1, 1, 0.5, 0.5, 0.5]);
  assert.equal([1, 2, 3, 4].map((s) => stepSizeAt({ steps: 4, stepSize: 2, halve: true }, s) * 255), [2, 2, 1, 1]);
});

test('loop semantics on a linear loss: sign steps, "1*" halving, the eta ball and the [0, 1] clamp', async () => {
  // Six pixels of one image, w's sign says which way each moves (x decreases where w > 0).
  const x0 = Float32Array.of(0.5, 0.5, 0.002, 0.9995, 0.3, 0.7);
  const w = Float32Array.of(1, -1, 2, -0.5, 3, -3);
  const model = linearLoss(w, [1, 2, 3]);
  const L = 1 / 255;
  const run = async (o: Partial<PurifyOptions>, extra = {}) => asyncScope(async () => {
    const r = await purify(model, tensor(x0, [1, 1, 2, 3]), opts(o), extra);
    return { x: await r.images.data(), losses: r.losses };
  });
  // S 5, "1*": moves 1 + 1 + 0.5 + 0.5 + 0.5 = 3.5 grey levels; the ball of 3/255 stops it at 3.
  const seen: number[] = [];
  const a = await run({ steps: 5, stepSize: 1, halve: true, eta: 3 * L }, { trackLoss: true, onProgress: (s: number) => seen.push(s) });
  const want = [0.5 - 3 * L, 0.5 + 3 * L, 0, 1, 0.3 - 3 * L, 0.7 + 3 * L];
  want.forEach((v, i) => assert.ok(Math.abs(a.x[i] - v) < 1e-6, `pixel ${i}: ${a.x[i]} vs ${v}`));
  assert.equal(seen, [1, 2, 3, 4, 5]);
  // The loss is tracked at x_{s-1}: at x0 first.
  const loss0 = Array.from(x0).reduce((s, v, i) => s + v * w[i], 0);
  assert.ok(Math.abs(a.losses![0] - loss0) < 1e-5, `loss ${a.losses![0]} vs ${loss0}`);
  assert.is(a.losses!.length, 5);
  // Without the ball: the full 3.5 levels; the clamp still holds at 0 and 1.
  const b = await run({ steps: 5, stepSize: 1, halve: true, eta: Infinity });
  [0.5 - 3.5 * L, 0.5 + 3.5 * L, 0, 1, 0.3 - 3.5 * L, 0.7 + 3.5 * L].forEach((v, i) => assert.ok(Math.abs(b.x[i] - v) < 1e-6, `no ball, pixel ${i}: ${b.x[i]} vs ${v}`));
  // Without halving, 2 steps of 2/255: 4 levels, inside a ball of 5.
  const c = await run({ steps: 2, stepSize: 2, halve: false, eta: 5 * L });
  assert.ok(Math.abs(c.x[0] - (0.5 - 4 * L)) < 1e-6);
  // S = 0 gives the input back.
  const d = await run({ steps: 0 });
  assert.equal(Array.from(d.x), Array.from(x0));
});

test('input shape errors name the loop and the shapes', async () => {
  const model = linearLoss(new Float32Array(6), [1, 2, 3]);
  await asyncScope(async () => {
    try { await purify(model, tensor(new Float32Array(8), [1, 1, 2, 4]), opts({ steps: 1 })); assert.unreachable(); } catch (e) {
      assert.match((e as Error).message, /purify: images must be f32 \[B, 1, 2, 3\] for linear, got f32 \[1, 1, 2, 4\]/);
    }
  });
});

test('MAE loss: several masks per step average the single-mask losses; seeded purification repeats', async () => {
  const mae = tinyMae();
  try {
    const model = new MaeReconstruction(mae);
    const rng = new Rng(8);
    const B = 2;
    const x = Float32Array.from({ length: B * 3 * 64 }, () => rng.next());
    // Two masks for each of two images: rows 0-1 the first copy, rows 2-3 the second (2 of 4 patches hidden).
    const masks = [1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0];
    const [both, first, second] = await asyncScope(async () => {
      const xt = tensor(x, [B, 3, 8, 8]);
      const l2 = model.reconstructionLoss(xt, { maskRatio: 0.5, masks: 2, rng, mask: masks });
      const l1 = model.reconstructionLoss(xt, { maskRatio: 0.5, masks: 1, rng, mask: masks.slice(0, 8) });
      const l1b = model.reconstructionLoss(xt, { maskRatio: 0.5, masks: 1, rng, mask: masks.slice(8) });
      return [(await l2.data())[0], (await l1.data())[0], (await l1b.data())[0]];
    });
    assert.ok(Math.abs(both - (first + second) / 2) < 1e-5 * Math.abs(both), `${both} vs ${(first + second) / 2}`);
    const rt = engine().runtime;
    await rt.sync();
    const before = rt.stats().bytesInUse;
    const go = (seed: number, masksPerStep = 1) => asyncScope(async () => {
      const r = await purify(model, tensor(x, [B, 3, 8, 8]), opts({ steps: 3, seed, masks: masksPerStep, eta: 4 / 255 }), { trackLoss: true });
      return { x: await r.images.data(), losses: r.losses! };
    });
    const p1 = await go(1), p1b = await go(1), p2 = await go(2), p3 = await go(1, 2);
    await rt.sync();
    assert.is(rt.stats().bytesInUse, before, 'device memory back to its level after purification');
    assert.equal(Array.from(p1.x), Array.from(p1b.x), 'same seed, same result');
    assert.ok(p1.x.some((v, i) => v !== p2.x[i]), 'another seed draws other masks');
    assert.ok(p1.x.some((v, i) => v !== p3.x[i]), 'two masks per step differ from one');
    assert.ok(p1.losses.every(Number.isFinite));
    // Two purifications started at once through the API take turns: each gives what it gives alone,
    // and nothing stays allocated.
    const xa = tensor(x, [B, 3, 8, 8]), xb = tensor(x, [B, 3, 8, 8]);
    const [ra, rb] = await Promise.all([
      purify(model, xa, opts({ steps: 3, seed: 1, masks: 1, eta: 4 / 255 })),
      purify(model, xb, opts({ steps: 3, seed: 2, masks: 1, eta: 4 / 255 })),
    ]);
    assert.equal(Array.from(await ra.images.data()), Array.from(p1.x));
    assert.equal(Array.from(await rb.images.data()), Array.from(p2.x));
    for (const t of [ra.images, rb.images, xa, xb]) t.dispose();
    await rt.sync();
    assert.is(rt.stats().bytesInUse, before, 'concurrent purifications leave nothing allocated');
    // Every pixel moved by whole steps and stays within the ball and [0, 1].
    p1.x.forEach((v, i) => assert.ok(Math.abs(v - x[i]) <= 3 / 255 + 1e-6 && v >= 0 && v <= 1));
  } finally { mae.dispose(); }
});

test('the loop holds the weights frozen: their matmul textures are filled once per loop, and images, losses and exact gradients are those of the plain model', async () => {
  const mae = tinyMae();
  // llvmpipe's texture route forced on (also on SwiftShader here), with a size threshold out of reach:
  // only held weights are read through textures, the rest of the work and the plain model through
  // storage buffers.
  setTuning({ matmul: { textures: true, textureMinWork: 2 ** 40 } });
  try {
    const model = new MaeReconstruction(mae);
    const plain: ReconstructionModel = { name: model.name, inputShape: model.inputShape, reconstructionLoss: model.reconstructionLoss.bind(model) };
    const rng = new Rng(12);
    const B = 2, shape = [B, 3, 8, 8];
    const x0 = Float32Array.from({ length: B * 3 * 64 }, () => rng.next());
    const o = opts({ steps: 3, seed: 4, eta: 8 / 255 });
    const runOf = (m: ReconstructionModel) => asyncScope(async () => {
      const r = await purify(m, tensor(x0, shape), o, { trackLoss: true });
      const xin = tensor(x0, shape).requireGrad();
      const d = await purifyDifferentiable(m, xin, o, {}, 'tape');
      const [g] = grad(sum(d.images), [xin]);
      return { x: Array.from(await r.images.data()), losses: Array.from(r.losses!), g: Array.from(await g.data()) };
    });
    const a = await runOf(model), b = await runOf(plain);
    assert.equal(a.x, b.x, 'the same purified images');
    assert.equal(a.losses, b.losses, 'the same losses');
    assert.equal(a.g, b.g, 'the same gradients through the loop');
    const fills = async (m: ReconstructionModel, steps: number): Promise<number> => (await recordDispatches(() => asyncScope(async () => {
      (await purify(m, tensor(x0, shape), opts({ steps, seed: 4 }))).images.dispose();
    }))).filter((n) => /to_texture/.test(n)).length; // rows of 16-48 floats: filled by a kernel, not a copy
    const [held1, held3, plain1, plain3] = [await fills(model, 1), await fills(model, 3), await fills(plain, 1), await fills(plain, 3)];
    assert.ok(held1 > 0 && held3 === held1, `held: filled in the first step only (${held1}, ${held3})`);
    assert.ok(plain1 === 0 && plain3 === 0, `plain: no texture (${plain1}, ${plain3})`);
  } finally {
    setTuning({ matmul: undefined });
    mae.dispose();
  }
});

test('AMV trajectory: per step and layer, the mean over heads and images of ‖A(x_s) − A(ref)‖_F under one probe mask', async () => {
  const mae = MAE.create({
    imgSize: 8, patchSize: 2, inChans: 3, embedDim: 16, depth: 2, numHeads: 2,
    decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, mlpRatio: 2,
  }, { seed: 5 });
  try {
    const model = new MaeReconstruction(mae);
    const rng = new Rng(21);
    const B = 2, S = 3;
    const x = Float32Array.from({ length: B * 3 * 64 }, () => rng.next());
    const clean = Float32Array.from(x, (v) => Math.min(1, Math.max(0, v + (rng.next() - 0.5) * 0.2)));
    const o = opts({ steps: S, seed: 4, eta: 8 / 255 });
    const [plain, tracked, vsClean] = await asyncScope(async () => {
      const x0 = tensor(x, [B, 3, 8, 8]);
      const a = await purify(model, x0, o, { trajectory: true });
      const b = await purify(model, x0, o, { trajectory: true, trackAmv: true });
      const c = await purify(model, x0, o, { trackAmv: true, amvReference: tensor(clean, [B, 3, 8, 8]) });
      return [a, b, c];
    });
    assert.equal(Array.from(tracked.trajectory![S - 1]), Array.from(plain.trajectory![S - 1]), 'tracking changes no image');
    // onStep sees every iterate and its loss as they come, and changes nothing either.
    const seen: { step: number; x: number[]; loss: number }[] = [];
    const withLoss = await asyncScope(async () => purify(model, tensor(x, [B, 3, 8, 8]), o, {
      trackLoss: true, onStep: async ({ step, x: xs, loss }) => { seen.push({ step, x: Array.from(await xs.data()), loss: (await loss.data())[0] }); },
    }));
    assert.equal(seen.map((q) => q.step), [1, 2, 3]);
    seen.forEach((q, k) => {
      assert.equal(q.x, Array.from(plain.trajectory![k]), `onStep's x_${k + 1}`);
      assert.is(q.loss, withLoss.losses![k], `onStep's loss at step ${k + 1}`);
    });
    const amv = tracked.amv!;
    // With trackAmv, onStep also hands over x_s's AMV, the trajectory's entry for step s.
    const stepAmv: { encoder: number[]; decoder: number[] }[] = [];
    await asyncScope(async () => purify(model, tensor(x, [B, 3, 8, 8]), o, { trackAmv: true, onStep: ({ amv: a }) => { stepAmv.push(a!); } }));
    assert.equal(stepAmv, Array.from({ length: S }, (_, k) => ({ encoder: amv.encoder[k + 1], decoder: amv.decoder[k + 1] })), 'onStep\'s AMV per step');
    assert.is(amv.encoder.length, S + 1);
    assert.ok(amv.encoder.every((l) => l.length === 2) && amv.decoder.every((l) => l.length === 1), 'two encoder layers, one decoder layer');
    assert.ok([...amv.encoder[0], ...amv.decoder[0]].every((v) => v === 0), 'x_0 against itself under the same mask');
    // Host float64 check of step 2 and of the clean reference at step 0, from the model's own maps.
    const maps = async (img: Float32Array): Promise<Float32Array[]> => asyncScope(async () => {
      const { probe, maps } = attentionCollector();
      mae.forward(tensor(img, [B, 3, 8, 8]), { maskRatio: o.maskRatio, seed: o.seed + AMV_PROBE_SEED_OFFSET, probe, probeProbs: true });
      const all = [...maps.encoder, ...maps.decoder];
      const data = await Promise.all(all.map((t) => t.data()));
      all.forEach((t) => t.dispose());
      return data;
    });
    const amvHost = (a: Float32Array[], b: Float32Array[], n: number[]): number[] => a.map((m, l) => {
      const per = n[l] * n[l], maps = m.length / per;
      let total = 0;
      for (let k = 0; k < maps; k++) {
        let ss = 0;
        for (let i = k * per; i < (k + 1) * per; i++) ss += (m[i] - b[l][i]) ** 2;
        total += Math.sqrt(ss);
      }
      return total / maps;
    });
    const tokens = [9, 9, 17]; // 1 + 8 visible of 16 patches in the encoder, 1 + 16 in the decoder
    const ref = await maps(x);
    const want2 = amvHost(await maps(tracked.trajectory![1]), ref, tokens);
    const got2 = [...amv.encoder[2], ...amv.decoder[2]];
    got2.forEach((g, l) => assert.ok(Math.abs(g - want2[l]) <= 1e-4 * Math.max(want2[l], 1e-3), `layer ${l}: ${g} vs ${want2[l]}`));
    assert.ok(want2.some((v) => v > 1e-4), 'the steps moved the attention');
    const wantClean = amvHost(ref, await maps(clean), tokens);
    [...vsClean.amv!.encoder[0], ...vsClean.amv!.decoder[0]].forEach((g, l) => assert.ok(Math.abs(g - wantClean[l]) <= 1e-4 * Math.max(wantClean[l], 1e-3)));
    const err = await asyncScope(() => purify(linearLoss(new Float32Array(12), [3, 2, 2]), tensor(new Float32Array(12), [1, 3, 2, 2]), o, { trackAmv: true })
      .then(() => 'no error', (e: Error) => e.message));
    assert.match(err, /trackAmv needs a model with attention maps, linear has none/);
  } finally { mae.dispose(); }
});

test('autograd through the unrolled loop equals the closed form of docs/method.md section 5', async () => {
  // d x_S / d x0 is diagonal. Per pixel, along the steps: J_0 = 1; at step s, J_s = 0 where the [0, 1]
  // clamp holds, 1 where the ball holds (the pixel sits at x0 ± eta, which follows x0), and J_{s−1}
  // where the pixel is free (the sign term has zero derivative). This is the product of the
  // projection and clamp Jacobians along the chain, with the ball's bound contributing through x0.
  const mae = tinyMae();
  try {
    const model = new MaeReconstruction(mae);
    const rng = new Rng(21);
    const B = 2, n = B * 3 * 64;
    // Pixels near 0, near 1 and in the middle, so that all three cases occur.
    const x0 = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? rng.uniform(0, 2.5 / 255) : i % 3 === 1 ? rng.uniform(1 - 2.5 / 255, 1) : rng.uniform(0.2, 0.8)));
    const u = Float32Array.from({ length: n }, () => rng.uniform(0.5, 1.5) * (rng.next() < 0.5 ? -1 : 1));
    const eta = 2.5 / 255; // not a multiple of the step: no pixel ever lands on a bound by a free step
    const o = opts({ steps: 8, stepSize: 1, halve: false, eta, seed: 5 });
    const plain = await asyncScope(async () => {
      const r = await purify(model, tensor(x0, [B, 3, 8, 8]), o, { trajectory: true });
      return { x: await r.images.data(), traj: r.trajectory! };
    });
    const [xs, g] = await asyncScope(async () => {
      const x0t = tensor(x0, [B, 3, 8, 8]).requireGrad();
      const r = await purifyDifferentiable(model, x0t, o, {}, 'tape');
      const [gx] = grad(sum(mul(r.images, tensor(u, [B, 3, 8, 8]))), [x0t]);
      const out = [await r.images.data(), await gx.data()] as const;
      gx.dispose();
      return out;
    });
    assert.equal(Array.from(xs), Array.from(plain.x), 'the differentiable loop computes the same images');
    const J = new Float64Array(n).fill(1);
    const counts = { free: 0, ball: 0, clamp: 0, revived: 0 };
    for (const xsStep of plain.traj) {
      for (let i = 0; i < n; i++) {
        const lo = Math.fround(x0[i] - Math.fround(eta)), hi = Math.fround(x0[i] + Math.fround(eta));
        const v = xsStep[i];
        if (v === 0 || v === 1) { J[i] = 0; counts.clamp++; } else if (v === lo || v === hi) { if (J[i] === 0) counts.revived++; J[i] = 1; counts.ball++; } else counts.free++;
      }
    }
    for (let i = 0; i < n; i++) assert.is(g[i], Math.fround(u[i] * J[i]), `pixel ${i}: autograd ${g[i]}, closed form ${u[i] * J[i]}`);
    assert.ok(counts.free > 0 && counts.ball > 0 && counts.clamp > 0, `every case occurs: ${JSON.stringify(counts)}`);
    assert.ok(J.some((v) => v === 0) && J.some((v) => v === 1));
  } finally { mae.dispose(); }
});

test('the closed-form gradient route equals the tape: same images, same gradients, ties (half gradients) and no ball included', async () => {
  const mae = tinyMae();
  try {
    const model = new MaeReconstruction(mae);
    const B = 2, n = B * 3 * 64;
    const rng = new Rng(31);
    // Pixels on the 8-bit grid with a ball of whole steps: free steps land exactly on the ball's
    // bounds and on 0 and 1, so the ties of max, min and the clamp all occur.
    const grid = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : i % 5 === 1 ? 1 : Math.round(rng.uniform(0, 255)) / 255));
    const smooth = Float32Array.from({ length: n }, () => rng.uniform(0.1, 0.9));
    const u = Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
    const cases: [string, Float32Array, Partial<PurifyOptions>][] = [
      ['ties: 8-bit pixels, ball of 2 steps', grid, { steps: 6, stepSize: 1, halve: false, eta: 2 / 255, seed: 2 }],
      ['the 1* schedule, ball of 2.5 steps', smooth, { steps: 8, stepSize: 1, halve: true, eta: 2.5 / 255, seed: 3 }],
      ['no ball', grid, { steps: 5, stepSize: 2, halve: false, eta: Infinity, seed: 4 }],
    ];
    for (const [name, x0, o] of cases) {
      const results: { x: Float32Array; g: Float32Array }[] = [];
      for (const route of ['closed-form', 'tape'] as const) {
        results.push(await asyncScope(async () => {
          const x0t = tensor(x0, [B, 3, 8, 8]).requireGrad();
          const r = await purifyDifferentiable(model, x0t, opts(o), {}, route);
          const [gx] = grad(sum(mul(r.images, tensor(u, [B, 3, 8, 8]))), [x0t]);
          const out = { x: await r.images.data(), g: await gx.data() };
          gx.dispose();
          return out;
        }));
      }
      const [cf, tape] = results;
      assert.equal(Array.from(cf.x), Array.from(tape.x), `${name}: the same images`);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(cf.g[i] - tape.g[i]));
      assert.ok(worst <= 1e-6, `${name}: the gradients differ by up to ${worst}`);
      const halves = tape.g.filter((v, i) => v !== 0 && Math.abs(Math.abs(v / u[i]) - 1) > 1e-6).length;
      if (name.startsWith('ties')) assert.ok(halves > 0, 'a tie occurred (a gradient neither 0 nor the full upstream)');
    }
    // Plain purification gives the same images as both routes.
    const plain = await asyncScope(async () => (await purify(model, tensor(grid, [B, 3, 8, 8]), opts(cases[0][2]))).images.data());
    const tape = await asyncScope(async () => (await purifyDifferentiable(model, tensor(grid, [B, 3, 8, 8]), opts(cases[0][2]), {}, 'tape')).images.data());
    assert.equal(Array.from(plain), Array.from(tape));
    await asyncScope(async () => {
      try {
        await purifyDifferentiable(model, tensor(grid, [B, 3, 8, 8]), opts({ steps: 1 }), {}, 'forward' as 'tape');
        assert.unreachable('should have thrown');
      } catch (e) { assert.match((e as Error).message, /unknown gradient route 'forward'/); }
    });
  } finally { mae.dispose(); }
});

test('the closed-form route holds memory flat in S; the tape grows with it', async () => {
  const mae = tinyMae();
  try {
    const model = new MaeReconstruction(mae);
    const rt = engine().runtime;
    const x0 = Float32Array.from({ length: 2 * 3 * 64 }, (_, i) => ((i * 37) % 255) / 255);
    const peak = async (route: 'closed-form' | 'tape', steps: number): Promise<number> => {
      await rt.sync();
      const before = rt.stats().bytesInUse;
      rt.resetPeak();
      await asyncScope(async () => {
        const x = tensor(x0, [2, 3, 8, 8]).requireGrad();
        const r = await purifyDifferentiable(model, x, opts({ steps, eta: 4 / 255 }), {}, route);
        const [g] = grad(sum(r.images), [x]);
        await g.data();
        g.dispose();
      });
      return rt.stats().peakBytesInUse - before;
    };
    await peak('closed-form', 1); // first use allocates the pipelines' uniforms, not counted
    const [cf2, cf12, tape2, tape12] = [await peak('closed-form', 2), await peak('closed-form', 12), await peak('tape', 2), await peak('tape', 12)];
    assert.is(cf12, cf2, `closed form: ${cf2} bytes at S 2, ${cf12} at S 12`);
    assert.ok(tape12 > tape2, `tape: ${tape2} bytes at S 2, ${tape12} at S 12`);
  } finally { mae.dispose(); }
});

test.run();
export type { Tensor };
