import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng, rand, upload } from '../harness.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { sub, mul, mean, mulScalar } from '../../src/engine/ops/index.js';
import { backward, noGrad } from '../../src/engine/autograd.js';
import { asyncScope, scope, type Tensor } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';

await setup();
const test = suite('memory');

test('5,000 forward+backward steps of a two-layer network leave the pool where it started', async () => {
  const rt = engine().runtime;
  const rng = new Rng(11);
  await rt.sync();
  const base = rt.stats();
  const params: Tensor[] = [rand(rng, [8, 16], { lo: -0.5, hi: 0.5 }), rand(rng, [16]), rand(rng, [16, 4], { lo: -0.5, hi: 0.5 }), rand(rng, [4])]
    .map((a) => upload(a).requireGrad());
  const [w1, b1, w2, b2] = params;
  const x = upload(rand(rng, [32, 8]));
  const target = upload(rand(rng, [32, 4]));
  let first = 0, last = 0;
  for (let step = 0; step < 5000; step++) {
    const loss = scope(() => {
      const h = matmul(x, w1, { bias: b1, activation: 'relu' });
      const y = matmul(h, w2, { bias: b2 });
      const d = sub(y, target);
      return mean(mul(d, d));
    });
    backward(loss);
    // Plain SGD, in place of an optimizer: p <- p - 0.05 grad, then drop the gradient.
    noGrad(() => scope(() => {
      for (const p of params) {
        const next = sub(p, mulScalar(p.grad!, 0.05));
        engine().runtime.copy(next.buffer, p.buffer, p.size * 4);
        p.grad!.dispose();
        p.grad = undefined;
      }
    }));
    if (step === 0) first = (await loss.data())[0];
    if (step === 4999) last = (await loss.data())[0];
    loss.dispose();
    if (step % 500 === 0) await rt.sync(); // keep the queue short
  }
  assert.ok(last < first, `the loss went down (${first} -> ${last})`);
  for (const t of [...params, x, target]) t.dispose();
  await rt.sync();
  const end = rt.stats();
  assert.is(end.bytesInUse, base.bytesInUse, 'bytes in use back at their starting value');
  assert.is(end.buffersInUse, base.buffersInUse, 'buffers in use back at their starting value');
});

test('two async scopes interleaved: the one that finds the stack tangled throws and frees its tensors', async () => {
  const rt = engine().runtime;
  await rt.sync();
  const before = rt.stats().bytesInUse;
  const rng = new Rng(3);
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  // A opens, then B opens and outlives A's await: A's stack is no longer its own when it ends.
  const a = asyncScope(async () => { upload(rand(rng, [64])); await gate; return 1; });
  const b = asyncScope(async () => { upload(rand(rng, [64])); release(); await new Promise((r) => setTimeout(r, 20)); return 2; });
  const results = await Promise.allSettled([a, b]);
  assert.ok(results.some((r) => r.status === 'rejected' && /scopes were interleaved/.test(String(r.reason))), JSON.stringify(results));
  await rt.sync();
  assert.is(rt.stats().bytesInUse, before, 'nothing left allocated');
});

test.run();
