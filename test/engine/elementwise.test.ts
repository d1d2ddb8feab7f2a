import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/elementwise.js';
import { asyncScope } from '../../src/engine/tensor.js';

await setup();
const rng = new Rng(1234);
const test = suite('elementwise');

const SHAPES = [[1], [7], [65], [3, 1, 5], [2, 3, 129], [1031]];
// Each op with the input range where it is defined and away from kinks (finite differences).
const UNARY: [keyof typeof R.unaryRef, { lo?: number; hi?: number; avoid?: (x: number) => boolean }][] = [
  ['neg', {}], ['abs', { avoid: (x) => Math.abs(x) < 1e-3 }], ['sign', { avoid: (x) => Math.abs(x) < 1e-3 }],
  ['exp', { lo: -10, hi: 10 }],
  // log's relative error is ill-conditioned at its root x = 1 (any f32 rounding of x dominates there).
  ['log', { lo: 1e-3, hi: 50, avoid: (x) => Math.abs(x - 1) < 0.05 }], ['sqrt', { lo: 1e-2, hi: 50 }],
  ['rsqrt', { lo: 1e-2, hi: 50 }], ['tanh', { lo: -6, hi: 6 }], ['sigmoid', { lo: -12, hi: 12 }],
  ['relu', { avoid: (x) => Math.abs(x) < 1e-3 }], ['gelu', { lo: -6, hi: 8 }],
];

for (const [name, gen] of UNARY) {
  test(`${name}: forward on several shapes, backward by finite differences`, async () => {
    for (const shape of SHAPES) {
      await checkForward({ name, inputs: [rand(rng, shape, gen)], gpu: (x) => ops[name](x), ref: (x) => R.unary(name, x), tol: 1e-5 });
    }
    await checkGrad({ name, inputs: [rand(rng, [3, 5], gen)], gpu: (x) => ops[name](x), ref: (x) => R.unary(name, x) }, rng);
  });
}

test('powScalar, clamp, affine: forward and backward', async () => {
  for (const p of [2, 3, -1, 0.5, 1.5]) {
    const gen = Number.isInteger(p) ? { avoid: (x: number) => Math.abs(x) < 0.05 } : { lo: 0.05, hi: 3 };
    for (const shape of SHAPES) await checkForward({ name: `pow ${p}`, inputs: [rand(rng, shape, gen)], gpu: (x) => ops.powScalar(x, p), ref: (x) => R.powScalar(x, p), tol: 1e-5 });
    await checkGrad({ name: `pow ${p}`, inputs: [rand(rng, [4, 3], gen)], gpu: (x) => ops.powScalar(x, p), ref: (x) => R.powScalar(x, p) }, rng);
  }
  const away = { avoid: (x: number) => Math.abs(x + 0.5) < 1e-3 || Math.abs(x - 1) < 1e-3 };
  for (const shape of SHAPES) await checkForward({ name: 'clamp', inputs: [rand(rng, shape)], gpu: (x) => ops.clamp(x, -0.5, 1), ref: (x) => R.clamp(x, -0.5, 1) });
  await checkGrad({ name: 'clamp', inputs: [rand(rng, [5, 4], away)], gpu: (x) => ops.clamp(x, -0.5, 1), ref: (x) => R.clamp(x, -0.5, 1) }, rng);
  await checkGrad({ name: 'affine', inputs: [rand(rng, [5, 4])], gpu: (x) => ops.affine(x, -1.5, 0.25), ref: (x) => R.affine(x, -1.5, 0.25) }, rng);
});

const PAIRS = [[[7], [7]], [[3, 1, 5], [4, 5]], [[2, 3, 129], [129]], [[1], [65]], [[6, 1], [1, 9]], [[2, 1, 4, 1], [3, 1, 5]], [[1031], [1]]];
for (const name of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const) {
  test(`${name}: broadcasting forward and backward`, async () => {
    const gen = name === 'div' ? { avoid: (x: number) => Math.abs(x) < 0.1 } : {};
    for (const [sa, sb] of PAIRS) {
      await checkForward({ name, inputs: [rand(rng, sa), rand(rng, sb, gen)], gpu: (a, b) => ops[name](a, b), ref: (a, b) => R.binary(name, a, b) });
    }
    for (const [sa, sb] of [[[3, 1, 5], [4, 5]], [[4], [4]], [[2, 3], [1]]]) {
      await checkGrad({ name, inputs: [rand(rng, sa), rand(rng, sb, gen)], gpu: (a, b) => ops[name](a, b), ref: (a, b) => R.binary(name, a, b) }, rng);
    }
  });
}

test('where with f32 and i32 conditions, broadcasting, gradients to both branches', async () => {
  for (const [sc, sa, sb] of [[[7], [7], [7]], [[3, 1], [1, 4], [3, 4]], [[2, 3, 5], [5], [1]]]) {
    const c = rand(rng, sc, { lo: 0, hi: 2, int: true });
    await checkForward({ name: 'where', inputs: [c, rand(rng, sa), rand(rng, sb)], gpu: (c, a, b) => ops.where(c, a, b), ref: R.where });
    await checkForward({ name: 'where i32', inputs: [c, rand(rng, sa), rand(rng, sb)], dtypes: ['i32', 'f32', 'f32'], gpu: (c, a, b) => ops.where(c, a, b), ref: R.where });
    await checkGrad({ name: 'where', inputs: [c, rand(rng, sa), rand(rng, sb)], wrt: [1, 2], gpu: (c, a, b) => ops.where(c, a, b), ref: R.where }, rng);
  }
});

test('broadcastTo forward and backward', async () => {
  await checkForward({ name: 'broadcastTo', inputs: [rand(rng, [3, 1, 5])], gpu: (x) => ops.broadcastTo(x, [2, 3, 4, 5]), ref: (x) => R.broadcastTo(x, [2, 3, 4, 5]) });
  await checkGrad({ name: 'broadcastTo', inputs: [rand(rng, [3, 1])], gpu: (x) => ops.broadcastTo(x, [2, 3, 4]), ref: (x) => R.broadcastTo(x, [2, 3, 4]) }, rng);
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const a = upload(rand(rng, [3, 4])), b = upload(rand(rng, [5]));
    assert.throws(() => ops.add(a, b), /add: shapes \[3, 4\] and \[5\] cannot be broadcast/);
    const i = upload(rand(rng, [4], { lo: 0, hi: 3, int: true }), 'i32');
    assert.throws(() => ops.exp(i), /exp: expected an f32 tensor, got i32 \[4\]/);
    assert.throws(() => ops.clamp(a, 1, 0), /clamp: lower bound 1 is above upper bound 0/);
    // The engine stays usable after a rejected call.
    const s = await download(ops.add(a, a));
    assert.is(s.data.length, 12);
  });
});

test.run();
