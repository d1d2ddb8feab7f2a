import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download } from '../harness.js';
import { sum, mean, max, argmax } from '../../src/engine/ops/reduce.js';
import * as R from '../../src/engine/reference/reduce.js';
import { asyncScope } from '../../src/engine/tensor.js';

await setup();
const rng = new Rng(77);
const test = suite('reduce');

// [shape, axes] including size-1 dims, odd sizes, long axes (chunked two-pass path) and all-axes.
const CASES: [number[], number[] | undefined][] = [
  [[7], [0]], [[7], undefined], [[3, 5], [1]], [[3, 5], [0]], [[2, 1, 9], [1]], [[4, 3, 5], [0, 2]],
  [[2, 3, 4, 5], [1, 3]], [[5000], [0]], [[3, 3001], [1]], [[1031, 3], [0]], [[65, 33], undefined],
];

for (const [name, gpu, ref] of [['sum', sum, R.sum], ['mean', mean, R.mean], ['max', max, R.max]] as const) {
  test(`${name}: forward over axes (keepdims both ways), backward by finite differences`, async () => {
    // Sums of mixed signs cancel, and f32 rounding relative to a cancelled result says nothing about
    // the kernel; positive inputs keep the relative error meaningful (max sees both signs).
    const gen = name === 'max' ? {} : { lo: 0.25, hi: 2 };
    for (const [shape, axes] of CASES) {
      for (const keep of [false, true]) {
        await checkForward({ name, inputs: [rand(rng, shape, gen)], gpu: (x) => gpu(x, axes, keep), ref: (x) => ref(x, axes, keep), metric: 'norm', tol: 1e-5 });
      }
    }
    for (const [shape, axes] of [[[3, 4], [1]], [[2, 3, 4], [0, 2]], [[5], undefined]] as [number[], number[] | undefined][]) {
      await checkGrad({ name, inputs: [rand(rng, shape)], gpu: (x) => gpu(x, axes, false), ref: (x) => ref(x, axes, false) }, rng);
    }
  });
}

test('max shares the gradient between tied maxima', async () => {
  await asyncScope(async () => {
    const x = upload({ shape: [2, 3], data: Float64Array.from([1, 5, 5, -1, -2, -1]) }).requireGrad();
    const y = max(x, 1);
    const { backward } = await import('../../src/engine/autograd.js');
    backward(y, upload({ shape: [2], data: Float64Array.from([1, 2]) }));
    assert.equal([...(await download(x.grad!)).data], [0, 0.5, 0.5, 1, 0, 1]);
  });
});

test('argmax: first index of the maximum, i32', async () => {
  for (const [shape, axis] of [[[7], 0], [[3, 5], 1], [[3, 5], 0], [[2, 1, 9], 2], [[4, 65, 3], 1]] as [number[], number][]) {
    await asyncScope(async () => {
      const a = rand(rng, shape);
      const y = argmax(upload(a), axis);
      assert.is(y.dtype, 'i32');
      const got = await download(y);
      assert.equal([...got.data], [...R.argmax(a, axis).data], `argmax [${shape}] axis ${axis}`);
    });
  }
});

test('reduction errors name the op and the axis', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [3, 4]));
    assert.throws(() => sum(x, 2), /sum: axis 2 is out of range for rank 2/);
    assert.throws(() => max(x, [1, 1]), /max: repeated axis/);
    assert.throws(() => argmax(upload(rand(rng, [3, 0]))), /argmax: cannot reduce an axis of length 0/);
  });
});

test.run();
