import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, upload, download } from '../harness.js';
import { add, mul, exp, sum, mulScalar, tensor } from '../../src/engine/ops/index.js';
import { backward, grad, noGrad } from '../../src/engine/autograd.js';
import { asyncScope, scope } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';

await setup();
const rng = new Rng(9);
const test = suite('autograd');
const close = (a: ArrayLike<number>, b: ArrayLike<number>, msg: string): void => {
  assert.is(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])), `${msg}: [${i}] ${a[i]} vs ${b[i]}`);
};

test('a tensor used twice accumulates its gradient (d/dx of x*x + x is 2x + 1)', async () => {
  await asyncScope(async () => {
    const xa = rand(rng, [5]);
    const x = upload(xa).requireGrad();
    backward(sum(add(mul(x, x), x)));
    close(await x.grad!.data(), xa.data.map((v) => 2 * v + 1), 'grad');
  });
});

test('records only when an input needs a gradient; noGrad records nothing', async () => {
  await asyncScope(async () => {
    const a = upload(rand(rng, [3]));
    const b = upload(rand(rng, [3])).requireGrad();
    const plain = mul(a, a);
    assert.is(plain.requiresGrad, false);
    assert.is(plain.node, undefined);
    const tracked = mul(a, b);
    assert.is(tracked.requiresGrad, true);
    const quiet = noGrad(() => mul(a, b));
    assert.is(quiet.requiresGrad, false);
    assert.is(quiet.node, undefined);
  });
});

test('detach cuts the graph; gradients reach inputs and parameters alike', async () => {
  await asyncScope(async () => {
    const xa = rand(rng, [4]), wa = rand(rng, [4]);
    const x = upload(xa).requireGrad();
    const w = upload(wa).requireGrad();
    const y = mul(x, w);
    const loss = sum(add(mul(y, y.detach()), exp(w)));
    backward(loss);
    // d/dx (x w)·(x w)_detached = w·(x w); d/dw = x·(x w) + exp(w)
    close(await x.grad!.data(), xa.data.map((v, i) => wa.data[i] * v * wa.data[i]), 'dx');
    close(await w.grad!.data(), wa.data.map((v, i) => xa.data[i] * xa.data[i] * v + Math.exp(v)), 'dw');
  });
});

test('gradients accumulate across backward calls; a second pass through a freed graph is an error', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [3])).requireGrad();
    const loss = sum(mul(x, x));
    backward(loss, undefined, { retainGraph: true });
    const first = await x.grad!.data();
    backward(loss);
    close(await x.grad!.data(), first.map((v) => 2 * v), 'accumulated');
    assert.throws(() => backward(loss), /second time: its saved tensors were freed/);
  });
});

test('grad() returns gradients without touching .grad; backward checks its root', async () => {
  await asyncScope(async () => {
    const xa = rand(rng, [2, 3]);
    const x = upload(xa).requireGrad();
    const [g] = grad(sum(mulScalar(mul(x, x), 3)), [x]);
    assert.is(x.grad, undefined);
    close(await g.data(), xa.data.map((v) => 6 * v), 'grad');
    assert.throws(() => backward(mul(x, x)), /is not a scalar/);
    assert.throws(() => backward(upload(rand(rng, [1]))), /does not require a gradient/);
  });
});

test('intermediates freed by a scope stay available to a later backward; the pool returns to baseline', async () => {
  const rt = engine().runtime;
  await rt.sync();
  const base = rt.stats().bytesInUse;
  const xa = rand(rng, [64]);
  const x = upload(xa).requireGrad();
  for (let step = 0; step < 20; step++) {
    const loss = scope(() => sum(exp(mulScalar(mul(x, x), 0.1))));
    backward(loss);
    loss.dispose();
  }
  const g = await x.grad!.data();
  close(g, xa.data.map((v) => 20 * 0.2 * v * Math.exp(0.1 * v * v)), 'grad after 20 steps');
  x.dispose();
  assert.is(rt.stats().bytesInUse, base, 'bytes in use back at baseline');
});

test('tensor() checks its data; a disposed tensor names itself when used', async () => {
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
  assert.throws(() => tensor([1.5], [1], 'i32'), /non-integer 1.5/);
  const t = tensor([1, 2], [2]);
  t.dispose();
  assert.throws(() => mul(t, t), /was used after dispose\(\)/);
  const u = tensor([1, 2], [2]);
  assert.equal([...(await download(mul(u, u))).data], [1, 4]);
  u.dispose();
});

test.run();
