import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, upload, normRelErr } from '../harness.js';
import { asyncScope, keep } from '../../src/engine/tensor.js';
import { Optimizer, cosineLr, decays, type OptimizerOptions } from '../../src/train/optim.js';
import { refStep, refClipScale, type RefHyper, type RefParam } from '../../src/train/reference.js';
import type { NamedTensor } from '../../src/models/module.js';

await setup();
const rng = new Rng(5150);
const test = suite('optim');

// Shapes not multiples of any tile, a size-1 tensor, rank-1 (no decay) and rank ≥ 2 (decay), and
// one larger than a sum-of-squares chunk (256).
const SHAPES: [string, number[]][] = [['w1', [7, 13]], ['b1', [13]], ['s', [1]], ['conv.weight', [3, 2, 3, 5]], ['big', [300]], ['fc.bias', [2, 3]]];

async function compare(opts: OptimizerOptions, hyper: Omit<RefHyper, 'lr'>, steps: number, lrs: number[]): Promise<void> {
  await asyncScope(async () => {
    const host = SHAPES.map(([, s]) => rand(rng, s));
    const params: NamedTensor[] = SHAPES.map(([name], i) => [name, keep(upload(host[i]))]);
    const opt = new Optimizer(params, opts);
    const ref: RefParam[] = host.map((a, i) => ({
      p: Float64Array.from(a.data), m: new Float64Array(a.data.length), v: new Float64Array(a.data.length),
      decay: decays(SHAPES[i][0], SHAPES[i][1]),
    }));
    for (let t = 1; t <= steps; t++) {
      // Fresh random gradients every step, of a scale where clipping at 3 bites on some steps.
      const scale = t % 2 ? 0.05 : 1;
      const grads = SHAPES.map(([, s]) => rand(rng, s, { lo: -scale, hi: scale }));
      params.forEach(([, p], i) => { p.grad = keep(upload(grads[i])); });
      const lr = lrs[(t - 1) % lrs.length];
      opt.step(lr);
      refStep(ref, grads.map((g) => g.data), t, { ...hyper, lr });
      if (opts.clipNorm !== undefined) {
        const want = refClipScale(grads.map((g) => g.data), opts.clipNorm).norm;
        const got = await opt.lastGradNorm();
        assert.ok(Math.abs(got - want) <= 1e-5 * want, `step ${t}: gradient norm ${got} vs ${want}`);
      }
      for (const [i, [name, p]] of params.entries()) {
        assert.ok(!p.grad, 'step() disposes the gradients');
        const got = await p.data();
        const err = normRelErr(got, ref[i].p);
        assert.ok(err <= 2e-6, `${opts.kind} step ${t} '${name}': relative error ${err.toExponential(2)}`);
      }
    }
    const st = await opt.stateDict();
    assert.is(st.step, steps);
    const m = st.tensors.get(opts.kind === 'adamw' ? 'w1.moments' : 'w1.momentum')!;
    assert.ok(normRelErr(m.subarray(0, 91), ref[0].m) <= 1e-5, 'first moment matches');
    if (opts.kind === 'adamw') {
      const e = normRelErr(m.subarray(91), ref[0].v);
      assert.ok(e <= 1e-5, `second moment: relative error ${e.toExponential(2)}`);
    }
    opt.dispose();
    for (const [, p] of params) p.dispose();
  });
}

test('weight-decay rule: rank ≤ 1, .bias and token names are exempt', () => {
  assert.is(decays('blocks.0.attn.qkv.weight', [3, 4]), true);
  assert.is(decays('blocks.0.norm1.weight', [4]), false);
  assert.is(decays('fc.bias', [2, 3]), false);
  assert.is(decays('cls_token', [1, 1, 8]), false);
  assert.is(decays('mask_token', [1, 1, 8]), false);
  assert.is(decays('conv1.weight', [16, 3, 3, 3]), true);
});

test('cosine schedule with linear warm-up', () => {
  const o = { lr: 1, totalSteps: 110, warmupSteps: 10, minLr: 0.1 };
  assert.ok(Math.abs(cosineLr(0, o) - 0.1) < 1e-12);
  assert.ok(Math.abs(cosineLr(9, o) - 1) < 1e-12);
  assert.ok(Math.abs(cosineLr(10, o) - 1) < 1e-12);
  assert.ok(Math.abs(cosineLr(60, o) - 0.55) < 1e-12);
  assert.ok(Math.abs(cosineLr(110, o) - 0.1) < 1e-12);
  assert.ok(Math.abs(cosineLr(500, o) - 0.1) < 1e-12);
  for (let s = 11; s < 110; s++) assert.ok(cosineLr(s, o) <= cosineLr(s - 1, o));
});

test('AdamW (decoupled decay, bias correction) matches the float64 reference over several steps', async () => {
  await compare({ kind: 'adamw', weightDecay: 0.1 }, { kind: 'adamw', weightDecay: 0.1 }, 5, [1e-2, 3e-3, 2e-2]);
  await compare({ kind: 'adamw', beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0 }, { kind: 'adamw', beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0 }, 3, [5e-3]);
});

test('AdamW with gradient clipping by global norm (scale computed on the GPU)', async () => {
  await compare({ kind: 'adamw', weightDecay: 0.05, clipNorm: 3 }, { kind: 'adamw', weightDecay: 0.05, clipNorm: 3 }, 4, [1e-2]);
});

test('SGD with momentum, Nesterov, L2 decay and clipping matches the reference', async () => {
  await compare({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 }, { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 }, 4, [0.1, 0.05]);
  await compare({ kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-3, clipNorm: 2 },
    { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-3, clipNorm: 2 }, 4, [0.1]);
  await compare({ kind: 'sgd', momentum: 0, weightDecay: 0 }, { kind: 'sgd', momentum: 0, weightDecay: 0 }, 2, [0.3]);
});

test('a parameter without a gradient is left alone; bad options throw', async () => {
  await asyncScope(async () => {
    const a = keep(upload(rand(rng, [5, 3]))), b = keep(upload(rand(rng, [4])));
    const before = await b.data();
    const opt = new Optimizer([['a', a], ['b', b]], { kind: 'adamw', clipNorm: 1 });
    a.grad = keep(upload(rand(rng, [5, 3])));
    opt.step(0.1);
    assert.equal(await b.data(), before);
    opt.dispose(); a.dispose(); b.dispose();
  });
  assert.throws(() => new Optimizer([], { kind: 'sgd', nesterov: true, momentum: 0 }), /Nesterov needs a momentum/);
  assert.throws(() => new Optimizer([], { kind: 'adamw', beta1: 1 }), /betas/);
});

test.run();
