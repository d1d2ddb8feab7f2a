import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng } from '../harness.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { addScalar, clamp, fill, maximum, minimum, mulScalar, purifyStep, purifyStepJacobian, sign, sub, tensor } from '../../src/engine/ops/index.js';

await setup();
const rng = new Rng(77);
const test = suite('purify step');

const n = 4096;
/** 8-bit pixels (ties with the bounds and with 0 and 1 are frequent), gradients with zeros. */
const x0 = Float32Array.from({ length: n }, () => Math.round(rng.uniform(0, 255)) / 255);
const x = Float32Array.from(x0, (v, i) => Math.min(1, Math.max(0, v + (Math.round(rng.uniform(-3, 3)) / 255) * (i % 7 === 0 ? 0 : 1))));
const g = Float32Array.from({ length: n }, (_, i) => (i % 11 === 0 ? 0 : rng.uniform(-1, 1)));

/** The float64 reference of one step's image and of d x_s / d x0 given d x_{s-1} / d x0 = j. */
function reference(lam: number, eta: number, j: number[]): { y: number[]; jac: number[] } {
  const f = Math.fround;
  const y: number[] = [], jac: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = f(x[i] - f(lam * Math.sign(g[i])));
    let p = v, ji = j[i];
    if (Number.isFinite(eta)) {
      const lo = f(x0[i] - f(eta)), hi = f(x0[i] + f(eta));
      const aMax = v > lo ? 1 : v === lo ? 0.5 : 0;
      const m = Math.max(v, lo);
      const aMin = m < hi ? 1 : m === hi ? 0.5 : 0;
      ji = aMin * aMax * ji + aMin * (1 - aMax) + (1 - aMin);
      p = Math.min(m, hi);
    }
    y.push(Math.min(1, Math.max(0, p)));
    jac.push(p >= 0 && p <= 1 ? ji : 0);
  }
  return { y, jac };
}

test('the one-kernel step equals the composed ops bit for bit, and the float64 reference', async () => {
  for (const [lam, eta] of [[1 / 255, 2 / 255], [2 / 255, 16 / 255], [0.5 / 255, Infinity], [0, 1 / 255]]) {
    await asyncScope(async () => {
      const xt = tensor(x, [n]), gt = tensor(g, [n]), x0t = tensor(x0, [n]);
      const fused = await purifyStep(xt, gt, x0t, lam, eta).data();
      let v = sub(xt, mulScalar(sign(gt), lam));
      if (Number.isFinite(eta)) v = minimum(maximum(v, addScalar(x0t, -eta)), addScalar(x0t, eta));
      const composed = await clamp(v, 0, 1).data();
      assert.equal(Array.from(fused), Array.from(composed), `lam ${lam * 255}/255, eta ${eta * 255}/255`);
      assert.equal(Array.from(fused), reference(lam, eta, new Array(n).fill(1)).y);
    });
  }
});

test('the Jacobian update follows the composed ops\' derivatives, ties as half gradients', async () => {
  const j0 = Array.from({ length: n }, (_, i) => [1, 0, 0.5][i % 3]);
  for (const [lam, eta] of [[1 / 255, 2 / 255], [1 / 255, Infinity], [3 / 255, 1 / 255]]) {
    await asyncScope(async () => {
      const jac = tensor(Float32Array.from(j0), [n]);
      purifyStepJacobian(jac, tensor(x, [n]), tensor(g, [n]), tensor(x0, [n]), lam, eta);
      const got = Array.from(await jac.data());
      const want = reference(lam, eta, j0).jac;
      assert.equal(got, want, `lam ${lam * 255}/255, eta ${eta * 255}/255`);
      if (Number.isFinite(eta)) assert.ok(want.some((w, i) => w !== 0 && w !== 1 && w !== j0[i]), 'a tie occurred');
    });
  }
});

test('bad input names what is wrong', async () => {
  await asyncScope(async () => {
    const a = fill([4], 0.5), b = fill([5], 0.5);
    assert.throws(() => purifyStep(a, b, a, 1 / 255, 0.1), /purifyStep: g \[5\] must have the images' shape \[4\]/);
    assert.throws(() => purifyStep(a, a, a, -1, 0.1), /the step must be a finite number ≥ 0, got -1/);
    assert.throws(() => purifyStep(a, a, a, 1 / 255, -0.1), /the ball radius must be ≥ 0/);
    assert.throws(() => purifyStepJacobian(b, a, a, a, 1 / 255, 0.1), /jac \[5\] must have the images' shape \[4\]/);
  });
});

test.run();
