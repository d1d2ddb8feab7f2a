import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, type GradCase } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/batchnorm.js';
import { asyncScope } from '../../src/engine/tensor.js';

await setup();
const rng = new Rng(1414);
const test = suite('batchNorm');

function bnCase(shape: number[], eps = 1e-5): GradCase {
  const c = shape[1];
  return {
    name: `batchNorm eps ${eps}`, metric: 'norm', tol: 1e-5,
    inputs: [rand(rng, shape), rand(rng, [c]), rand(rng, [c], { lo: 0.1, hi: 3 }), rand(rng, [c]), rand(rng, [c])],
    gpu: (x, m, v, g, b) => ops.batchNorm(x, m, v, g, b, eps),
    ref: (x, m, v, g, b) => R.batchNorm(x, m, v, g, b, eps),
  };
}

test('inference batchNorm: forward on NCHW, NC and NCL shapes', async () => {
  for (const shape of [[2, 3, 5, 7], [1, 1, 1, 1], [4, 17, 3, 3], [5, 6], [2, 3, 9]]) await checkForward(bnCase(shape));
  await checkForward(bnCase([2, 3, 4, 4], 1e-3));
});

test('gradients to x, statistics, gamma and beta by finite differences', async () => {
  for (const shape of [[2, 3, 4, 5], [3, 4], [1, 2, 1, 3]]) await checkGrad({ ...bnCase(shape), gradTol: 1e-4 }, rng);
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [2, 3, 4, 4])), p3 = upload(rand(rng, [3], { lo: 0.5, hi: 1 })), p4 = upload(rand(rng, [4]));
    assert.throws(() => ops.batchNorm(x, p3, p3, p4, p3), /batchNorm: gamma must be \[3\] for x \[2, 3, 4, 4\], got \[4\]/);
    assert.throws(() => ops.batchNorm(upload(rand(rng, [3])), p3, p3, p3, p3), /batchNorm: expected x \[N, C, \.\.\.\], got \[3\]/);
  });
});

test.run();
