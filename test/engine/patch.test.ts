import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, arr, type Arr, checkForward, checkGrad, upload, download, normRelErr, finiteDiff } from '../harness.js';
import { patchify, unpatchify, reconstructionLoss, destandardizePatches, setPatchLossImpl, getPatchLossImpl, type PatchLossImpl } from '../../src/engine/ops/patch.js';
import * as R from '../../src/engine/reference/patch.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';

const eng = await setup();
const rng = new Rng(4321);
const test = suite('patch reconstruction');

// [B, C, H, W], p: CIFAR MAE shapes (p 4 -> n 64, D 48; also p 2 and 8; a batch of 64), the
// ImageNet MAE's (224², p 16 -> n 196, D 768) and odd ones.
const CASES: [number[], number][] = [
  [[1, 3, 32, 32], 4], [[3, 3, 32, 32], 4], [[8, 3, 32, 32], 4], [[64, 3, 32, 32], 4], [[1, 3, 224, 224], 16],
  [[2, 3, 32, 32], 2], [[2, 3, 32, 32], 8],
  [[3, 1, 12, 20], 4], [[2, 2, 6, 10], 2],
];
const RATIOS = [0.25, 0.75, 1];

const image = (shape: number[]): Arr => rand(rng, shape, { lo: 0, hi: 1 });
const predFor = (shape: number[], p: number): Arr => {
  const [B, C, H, W] = shape;
  return rand(rng, [B, (H / p) * (W / p), p * p * C], { lo: -1.5, hi: 1.5 });
};
/** Each row hides round(ratio·n) patches chosen at random (1 = hidden). */
function maskFor(B: number, n: number, ratio: number): Arr {
  const m = arr([B, n]);
  const hide = Math.round(ratio * n);
  for (let b = 0; b < B; b++) {
    const perm = rng.permutation(n);
    for (let k = 0; k < hide; k++) m.data[b * n + perm[k]] = 1;
  }
  return m;
}
const nOf = (shape: number[], p: number): number => (shape[2] / p) * (shape[3] / p);
const label = (shape: number[], p: number, normPix: boolean, ratio: number, impl: string): string =>
  `${impl} [${shape}] p ${p} normPix ${normPix} ratio ${ratio}`;

/** The GPU loss and its gradients to pred and img (upstream gradient gy). */
async function lossAndGrads(impl: PatchLossImpl, pred: Arr, img: Arr, mask: Arr, p: number, normPix: boolean, gy: number) {
  return asyncScope(async () => {
    const tp = upload(pred).requireGrad(), tx = upload(img).requireGrad(), tm = upload(mask);
    const loss = reconstructionLoss(tp, tx, tm, { p, normPix, impl });
    assert.equal([...loss.shape], [], 'the loss is a scalar');
    const value = (await loss.data())[0];
    backward(loss, upload(arr([], [gy])));
    assert.is(tm.grad, undefined, 'the mask gets no gradient');
    return { value, pred: await download(tp.grad!), img: await download(tx.grad!) };
  });
}

test('patchify / unpatchify equal the reference layout and invert each other; each is the other\'s backward', async () => {
  for (const [shape, p] of [...CASES, [[2, 3, 5, 7], 1], [[1, 1, 1, 1], 1]] as [number[], number][]) {
    const img = rand(rng, shape);
    await checkForward({ name: 'patchify', inputs: [img], gpu: (x) => patchify(x, p), ref: (x) => R.patchify(x, p) });
    const [, C, H, W] = shape;
    const patches = R.patchify(img, p);
    await checkForward({ name: 'unpatchify', inputs: [patches], gpu: (x) => unpatchify(x, p, C, H, W), ref: (x) => R.unpatchify(x, p, C, H, W) });
    await checkForward({ name: 'round trip', inputs: [img], gpu: (x) => unpatchify(patchify(x, p), p, C, H, W), ref: (x) => x });
  }
  // The MAE order, spelled out on a tiny image: patch 1 is the top-right one, values (row, col, channel).
  const img = arr([1, 2, 2, 4], Array.from({ length: 16 }, (_, i) => i));
  const want = [0, 8, 1, 9, 4, 12, 5, 13, 2, 10, 3, 11, 6, 14, 7, 15];
  await checkForward({ name: 'patchify order', inputs: [img], gpu: (x) => patchify(x, 2), ref: () => arr([1, 2, 8], want) });
  await checkGrad({ name: 'patchify', inputs: [rand(rng, [2, 3, 6, 4])], gpu: (x) => patchify(x, 2), ref: (x) => R.patchify(x, 2) }, rng);
  await checkGrad({ name: 'unpatchify', inputs: [rand(rng, [2, 6, 12])], gpu: (x) => unpatchify(x, 2, 3, 6, 4), ref: (x) => R.unpatchify(x, 2, 3, 6, 4) }, rng);
});

test('destandardizePatches undoes normPix with the image\'s own patch statistics (float64 reference; the round trip)', async () => {
  for (const [shape, p] of [[[2, 3, 32, 32], 4], [[1, 1, 28, 28], 4], [[3, 1, 12, 20], 2]] as [number[], number][]) {
    const img = image(shape), pred = predFor(shape, p);
    await checkForward({ name: `destandardize [${shape}] p ${p}`, inputs: [pred, img], gpu: (a, x) => destandardizePatches(a, x, p), ref: (a, x) => R.destandardizePatches(a, x, p), metric: 'norm' });
    // Standardizing the image's patches and undoing it gives the patches back.
    const t = R.patchify(img, p), [B, n, dim] = t.shape, z = arr(t.shape);
    for (let q = 0; q < B * n; q++) {
      const row = t.data.subarray(q * dim, (q + 1) * dim), mu = row.reduce((s, v) => s + v, 0) / dim;
      const sd = Math.sqrt(row.reduce((s, v) => s + (v - mu) ** 2, 0) / (dim - 1) + 1e-6);
      for (let e = 0; e < dim; e++) z.data[q * dim + e] = (row[e] - mu) / sd;
    }
    await checkForward({ name: `round trip [${shape}]`, inputs: [z, img], gpu: (a, x) => destandardizePatches(a, x, p), ref: () => t, metric: 'norm', tol: 1e-4 });
  }
});

test('the float64 analytic gradients equal finite differences of the float64 loss', () => {
  for (const [shape, p] of [[[2, 3, 4, 8], 2], [[1, 2, 6, 3], 3]] as [number[], number][]) {
    for (const normPix of [false, true]) {
      const pred = predFor(shape, p), img = image(shape), mask = maskFor(shape[0], nOf(shape, p), 0.5);
      const g = R.reconstructionLossGrad(pred, img, mask, { p, normPix }, 0.7);
      const f = (a: Arr, b: Arr): Arr => R.reconstructionLoss(a, b, mask, { p, normPix });
      const gy = arr([], [0.7]);
      assert.ok(normRelErr(g.pred.data, finiteDiff(f, [pred, img], 0, gy)) < 1e-7, `pred [${shape}] normPix ${normPix}`);
      assert.ok(normRelErr(g.img.data, finiteDiff(f, [pred, img], 1, gy)) < 1e-7, `img [${shape}] normPix ${normPix}`);
    }
  }
});

test('fused and composed loss and both gradients equal the float64 reference and each other (MAE and odd shapes)', async () => {
  for (const [shape, p] of CASES) {
    for (const normPix of [false, true]) {
      for (const ratio of RATIOS) {
        const pred = predFor(shape, p), img = image(shape), mask = maskFor(shape[0], nOf(shape, p), ratio);
        const gy = rng.uniform(0.5, 2);
        const want = R.reconstructionLoss(pred, img, mask, { p, normPix }).data[0];
        const wantG = R.reconstructionLossGrad(pred, img, mask, { p, normPix }, gy);
        const got: Record<string, Awaited<ReturnType<typeof lossAndGrads>>> = {};
        for (const impl of ['fused', 'composed'] as const) {
          const name = label(shape, p, normPix, ratio, impl);
          const r = (got[impl] = await lossAndGrads(impl, pred, img, mask, p, normPix, gy));
          const e = Math.abs(r.value - want) / Math.abs(want);
          assert.ok(e <= 1e-4, `${name}: loss ${r.value} vs ${want} (rel ${e.toExponential(2)})`);
          const ep = normRelErr(r.pred.data, wantG.pred.data), ex = normRelErr(r.img.data, wantG.img.data);
          assert.ok(ep <= 1e-4, `${name}: d pred off by ${ep.toExponential(2)}`);
          assert.ok(ex <= 1e-4, `${name}: d img off by ${ex.toExponential(2)}`);
        }
        const name = label(shape, p, normPix, ratio, 'fused vs composed');
        assert.ok(Math.abs(got.fused.value - got.composed.value) <= 1e-4 * Math.abs(want), `${name}: loss`);
        assert.ok(normRelErr(got.fused.pred.data, got.composed.pred.data) <= 1e-4, `${name}: d pred`);
        assert.ok(normRelErr(got.fused.img.data, got.composed.img.data) <= 1e-4, `${name}: d img`);
      }
    }
  }
});

test('both paths pass finite-difference checks of the float64 loss (autograd, random upstream gradient)', async () => {
  for (const [shape, p] of [[[1, 3, 32, 32], 4], [[1, 1, 12, 20], 4], [[2, 3, 8, 8], 8]] as [number[], number][]) {
    for (const normPix of [false, true]) {
      const mask = maskFor(shape[0], nOf(shape, p), 0.75);
      for (const impl of ['fused', 'composed'] as const) {
        await checkGrad({
          name: label(shape, p, normPix, 0.75, impl), inputs: [predFor(shape, p), image(shape), mask], wrt: [0, 1],
          gpu: (a, b, m) => reconstructionLoss(a, b, m, { p, normPix, impl }),
          ref: (a, b, m) => R.reconstructionLoss(a, b, m, { p, normPix }),
        }, rng);
      }
    }
  }
});

test('the image gradient includes the path through the target (and through the norm_pix statistics)', async () => {
  const shape = [1, 3, 32, 32], p = 4;
  for (const normPix of [false, true]) {
    const pred = predFor(shape, p), img = image(shape), mask = maskFor(1, 64, 0.25);
    await asyncScope(async () => {
      // pred is a fixed tensor that asks for no gradient: img enters the loss ONLY as the target.
      const tp = upload(pred), tx = upload(img).requireGrad();
      backward(reconstructionLoss(tp, tx, upload(mask), { p, normPix, impl: 'fused' }));
      const got = await download(tx.grad!);
      const fd = finiteDiff((x) => R.reconstructionLoss(pred, x, mask, { p, normPix }), [img], 0, arr([], [1]));
      const err = normRelErr(got.data, fd);
      assert.ok(err <= 1e-4, `normPix ${normPix}: d img off by ${err.toExponential(2)} from finite differences of the target-only loss`);
      const size = Math.max(...got.data.map(Math.abs));
      assert.ok(size > 1e-4, `normPix ${normPix}: the target path gives a nonzero gradient (max |d img| ${size})`);
      // A visible patch takes no gradient: its top-left pixel, channel 0, image 0.
      const visible = mask.data.indexOf(0);
      assert.ok(got.data[Math.floor(visible / 8) * 4 * 32 + (visible % 8) * 4] === 0, 'a visible patch gets no gradient');
      if (normPix) {
        // Holding each patch's mean and variance fixed (t = (x − μ)·rstd with constant μ, rstd) would
        // give d img = −(d pred)·rstd; the true gradient differs because the statistics depend on img.
        const { pred: gp } = R.reconstructionLossGrad(pred, img, mask, { p, normPix });
        const patches = R.patchify(img, p);
        for (let q = 0; q < 64; q++) {
          const row = patches.data.subarray(q * 48, (q + 1) * 48);
          const mu = row.reduce((s, v) => s + v, 0) / 48;
          const rstd = 1 / Math.sqrt(row.reduce((s, v) => s + (v - mu) ** 2, 0) / 47 + 1e-6);
          for (let k = q * 48; k < (q + 1) * 48; k++) gp.data[k] *= -rstd;
        }
        const statsHeld = R.unpatchify(gp, p, 3, 32, 32);
        assert.ok(normRelErr(got.data, statsHeld.data) > 1e-2, 'the statistics path changes the image gradient');
      }
    });
  }
});

test('normPix stays accurate on nearly constant patches (large mean, small variance)', async () => {
  const shape = [2, 3, 16, 16], p = 4;
  const img = rand(rng, shape, { lo: 0.8, hi: 0.81 });
  const pred = predFor(shape, p), mask = maskFor(2, 16, 0.75);
  const want = R.reconstructionLoss(pred, img, mask, { p, normPix: true }).data[0];
  const wantG = R.reconstructionLossGrad(pred, img, mask, { p, normPix: true });
  for (const impl of ['fused', 'composed'] as const) {
    const r = await lossAndGrads(impl, pred, img, mask, p, true, 1);
    const e = Math.abs(r.value - want) / Math.abs(want);
    assert.ok(e <= 1e-4, `${impl}: loss rel ${e.toExponential(2)}`);
    assert.ok(normRelErr(r.pred.data, wantG.pred.data) <= 1e-4, `${impl}: d pred`);
    assert.ok(normRelErr(r.img.data, wantG.img.data) <= 1e-4, `${impl}: d img ${normRelErr(r.img.data, wantG.img.data)}`);
  }
});

test('a mask that hides nothing gives loss 0 and zero gradients (Σ mask clamped, not 0/0)', async () => {
  const shape = [2, 3, 8, 8], p = 4;
  for (const impl of ['fused', 'composed'] as const) {
    for (const normPix of [false, true]) {
      const r = await lossAndGrads(impl, predFor(shape, p), image(shape), arr([2, 4]), p, normPix, 1);
      assert.ok(r.value === 0, `${impl}: loss ${r.value}`);
      assert.ok(r.pred.data.every((v) => v === 0) && r.img.data.every((v) => v === 0), `${impl}: gradients`);
    }
  }
});

test('the implementation is chosen per call or by the module default', async () => {
  assert.is(getPatchLossImpl(), 'fused');
  const shape = [1, 3, 8, 8], p = 4;
  const [pred, img, mask] = [predFor(shape, p), image(shape), maskFor(1, 4, 0.5)];
  const opOf = (impl?: PatchLossImpl): Promise<string | undefined> => asyncScope(async () => {
    const loss = reconstructionLoss(upload(pred).requireGrad(), upload(img), upload(mask), { p, impl });
    return loss.node?.op;
  });
  assert.is(await opOf(), 'reconstructionLoss');
  setPatchLossImpl('composed');
  try {
    assert.is(getPatchLossImpl(), 'composed');
    assert.is(await opOf(), 'div', 'the default now builds the loss from primitive ops');
    assert.is(await opOf('fused'), 'reconstructionLoss', 'a per-call choice overrides the default');
  } finally {
    setPatchLossImpl('fused');
  }
  assert.throws(() => setPatchLossImpl('fast' as PatchLossImpl), /setPatchLossImpl: unknown implementation 'fast'/);
});

test('no buffer leaks: forward and backward of both paths return the pool to its baseline', async () => {
  const shape = [2, 3, 16, 16], p = 4;
  const [pred, img, mask] = [predFor(shape, p), image(shape), maskFor(2, 16, 0.5)];
  const rt = eng.runtime;
  const before = rt.stats().bytesInUse;
  for (let i = 0; i < 20; i++) {
    for (const impl of ['fused', 'composed'] as const) {
      await asyncScope(async () => {
        const tp = upload(pred).requireGrad(), tx = upload(img).requireGrad();
        backward(reconstructionLoss(tp, tx, upload(mask), { p, normPix: i % 2 === 1, impl }));
        await tx.grad!.data();
      });
    }
  }
  assert.is(rt.stats().bytesInUse, before);
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const img = upload(image([2, 3, 8, 8])), pred = upload(predFor([2, 3, 8, 8], 4)), mask = upload(maskFor(2, 4, 0.5));
    assert.throws(() => patchify(upload(image([2, 3, 10, 8])), 4), /patchify: image \[2, 3, 10, 8\] has H 10 or W 8 not divisible by patch size 4/);
    assert.throws(() => patchify(upload(image([3, 8, 8])), 4), /patchify: image must be \[B, C, H, W\], got \[3, 8, 8\]/);
    assert.throws(() => patchify(img, 0), /patchify: patch size 0 must be a positive integer/);
    assert.throws(() => unpatchify(pred, 4, 3, 8, 12), /unpatchify: patches \[2, 4, 48\] must be \[B, n, p·p·C\] = \[2, 6, 48\]/);
    assert.throws(() => reconstructionLoss(pred, img, mask, { p: 2 }), /reconstructionLoss: prediction \[2, 4, 48\] must be \[B, n, p·p·C\] = \[2, 16, 12\]/);
    assert.throws(() => reconstructionLoss(pred, img, upload(maskFor(2, 3, 0.5)), { p: 4 }), /reconstructionLoss: mask \[2, 3\] must be \[B, n\] = \[2, 4\]/);
    assert.throws(() => reconstructionLoss(pred, img, mask, { p: 4, impl: 'x' as PatchLossImpl }), /reconstructionLoss: unknown implementation 'x'/);
    const one = upload(image([1, 1, 2, 2]));
    assert.throws(() => reconstructionLoss(upload(predFor([1, 1, 2, 2], 1)), one, upload(maskFor(1, 4, 0.5)), { p: 1, normPix: true }), /reconstructionLoss: normPix needs at least 2 values per patch/);
    // The engine stays usable after a rejected call.
    assert.ok((await reconstructionLoss(pred, img, mask, { p: 4 }).data())[0] > 0);
  });
});

test.run();
