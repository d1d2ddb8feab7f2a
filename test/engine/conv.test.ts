import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download, normRelErr, type Arr } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/conv.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';
import { engine } from '../../src/engine/engine.js';
import { setTuning } from '../../src/engine/tuning.js';

await setup();
const rng = new Rng(2718);
const test = suite('conv2d');

type Opts = { stride?: number | [number, number]; padding?: number | [number, number] };
interface Case { x: number[]; w: number[]; bias: boolean; opts: Opts; }

const CASES: Case[] = [
  { x: [2, 3, 5, 7], w: [4, 3, 3, 3], bias: true, opts: { stride: 1, padding: 1 } },
  { x: [1, 1, 1, 1], w: [1, 1, 1, 1], bias: false, opts: {} },
  { x: [2, 3, 9, 8], w: [5, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1 } },
  { x: [3, 2, 6, 5], w: [3, 2, 2, 3], bias: false, opts: { stride: [2, 1], padding: [0, 2] } },
  { x: [1, 5, 4, 11], w: [6, 5, 1, 1], bias: true, opts: {} },
  { x: [2, 17, 6, 6], w: [9, 17, 3, 3], bias: true, opts: { stride: 1, padding: 1 } },
  { x: [1, 2, 7, 7], w: [3, 2, 5, 5], bias: false, opts: { stride: 3, padding: 2 } },
  { x: [2, 1, 1, 9], w: [2, 1, 1, 3], bias: true, opts: { stride: [1, 2] } },
];

function convCase(c: Case, name = 'conv2d') {
  const inputs: Arr[] = [rand(rng, c.x), rand(rng, c.w, { lo: -0.5, hi: 0.5 })];
  if (c.bias) inputs.push(rand(rng, [c.w[0]]));
  return {
    name: `${name} ${JSON.stringify(c.opts)}`, inputs, metric: 'norm' as const, tol: 1e-4,
    gpu: (x: Tensor, w: Tensor, b?: Tensor) => ops.conv2d(x, w, b, c.opts),
    ref: (x: Arr, w: Arr, b?: Arr) => R.conv2d(x, w, b, c.opts),
  };
}

// Every kernel variant runs on every adapter (the tuning picks one per adapter by default),
// except the blocked one on SwiftShader, which never picks it (its compiler took over 20 GB on it).
const VARIANTS = engine().gpu.kind === 'swiftshader' ? ['registers', 'matrices'] as const : ['blocked', 'registers', 'matrices'] as const;

test('forward on odd sizes, strides, paddings, size-1 dims (every kernel variant)', async () => {
  for (const variant of VARIANTS) {
    setTuning({ conv: variant });
    for (const c of CASES) await checkForward(convCase(c, `conv2d ${variant}`));
  }
  setTuning({ conv: undefined });
});

test('backward to x, w and bias by finite differences (every kernel variant)', async () => {
  const extra: Case[] = [
    { x: [1, 3, 7, 6], w: [5, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1 } },
    // Channel counts that leave partial channel blocks in every kernel.
    { x: [2, 9, 3, 4], w: [10, 9, 3, 2], bias: true, opts: { padding: [1, 0] } },
    // The blocked kernels' tiles (16 channels × 16 pixels, 4 columns in the weight gradient) left
    // partial: 17 channels, 13 and 6 columns (16×1 and 4×4 pixel blocks), and a padding wider than
    // the kernel, where the input gradient is not a plain convolution.
    { x: [2, 3, 5, 13], w: [17, 3, 3, 3], bias: true, opts: { stride: 1, padding: 1 } },
    { x: [1, 4, 5, 6], w: [18, 4, 3, 3], bias: true, opts: { padding: 1 } },
    { x: [1, 2, 3, 4], w: [3, 2, 2, 2], bias: false, opts: { padding: 2 } },
  ];
  for (const variant of VARIANTS) {
    setTuning({ conv: variant });
    for (const c of [CASES[0], CASES[1], CASES[3], CASES[6], CASES[7], ...extra]) await checkGrad(convCase(c, `conv2d ${variant}`), rng);
  }
  setTuning({ conv: undefined });
});

test('weight gradient with the batch split into uneven runs (wide layers)', async () => {
  // 64→64 channels make enough weight blocks that the batch of 7 is split into runs of 2 (4 runs).
  const [n, c, o, h, w] = [7, 64, 64, 3, 4];
  const xa = rand(rng, [n, c, h, w]), wa = rand(rng, [o, c, 3, 3], { lo: -0.2, hi: 0.2 }), ga = rand(rng, [n, o, h, w]);
  await asyncScope(async () => {
    const wt = upload(wa).requireGrad();
    backward(ops.conv2d(upload(xa), wt, undefined, { padding: 1 }), upload(ga));
    const got = await download(wt.grad!);
    const want = new Float64Array(wa.data.length);
    for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) for (let oy = 0; oy < h; oy++) for (let ox = 0; ox < w; ox++) {
      const g = ga.data[((b * o + oc) * h + oy) * w + ox];
      for (let ic = 0; ic < c; ic++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const iy = oy - 1 + ky, ix = ox - 1 + kx;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) want[((oc * c + ic) * 3 + ky) * 3 + kx] += g * xa.data[((b * c + ic) * h + iy) * w + ix];
      }
    }
    const err = normRelErr(got.data, want);
    assert.ok(err < 1e-4, `conv2d weight gradient off by ${err.toExponential(2)}`);
  });
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [2, 3, 5, 5])), w = upload(rand(rng, [4, 2, 3, 3])), w3 = upload(rand(rng, [4, 3, 3, 3]));
    assert.throws(() => ops.conv2d(x, w), /conv2d: expected x \[N, C, H, W\] and w \[O, C, kh, kw\] with the same C, got \[2, 3, 5, 5\] and \[4, 2, 3, 3\]/);
    assert.throws(() => ops.conv2d(x, w3, upload(rand(rng, [3]))), /conv2d: bias must be \[4\] for w \[4, 3, 3, 3\], got \[3\]/);
    assert.throws(() => ops.conv2d(x, w3, undefined, { stride: 0 }), /conv2d: stride must be an integer ≥ 1/);
    const big = upload(rand(rng, [1, 3, 7, 7]));
    assert.throws(() => ops.conv2d(x, big), /conv2d: kernel 7×7 with padding \[0, 0\] does not fit input \[2, 3, 5, 5\]/);
  });
});

test.run();
