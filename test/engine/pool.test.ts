import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, type GradCase } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/pool.js';
import { asyncScope } from '../../src/engine/tensor.js';

await setup();
const rng = new Rng(1618);
const test = suite('pool');

type P2 = number | [number, number];
const AVG: [number[], P2, P2 | undefined, P2][] = [
  [[2, 3, 8, 8], 2, undefined, 0], [[1, 2, 7, 5], 3, 2, 1], [[2, 1, 5, 9], [2, 3], [1, 2], [1, 1]],
  [[1, 1, 1, 1], 1, undefined, 0], [[3, 2, 6, 7], 3, 1, 1], [[1, 3, 4, 4], 4, undefined, 0],
];

test('avgPool2d: forward (count_include_pad) and backward', async () => {
  for (const [shape, k, s, p] of AVG) {
    const c: GradCase = { name: `avgPool2d k${k} s${s} p${p}`, inputs: [rand(rng, shape)], metric: 'norm', tol: 1e-5,
      gpu: (x) => ops.avgPool2d(x, k, s, p), ref: (x) => R.avgPool2d(x, k, s, p) };
    await checkForward(c);
    await checkGrad(c, rng);
  }
});

test('globalAvgPool: forward and backward', async () => {
  for (const shape of [[2, 3, 5, 7], [1, 1, 1, 1], [3, 17, 8, 8], [1, 2, 1, 65]]) {
    const c: GradCase = { name: 'globalAvgPool', inputs: [rand(rng, shape)], metric: 'norm', tol: 1e-5, gpu: (x) => ops.globalAvgPool(x), ref: R.globalAvgPool };
    await checkForward(c);
    if (shape[1] * shape[2] * shape[3] < 200) await checkGrad(c, rng);
  }
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [2, 3, 4, 4]));
    assert.throws(() => ops.avgPool2d(upload(rand(rng, [3, 4, 4])), 2), /avgPool2d: expected x \[N, C, H, W\], got \[3, 4, 4\]/);
    assert.throws(() => ops.avgPool2d(x, 2, 1, 2), /avgPool2d: padding \[2, 2\] must be at most half the kernel \[2, 2\]/);
    assert.throws(() => ops.avgPool2d(x, 5), /avgPool2d: kernel \[5, 5\] with padding \[0, 0\] does not fit input \[2, 3, 4, 4\]/);
    assert.throws(() => ops.avgPool2d(x, 0), /avgPool2d: kernel must be an integer ≥ 1/);
    assert.throws(() => ops.globalAvgPool(upload(rand(rng, [2, 3]))), /globalAvgPool: expected x \[N, C, H, W\], got \[2, 3\]/);
  });
});

test.run();
