import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download, arr } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/loss.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';
import { engine } from '../../src/engine/engine.js';

await setup();
const rng = new Rng(99);
const test = suite('crossEntropy');

const labelsFor = (n: number, c: number) => rand(rng, [n], { lo: 0, hi: c, int: true });
// [n, classes]: a single class, a single row, CIFAR-10/100 widths, odd sizes, 1000+ classes.
const SHAPES = [[1, 1], [1, 7], [5, 1], [7, 10], [65, 100], [3, 1031], [130, 3]];

for (const reduction of ['mean', 'sum', 'none'] as const) {
  test(`crossEntropy (${reduction}): forward on several shapes, backward by finite differences`, async () => {
    for (const [n, c] of SHAPES) {
      await checkForward({
        name: `crossEntropy ${reduction}`, inputs: [rand(rng, [n, c], { lo: -4, hi: 4 }), labelsFor(n, c)], dtypes: ['f32', 'i32'],
        gpu: (x, t) => ops.crossEntropy(x, t, reduction), ref: (x, t) => R.crossEntropy(x, t, reduction), metric: 'norm', tol: 1e-5,
      });
    }
    // Large logits: the row max must be subtracted.
    await checkForward({
      name: `crossEntropy ${reduction} large`, inputs: [rand(rng, [4, 9], { lo: 80, hi: 160 }), labelsFor(4, 9)], dtypes: ['f32', 'i32'],
      gpu: (x, t) => ops.crossEntropy(x, t, reduction), ref: (x, t) => R.crossEntropy(x, t, reduction), metric: 'norm', tol: 1e-5,
    });
    for (const [n, c] of [[4, 5], [1, 3], [3, 1], [6, 10]]) {
      await checkGrad({
        name: `crossEntropy ${reduction}`, inputs: [rand(rng, [n, c]), labelsFor(n, c)], dtypes: ['f32', 'i32'],
        gpu: (x, t) => ops.crossEntropy(x, t, reduction), ref: (x, t) => R.crossEntropy(x, t, reduction),
      }, rng);
    }
  });
}

test('crossEntropy accepts host labels and checks their range there', async () => {
  const x = rand(rng, [4, 6]);
  const t = [5, 0, 3, 3];
  await checkForward({ name: 'crossEntropy host labels', inputs: [x], gpu: (xt) => ops.crossEntropy(xt, t), ref: (xa) => R.crossEntropy(xa, arr([4], t)), metric: 'norm' });
  await checkForward({ name: 'crossEntropy Int32Array labels', inputs: [x], gpu: (xt) => ops.crossEntropy(xt, Int32Array.from(t), 'none'), ref: (xa) => R.crossEntropy(xa, arr([4], t), 'none'), metric: 'norm' });
  await asyncScope(async () => {
    const xt = upload(x);
    assert.throws(() => ops.crossEntropy(xt, [0, 6, 1, 2]), /crossEntropy: label 6 at index 1 is not a class of logits \[4, 6\] \(0\.\.5\)/);
    assert.throws(() => ops.crossEntropy(xt, [0, 1, 2]), /crossEntropy: 3 labels for logits \[4, 6\]/);
  });
});

test('crossEntropy: a GPU label out of range gives NaN for its row only', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [3, 4]));
    const t = tensor(Int32Array.from([1, 4, -1]), [3], 'i32');
    const rows = await download(ops.crossEntropy(x, t, 'none'));
    assert.ok(Number.isFinite(rows.data[0]) && Number.isNaN(rows.data[1]) && Number.isNaN(rows.data[2]), `rows: ${rows.data}`);
    assert.ok(Number.isNaN((await download(ops.crossEntropy(x, t))).data[0]));
  });
});

test('shape and dtype errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [3, 4]));
    const tf = upload(rand(rng, [3], { lo: 0, hi: 4, int: true }));
    assert.throws(() => ops.crossEntropy(x, tf), /crossEntropy: labels must be i32, got f32 \[3\]/);
    const t2 = upload(rand(rng, [2], { lo: 0, hi: 4, int: true }), 'i32');
    assert.throws(() => ops.crossEntropy(x, t2), /crossEntropy: labels shape \[2\] must be \[3\] for logits \[3, 4\]/);
    assert.throws(() => ops.crossEntropy(upload(rand(rng, [2, 3, 4])), t2), /crossEntropy: logits must be \[n, classes\], got \[2, 3, 4\]/);
    assert.throws(() => ops.crossEntropy(x, [0, 1, 2], 'avg' as never), /crossEntropy: reduction must be/);
  });
});

test('forward and backward leave the pool where it started', async () => {
  const rt = engine().runtime;
  await rt.sync();
  const base = rt.stats();
  // No scope here: an internal tensor the op forgot to dispose would stay in use.
  for (const reduction of ['mean', 'sum', 'none', 'mean', 'sum', 'none'] as const) {
    const x = upload(rand(rng, [70, 10])).requireGrad();
    const t = upload(labelsFor(70, 10), 'i32');
    const gy = upload(rand(rng, reduction === 'none' ? [70] : []));
    const l = ops.crossEntropy(x, t, reduction);
    backward(l, gy);
    const x2 = upload(rand(rng, [3, 4]));
    const l2 = ops.crossEntropy(x2, [0, 1, 3], reduction);
    for (const u of [x, t, gy, l, x2, l2]) u.dispose();
  }
  await rt.sync();
  assert.is(rt.stats().bytesInUse, base.bytesInUse);
  assert.is(rt.stats().buffersInUse, base.buffersInUse);
});

test.run();
