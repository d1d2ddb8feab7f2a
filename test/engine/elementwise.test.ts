import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/elementwise.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';

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
  ['geluTanh', { lo: -6, hi: 8 }], ['silu', { lo: -12, hi: 12 }],
];

for (const [name, gen] of UNARY) {
  test(`${name}: forward on several shapes, backward by finite differences`, async () => {
    for (const shape of SHAPES) {
      await checkForward({ name, inputs: [rand(rng, shape, gen)], gpu: (x) => ops[name](x), ref: (x) => R.unary(name, x), tol: 1e-5 });
    }
    await checkGrad({ name, inputs: [rand(rng, [3, 5], gen)], gpu: (x) => ops[name](x), ref: (x) => R.unary(name, x) }, rng);
  });
}

// float64 derivatives of the two DiT activations (the reference holds forwards only).
const sigmoid64 = (z: number): number => 1 / (1 + Math.exp(-z));
const siluGrad = (x: number): number => { const s = sigmoid64(x); return s * (1 + x * (1 - s)); };
function geluTanhGrad(x: number): number {
  // Past |x| = 20 the sigmoid is 0 or 1 to far below f32 precision, and x³ would only add overflow.
  if (Math.abs(x) > 20) return x > 0 ? 1 : 0;
  const c = Math.sqrt(2 / Math.PI), s = sigmoid64(2 * c * (x + 0.044715 * x ** 3));
  return s + 2 * x * s * (1 - s) * c * (1 + 3 * 0.044715 * x * x);
}

test('geluTanh reference: the tanh formula of PyTorch, evaluated without cancellation', () => {
  // Where 1 + tanh(u) does not cancel, the literal formula and the reference agree to float64.
  for (let x = -3; x <= 20; x += 0.01) {
    const literal = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    const want = R.geluTanh(x);
    assert.ok(Math.abs(literal - want) <= 1e-12 * Math.max(Math.abs(want), 1e-300), `x = ${x}: ${literal} vs ${want}`);
  }
  // Values of torch.nn.functional.gelu(x, approximate='tanh') at ±1 (float64).
  assert.ok(Math.abs(R.geluTanh(1) - 0.8411919906082768) < 1e-15);
  assert.ok(Math.abs(R.geluTanh(-1) + 0.15880800939172324) < 1e-15);
});

test('geluTanh and silu: finite outputs and gradients for large inputs, accurate against float64', async () => {
  const cases = [
    // The range the brief fixes for each (a fine grid), and huge values where x³ or exp(-x) overflow.
    { name: 'geluTanh', lo: -20, hi: 20, step: 0.01, gpu: ops.geluTanh, f: R.geluTanh, df: geluTanhGrad },
    { name: 'silu', lo: -100, hi: 100, step: 0.05, gpu: ops.silu, f: R.silu, df: siluGrad },
  ];
  const huge = [-3e38, -1e30, -1e13, -1e4, -200, 200, 1e4, 1e13, 1e30, 3e38];
  for (const c of cases) {
    const xs: number[] = [];
    for (let x = c.lo; x <= c.hi + 1e-9; x += c.step) xs.push(Math.fround(x));
    xs.push(...huge);
    await asyncScope(async () => {
      const x = upload({ shape: [xs.length], data: Float64Array.from(xs) }).requireGrad();
      const y = c.gpu(x);
      backward(y, upload({ shape: [xs.length], data: new Float64Array(xs.length).fill(1) }));
      const got = await y.read(), grad = await x.grad!.read();
      for (const [i, v] of xs.entries()) {
        const want = c.f(v), dwant = c.df(v);
        assert.ok(Number.isFinite(got[i]), `${c.name}(${v}) = ${got[i]}`);
        assert.ok(Number.isFinite(grad[i]), `${c.name}'(${v}) = ${grad[i]}`);
        // Relative error where |value| >= 1, absolute below (values far under 1 lose nothing that matters).
        assert.ok(Math.abs(got[i] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${c.name}(${v}) = ${got[i]}, want ${want}`);
        assert.ok(Math.abs(grad[i] - dwant) <= 1e-5 * Math.max(1, Math.abs(dwant)), `${c.name}'(${v}) = ${grad[i]}, want ${dwant}`);
      }
    });
  }
});

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
