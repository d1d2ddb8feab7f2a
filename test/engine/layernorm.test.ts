import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, type Arr } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/layernorm.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { asyncScope, type Tensor } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';
import { engine } from '../../src/engine/engine.js';
import { setTuning } from '../../src/engine/tuning.js';

await setup();
const rng = new Rng(777);
const test = suite('layerNorm');

// Row lengths 1, 7, 65, 1031 take the scalar kernels; 8, 64, 1024 the vec4 ones.
const SHAPES = [[1], [7], [65], [5, 1], [3, 7], [2, 3, 65], [3, 8], [2, 3, 64], [3, 1031], [2, 1024], [130, 12]];
const last = (s: number[]): number => s[s.length - 1];

// Which affine parameters are passed: gamma and beta, gamma only, beta only, neither.
const VARIANTS: [string, boolean, boolean][] = [['gamma+beta', true, true], ['gamma', true, false], ['beta', false, true], ['plain', false, false]];

function makeCase(shape: number[], g: boolean, b: boolean, eps: number, xgen = {}) {
  const inputs: Arr[] = [rand(rng, shape, xgen)];
  if (g) inputs.push(rand(rng, [last(shape)], { lo: 0.5, hi: 1.5 }));
  if (b) inputs.push(rand(rng, [last(shape)], { lo: -1, hi: 1 }));
  const gpu = (x: Tensor, ...p: Tensor[]): Tensor => ops.layerNorm(x, g ? p[0] : undefined, b ? p[g ? 1 : 0] : undefined, eps);
  const ref = (x: Arr, ...p: Arr[]): Arr => R.layerNorm(x, g ? p[0] : undefined, b ? p[g ? 1 : 0] : undefined, eps);
  return { inputs, gpu, ref };
}

for (const [label, g, b] of VARIANTS) {
  test(`layerNorm (${label}): forward on several shapes, backward by finite differences`, async () => {
    for (const shape of SHAPES) {
      await checkForward({ name: `layerNorm ${label}`, ...makeCase(shape, g, b, 1e-5), metric: 'norm', tol: 1e-5 });
    }
    // A large common offset: the variance must not cancel away.
    await checkForward({ name: `layerNorm ${label} offset`, ...makeCase([3, 100], g, b, 1e-5, { lo: 100, hi: 104 }), metric: 'norm', tol: 1e-5 });
    await checkForward({ name: `layerNorm ${label} offset`, ...makeCase([3, 101], g, b, 1e-5, { lo: 100, hi: 104 }), metric: 'norm', tol: 1e-5 });
    // 70 and 130 rows span several 64-row chunks of the dgamma/dbeta column sums.
    for (const shape of [[3, 5], [2, 8], [4, 1], [70, 4], [2, 65, 7]]) {
      await checkGrad({ name: `layerNorm ${label}`, ...makeCase(shape, g, b, 1e-3) }, rng);
    }
  });
}

test('layerNorm: gradient to x alone, and to gamma alone', async () => {
  await checkGrad({ name: 'layerNorm wrt x', ...makeCase([5, 12], true, true, 1e-5), wrt: [0] }, rng);
  await checkGrad({ name: 'layerNorm wrt gamma', ...makeCase([5, 12], true, true, 1e-5), wrt: [1] }, rng);
  await checkGrad({ name: 'layerNorm wrt beta', ...makeCase([5, 7], true, true, 1e-5), wrt: [2] }, rng);
});

/** y = x + layerNorm(x) with x = 1.5·a computed (not a leaf): x's gradient meets the residual's there. */
function residualCase(shape: number[]) {
  const d = last(shape);
  const inputs: Arr[] = [rand(rng, shape), rand(rng, [d], { lo: 0.5, hi: 1.5 }), rand(rng, [d], { lo: -1, hi: 1 })];
  const gpu = (a: Tensor, g: Tensor, b: Tensor): Tensor => { const x = ops.mulScalar(a, 1.5); return ops.add(x, ops.layerNorm(x, g, b)); };
  const ref = (a: Arr, g: Arr, b: Arr): Arr => {
    const x: Arr = { shape: a.shape, data: a.data.map((v) => 1.5 * v) };
    const ln = R.layerNorm(x, g, b);
    return { shape: a.shape, data: x.data.map((v, i) => v + ln.data[i]) };
  };
  return { inputs, gpu, ref };
}

test('a residual stream: the gradient x has from its other consumer is added in the dx pass, with no add of its own', async () => {
  for (const shape of [[3, 7], [4, 64], [2, 3, 65]]) {
    await checkGrad({ name: 'x + layerNorm(x)', ...residualCase(shape) }, rng);
    // The backward dispatches no elementwise add: the layerNorm dx pass took x's pending gradient.
    const rt = engine().runtime, seen: string[] = [];
    await asyncScope(async () => {
      const c = residualCase(shape);
      const [a, g, b] = c.inputs.map((v) => upload(v));
      a.requireGrad();
      const y = c.gpu(a, g, b);
      rt.observer = { see: (name) => { seen.push(name); return true; } };
      try { backward(y, upload(rand(rng, [...y.shape]))); } finally { rt.observer = undefined; }
      await a.grad!.data();
    });
    assert.ok(seen.some((n) => n.startsWith('layernorm') && n.includes('dx')), seen.join(', '));
    assert.not.ok(seen.some((n) => n.startsWith('elementwise.binary')), `an add in the backward: ${seen.join(', ')}`);
  }
});

test('the subgroup row reduction (a GPU\'s default), forced where the adapter has subgroups: forward and dx', async () => {
  setTuning({ rows: 'subgroups' });
  try {
    if (!engine().gpu.features.includes('subgroups')) {
      // llvmpipe has no subgroups: forcing them is refused by name (SwiftShader runs the cases below).
      await asyncScope(async () => {
        assert.throws(() => ops.layerNorm(upload(rand(rng, [2, 8]))), /layerNorm: the subgroup row reduction needs the device feature 'subgroups'/);
      });
      return;
    }
    // Rows shorter than, equal to and longer than the 64 invocations of a row (d/4 = 2, 64, 257),
    // a large offset, and more rows than one grid row of workgroups would hold at small sizes.
    for (const [label, g, b] of VARIANTS) {
      for (const shape of [[3, 8], [2, 256], [2, 1028], [130, 12]]) {
        await checkForward({ name: `layerNorm subgroups ${label}`, ...makeCase(shape, g, b, 1e-5), metric: 'norm', tol: 1e-5 });
      }
      await checkForward({ name: `layerNorm subgroups ${label} offset`, ...makeCase([3, 100], g, b, 1e-5, { lo: 100, hi: 104 }), metric: 'norm', tol: 1e-5 });
      await checkGrad({ name: `layerNorm subgroups ${label}`, ...makeCase([5, 12], g, b, 1e-3) }, rng);
    }
    await checkGrad({ name: 'layerNorm subgroups, long rows, wrt x', ...makeCase([2, 260], true, true, 1e-5), wrt: [0] }, rng);
    await checkGrad({ name: 'x + layerNorm(x), subgroups', ...residualCase([3, 64]) }, rng);
  } finally { setTuning({ rows: undefined }); }
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [3, 4])), g5 = upload(rand(rng, [5])), g4 = upload(rand(rng, [4]));
    assert.throws(() => ops.layerNorm(x, g5), /layerNorm: gamma shape \[5\] must be \[4\], the last axis of x \[3, 4\]/);
    assert.throws(() => ops.layerNorm(x, g4, g5), /layerNorm: beta shape \[5\] must be \[4\]/);
    assert.throws(() => ops.layerNorm(tensor(new Float32Array(0), [3, 0])), /layerNorm: the last axis of \[3, 0\] is empty/);
    assert.throws(() => ops.layerNorm(tensor([2], [])), /layerNorm: expected a tensor of rank >= 1/);
    assert.throws(() => ops.layerNorm(x, undefined, undefined, -1), /layerNorm: eps must be/);
  });
});

test('forward and backward leave the pool where it started', async () => {
  const rt = engine().runtime;
  await rt.sync();
  const base = rt.stats();
  // No scope here: an internal tensor the op forgot to dispose would stay in use.
  for (let step = 0; step < 20; step++) {
    const d = step % 2 ? 8 : 7;
    const x = upload(rand(rng, [70, d])).requireGrad();
    const g = upload(rand(rng, [d]));
    const b = upload(rand(rng, [d]));
    // Gradients to x and beta only (gamma is frozen), or to x alone.
    b.requireGrad(step % 3 !== 0);
    const gy = upload(rand(rng, [70, d]));
    const y = ops.layerNorm(x, g, b);
    backward(y, gy);
    const x2 = upload(rand(rng, [2, d]));
    const y2 = ops.layerNorm(x2, g);
    for (const u of [x, g, b, gy, y, x2, y2]) u.dispose();
  }
  await rt.sync();
  assert.is(rt.stats().bytesInUse, base.bytesInUse);
  assert.is(rt.stats().buffersInUse, base.buffersInUse);
});

test.run();
