import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/softmax.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';
import { engine } from '../../src/engine/engine.js';

await setup();
const rng = new Rng(4321);
const test = suite('softmax');

// Row lengths 1, 7, 65 and 1031 take the scalar kernels; 8, 64 and 1024 the vec4 ones.
const SHAPES = [[1], [7], [65], [5, 1], [3, 7], [2, 3, 65], [3, 8], [2, 3, 64], [3, 1031], [2, 1024], [129, 12]];

for (const name of ['softmax', 'logSoftmax'] as const) {
  test(`${name}: forward on several shapes, backward by finite differences`, async () => {
    for (const shape of SHAPES) {
      await checkForward({ name, inputs: [rand(rng, shape, { lo: -4, hi: 4 })], gpu: (x) => ops[name](x), ref: R[name], metric: 'norm', tol: 1e-5 });
    }
    // Per element too (small probabilities keep their relative accuracy).
    await checkForward({ name, inputs: [rand(rng, [4, 33], { lo: -8, hi: 8 })], gpu: (x) => ops[name](x), ref: R[name], tol: 2e-5 });
    // Large logits: without subtracting the row max, exp would overflow.
    for (const shape of [[3, 17], [3, 16]]) {
      await checkForward({ name, inputs: [rand(rng, shape, { lo: 60, hi: 120 })], gpu: (x) => ops[name](x), ref: R[name], metric: 'norm', tol: 1e-5 });
    }
    for (const shape of [[3, 5], [2, 8], [1, 1], [2, 1, 9]]) {
      await checkGrad({ name, inputs: [rand(rng, shape)], gpu: (x) => ops[name](x), ref: R[name] }, rng);
    }
  });
}

test('softmax rows sum to 1 and empty tensors pass through', async () => {
  await asyncScope(async () => {
    const y = await download(ops.softmax(upload(rand(rng, [6, 1000], { lo: -10, hi: 10 }))));
    for (let r = 0; r < 6; r++) {
      let s = 0;
      for (let i = 0; i < 1000; i++) s += y.data[r * 1000 + i];
      assert.ok(Math.abs(s - 1) < 1e-5, `row ${r} sums to ${s}`);
    }
    assert.equal([...ops.logSoftmax(tensor(new Float32Array(0), [3, 0])).shape], [3, 0]);
    assert.equal([...ops.softmax(tensor(new Float32Array(0), [0, 4])).shape], [0, 4]);
  });
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    assert.throws(() => ops.softmax(tensor([1], [])), /softmax: expected a tensor of rank >= 1 .*got \[\]/);
    const i = upload(rand(rng, [2, 3], { lo: 0, hi: 3, int: true }), 'i32');
    assert.throws(() => ops.logSoftmax(i), /logSoftmax: expected an f32 tensor, got i32 \[2, 3\]/);
  });
});

test('forward and backward leave the pool where it started', async () => {
  const rt = engine().runtime;
  await rt.sync();
  const base = rt.stats();
  // No scope here: an internal tensor the op forgot to dispose would stay in use.
  for (let step = 0; step < 20; step++) {
    const x = upload(rand(rng, [3, step % 2 ? 8 : 7])).requireGrad();
    const gy = upload(rand(rng, [...x.shape]));
    const h = ops.logSoftmax(x);
    const y = ops.softmax(h);
    backward(y, gy);
    const x2 = upload(rand(rng, [2, 5]));
    const y2 = ops.softmax(x2);
    for (const u of [x, gy, h, y, x2, y2]) u.dispose();
  }
  await rt.sync();
  assert.is(rt.stats().bytesInUse, base.bytesInUse);
  assert.is(rt.stats().buffersInUse, base.buffersInUse);
});

test.run();
