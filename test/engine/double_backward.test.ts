// Second-order autograd: grad(..., { createGraph: true }) on forwards run inside differentiableTwice.
// Each check is a directional derivative of a gradient against central differences of first-order
// gradients: for a function f(θ), ⟨∇_θ ⟨∇_θ f, u⟩, v⟩ = uᵀ H v against ⟨(∇f(θ + εv) − ∇f(θ − εv)) / 2ε, u⟩,
// and for the robust fine-tuning's use, ⟨∇_W ⟨∇_x L, u⟩, V⟩ (a gradient of an input gradient with
// respect to weights). Graphs: an MLP under every activation with a second derivative, layer norm,
// attention in a pre-norm transformer block (fused kernels outside differentiableTwice, their
// composed forms inside: both give the same first-order gradients), the masked patch loss with
// norm_pix, gathers and scatters of tokens, and DiT's modulation.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng } from '../harness.js';
import { Tensor, asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { differentiableTwice, grad } from '../../src/engine/autograd.js';
import { add, geluTanh, gelu, mul, relu, sigmoid, silu, tanh, exp, div, addScalar, maximum, sqrt, abs, powScalar } from '../../src/engine/ops/elementwise.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { mean, max, sum } from '../../src/engine/ops/reduce.js';
import { crossEntropy } from '../../src/engine/ops/loss.js';
import { softmax, logSoftmax } from '../../src/engine/ops/softmax.js';
import { layerNorm } from '../../src/engine/ops/layernorm.js';
import { attention } from '../../src/engine/ops/attention.js';
import { reconstructionLoss } from '../../src/engine/ops/patch.js';
import { concat, gatherRows, permute, reshape, scatterRows, slice } from '../../src/engine/ops/layout.js';
import { gatedResidual, modulate } from '../../src/engine/ops/modulate.js';
import { MAE } from '../../src/models/mae.js';
import { maeConfig } from '../../src/models/mae_configs.js';

await setup();
const test = suite('autograd: second order');

const vals = (rng: Rng, n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => s * rng.normal());
const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };

interface Param { data: Float32Array; shape: number[]; }

/**
 * Checks uᵀ (∂g/∂θ_j) v_j summed over the parameters that vary, where g = ∇_{θ_i} f (the gradient
 * with respect to the `gradOf` parameters, on the tape), against central differences of g. `f`
 * builds the scalar from leaf tensors (one per parameter).
 */
async function checkSecondOrder(name: string, params: Param[], f: (t: Tensor[]) => Tensor, gradOf: number[], vary: number[], rng: Rng, o: { eps?: number; tol?: number } = {}): Promise<void> {
  const eps = o.eps ?? 2e-2, tol = o.tol ?? 1e-2;
  const u = gradOf.map((i) => vals(rng, params[i].data.length));
  const v = vary.map((j) => vals(rng, params[j].data.length));
  const leaves = (ps: Param[]): Tensor[] => ps.map((p) => tensor(p.data, p.shape).requireGrad());
  // ⟨g(θ), u⟩ at θ shifted by s·v, first order only.
  const gu = async (s: number): Promise<number> => asyncScope(async () => {
    const ps = params.map((p, i) => {
      const k = vary.indexOf(i);
      return k < 0 ? p : { ...p, data: Float32Array.from(p.data, (x, e) => x + s * v[k][e]) };
    });
    const t = leaves(ps);
    const g = grad(f(t), gradOf.map((i) => t[i]));
    let total = 0;
    for (const [k, gk] of g.entries()) total += dot(await gk.data(), u[k]);
    return total;
  });
  // Central differences at ε and ε/2, Richardson-extrapolated (error O(ε⁴) rather than O(ε²)).
  const central = async (e: number): Promise<number> => ((await gu(e)) - (await gu(-e))) / (2 * e);
  const fd1 = await central(eps), fd2 = await central(eps / 2);
  const fd = (4 * fd2 - fd1) / 3;
  const exact = await asyncScope(async () => {
    const t = leaves(params);
    const g = differentiableTwice(() => grad(f(t), gradOf.map((i) => t[i]), undefined, { createGraph: true }));
    const h = g.map((gk, k) => sum(mul(gk, tensor(u[k], [...gk.shape])))).reduce((a, b) => add(a, b));
    const hv = grad(h, vary.map((j) => t[j]));
    let total = 0;
    for (const [k, hk] of hv.entries()) total += dot(await hk.data(), v[k]);
    return total;
  });
  const err = Math.abs(exact - fd) / Math.max(Math.abs(fd), 1e-3);
  assert.ok(err < tol, `${name}: second-order ${exact.toExponential(4)} vs finite differences ${fd.toExponential(4)} (relative error ${err.toExponential(2)})`);
}

const p = (rng: Rng, shape: number[], s = 1): Param => ({ data: vals(rng, shape.reduce((a, b) => a * b, 1), s), shape });

test('an MLP under each activation: Hessian-vector products of the loss, and the weights\' gradient of the input gradient', async () => {
  const rng = new Rng(1);
  const acts: [string, (t: Tensor) => Tensor][] = [
    ['tanh-GELU', geluTanh], ['GELU', gelu], ['SiLU', silu], ['tanh', tanh], ['sigmoid', sigmoid], ['ReLU', relu],
    ['exp·softplus-free', (t) => div(exp(mul(t, tensor([0.3], [1]))), addScalar(mul(t, t), 1))],
    ['sqrt |x|', (t) => sqrt(addScalar(abs(t), 0.5))], ['pow 3', (t) => powScalar(t, 3)], ['max(x, 0.2x)', (t) => maximum(t, mul(t, tensor([0.2], [1])))],
  ];
  for (const [name, act] of acts) {
    const params = [p(rng, [4, 6]), p(rng, [6, 8], 0.5), p(rng, [8], 0.1), p(rng, [8, 5], 0.5), p(rng, [5], 0.1)];
    const f = ([x, W1, b1, W2, b2]: Tensor[]): Tensor => crossEntropy(matmul(act(matmul(x, W1, { bias: b1 })), W2, { bias: b2 }), [0, 3, 1, 4]);
    // Piecewise-linear activations: steps small enough not to cross a kink.
    const eps = /ReLU|max/.test(name) ? 1e-3 : undefined;
    await checkSecondOrder(`${name}: H v over the weights`, params, f, [1, 3], [1, 2, 3, 4], rng, { eps });
    await checkSecondOrder(`${name}: ∇_W ⟨∇_x L, u⟩`, params, f, [0], [1, 3], rng, { eps });
  }
});

test('softmax, log-softmax, max and mean inside a loss', async () => {
  const rng = new Rng(2);
  const params = [p(rng, [3, 7]), p(rng, [7, 7], 0.5)];
  const f = ([x, W]: Tensor[]): Tensor => {
    const z = matmul(x, W);
    return add(sum(mul(softmax(z), z)), add(mean(mul(logSoftmax(z), logSoftmax(x))), sum(max(mul(z, z), -1))));
  };
  await checkSecondOrder('softmax / logSoftmax / max', params, f, [0, 1], [0, 1], rng, { eps: 1e-3 });
});

test('layer norm (the kernel outside, its composed form inside differentiableTwice): second order in x, gamma and beta', async () => {
  const rng = new Rng(3);
  for (const d of [8, 5]) {
    const params = [p(rng, [3, 4, d]), { data: Float32Array.from({ length: d }, () => 1 + 0.2 * rng.normal()), shape: [d] }, p(rng, [d], 0.1), p(rng, [3, 4, d])];
    const f = ([x, g, b, c]: Tensor[]): Tensor => sum(mul(powScalar(layerNorm(x, g, b, 1e-5), 2), c));
    await checkSecondOrder(`layerNorm d ${d}`, params, f, [0, 1, 2], [0, 1, 2], rng);
  }
});

test('a pre-norm attention block: second order through q, k, v and the projections; fused first-order gradients equal the composed ones', async () => {
  const rng = new Rng(4);
  const B = 2, N = 5, D = 8, H = 2, dh = 4;
  const params = [p(rng, [B, N, D]), p(rng, [D, 3 * D], 0.4), p(rng, [D, D], 0.4)];
  const block = (impl: 'fused' | 'composed') => ([x, Wqkv, Wo]: Tensor[]): Tensor => {
    const h = layerNorm(x);
    const qkv = reshape(matmul(h, Wqkv), [B, N, 3, H, dh]);
    const part = (i: number): Tensor => permute(reshape(slice(qkv, [0, 0, i, 0, 0], [B, N, i + 1, H, dh]), [B, N, H, dh]), [0, 2, 1, 3]);
    const a = attention(part(0), part(1), part(2), { impl }).out;
    const y = add(x, matmul(reshape(permute(a, [0, 2, 1, 3]), [B, N, D]), Wo));
    return mean(mul(y, y));
  };
  await checkSecondOrder('attention block (H v)', params, block('fused'), [1, 2], [1, 2], rng);
  await checkSecondOrder('attention block (∇_W ⟨∇_x L, u⟩)', params, block('fused'), [0], [1, 2], rng);
  const grads = async (inside: boolean, impl: 'fused' | 'composed'): Promise<Float32Array[]> => asyncScope(async () => {
    const t = params.map((q) => tensor(q.data, q.shape).requireGrad());
    const g = inside ? differentiableTwice(() => grad(block(impl)(t), t, undefined, { createGraph: true })) : grad(block(impl)(t), t);
    return Promise.all(g.map(async (x) => new Float32Array(await x.data())));
  });
  const fused = await grads(false, 'fused'), twice = await grads(true, 'fused');
  for (let i = 0; i < fused.length; i++) {
    const scale = Math.max(...fused[i].map(Math.abs));
    const err = Math.max(...fused[i].map((v, e) => Math.abs(v - twice[i][e]))) / scale;
    assert.ok(err < 1e-4, `parameter ${i}: the fused kernels' gradient and the composed one differ by ${err.toExponential(2)} of its scale`);
  }
});

test('the masked patch loss with norm_pix: second order in the prediction and the image (through the patch statistics)', async () => {
  const rng = new Rng(5);
  const B = 2, C = 3, S = 8, P = 4, L = 4;
  const params = [p(rng, [B, L, P * P * C]), { data: Float32Array.from({ length: B * C * S * S }, () => rng.uniform(0, 1)), shape: [B, C, S, S] }];
  const mask = tensor(Float32Array.from([1, 0, 1, 1, 0, 1, 1, 0]), [B, L]);
  for (const normPix of [false, true]) {
    const f = ([pred, img]: Tensor[]): Tensor => reconstructionLoss(pred, img, mask, { p: P, normPix });
    await checkSecondOrder(`patch loss normPix ${normPix}`, params, f, [1], [0, 1], rng);
  }
});

test('token gathers, scatters, concatenation and DiT modulation', async () => {
  const rng = new Rng(6);
  const B = 2, N = 6, D = 4;
  const params = [p(rng, [B, N, D]), p(rng, [B, 1, D], 0.3), p(rng, [B, 1, D], 0.3), p(rng, [B, 1, D], 0.3), p(rng, [B, 2, D])];
  const idx = tensor(Int32Array.from([0, 2, 5, 1, 3, 4]), [B, 3]);
  const put = tensor(Int32Array.from([1, 4, 0, 5]), [B, 2]);
  const f = ([x, shift, scale, gate, src]: Tensor[]): Tensor => {
    const kept = gatherRows(x, idx);
    const m = modulate(tanh(kept), shift, scale);
    const r = gatedResidual(kept, gate, mul(m, m));
    const back = scatterRows(concat([r, r], 1), put, mul(src, src));
    return sum(mul(tanh(back), back));
  };
  await checkSecondOrder('gather / modulate / gatedResidual / scatter / concat', params, f, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], rng);
});

test('the MAE and MaskDiT losses under a fixed mask: second order in the image (a Hessian-vector product through every layer)', async () => {
  const rng = new Rng(7);
  const mae = MAE.create({ ...maeConfig('mae-tiny-c32'), imgSize: [8, 8], patchSize: 2, inChans: 3, embedDim: 16, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 }, { seed: 3 });
  try {
    const mask = Float32Array.from({ length: 2 * 16 }, (_, i) => (i % 4 === 1 ? 1 : 0));
    const params = [{ data: Float32Array.from({ length: 2 * 192 }, () => rng.uniform(0.1, 0.9)), shape: [2, 3, 8, 8] }];
    await checkSecondOrder('MAE loss in x', params, ([x]) => mae.forward(x, { mask }).loss, [0], [0], rng);
  } finally { mae.dispose(); }
});

test('an unrolled loop of gradient steps: the weights\' gradient of the last iterate (gradients with respect to computed iterates, on the tape)', async () => {
  const rng = new Rng(8);
  const x0 = vals(rng, 12), W0 = vals(rng, 12 * 6, 0.5), V = vals(rng, 12 * 6), c = vals(rng, 12);
  const run = (W: Tensor, steps: number): Tensor => differentiableTwice(() => {
    let x = tensor(x0, [2, 6]).requireGrad();
    for (let s = 0; s < steps; s++) {
      const L = sum(mul(tanh(matmul(x, reshape(W, [6, 12]))), tanh(matmul(x, reshape(W, [6, 12])))));
      const [g] = grad(L, [x], undefined, { createGraph: true });
      x = add(x, mul(tanh(g), tensor([-0.1], [1])));
    }
    return sum(mul(x, tensor(c, [2, 6])));
  });
  for (const steps of [1, 2, 3]) {
    const at = async (e: number): Promise<number> => asyncScope(async () => (await run(tensor(W0.map((w, i) => w + e * V[i]), [72]), steps).data())[0]);
    const central = async (e: number): Promise<number> => ((await at(e)) - (await at(-e))) / (2 * e);
    const fd = (4 * (await central(5e-3)) - (await central(1e-2))) / 3;
    const exact = await asyncScope(async () => {
      const W = tensor(W0, [72]).requireGrad();
      const [g] = grad(run(W, steps), [W]);
      return dot(await g.data(), V);
    });
    const err = Math.abs(exact - fd) / Math.max(Math.abs(fd), 1e-3);
    assert.ok(err < 1e-2, `${steps} steps: ${exact} vs finite differences ${fd} (relative error ${err.toExponential(2)})`);
  }
});

test('grad() gives gradients for wrt alone and leaves every .grad as it was; createGraph needs a forward run inside differentiableTwice', async () => {
  await asyncScope(async () => {
    const w = tensor([1, 2, 3], [3]).requireGrad(), x = tensor([0.5, -1, 2], [3]).requireGrad();
    const [gx] = grad(sum(mul(mul(w, x), x)), [x]);
    assert.equal(Array.from(await gx.data()), [1, -4, 12]);
    assert.is(w.grad, undefined, 'w has no gradient');
    assert.is(x.grad, undefined, 'x\'s .grad is untouched');
    assert.throws(() => grad(sum(mul(w, x)), [x], undefined, { createGraph: true }), /recorded outside differentiableTwice/);
    // With respect to a computed tensor: d Σ y² / d y = 2y for y = w·x.
    const y = mul(w, x);
    const [gyy] = grad(sum(mul(y, y)), [y, w]);
    assert.equal(Array.from(await gyy.data()), [1, -4, 12]);
    // The gradient of a gradient: d/dx of Σ (∂/∂x Σ w·x³) = 6·w·x.
    const [g1] = differentiableTwice(() => grad(sum(mul(w, powScalar(x, 3))), [x], undefined, { createGraph: true }));
    const [g2] = grad(sum(g1), [x]);
    assert.equal(Array.from(await g2.data()).map((v) => Math.round(v * 1e4) / 1e4), [3, -12, 36]);
  });
});

test.run();
