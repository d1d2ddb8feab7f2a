// A representative set of ops run on seeded inputs, in the browser and in Node alike; the browser
// suite compares the two (scripts/browser-suite.mjs).
import * as amrm from '../src/index.js';

const { Rng } = amrm;
type T = amrm.Tensor;

function randn(rng: InstanceType<typeof Rng>, shape: number[]): T {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal();
  return amrm.tensor(d, shape);
}

/** Each case builds its inputs from its own seed and returns the output tensor. */
export const CASES: Record<string, (rng: InstanceType<typeof Rng>) => T> = {
  'gelu [1031]': (r) => amrm.gelu(randn(r, [1031])),
  'geluTanh, silu [517]': (r) => amrm.add(amrm.geluTanh(randn(r, [517])), amrm.silu(randn(r, [517]))),
  'add broadcast [3,1,5]+[4,5]': (r) => amrm.add(randn(r, [3, 1, 5]), randn(r, [4, 5])),
  'div, maximum [2,65]': (r) => amrm.maximum(amrm.div(randn(r, [2, 65]), amrm.addScalar(amrm.abs(randn(r, [65])), 0.5)), randn(r, [2, 1])),
  'sum axes [4,33,7]': (r) => amrm.sum(randn(r, [4, 33, 7]), [0, 2]),
  'max [9,130]': (r) => amrm.max(randn(r, [9, 130]), 1),
  'softmax [5,67]': (r) => amrm.softmax(randn(r, [5, 67])),
  'layerNorm [6,48]': (r) => amrm.layerNorm(randn(r, [6, 48]), randn(r, [48]), randn(r, [48])),
  'conv2d 3->5, 3x3, stride 2, pad 1 [2,3,9,9]': (r) => amrm.conv2d(randn(r, [2, 3, 9, 9]), randn(r, [5, 3, 3, 3]), randn(r, [5]), { stride: 2, padding: 1 }),
  'avgPool2d + permute [1,2,6,6]': (r) => amrm.permute(amrm.avgPool2d(randn(r, [1, 2, 6, 6]), 2), [0, 2, 3, 1]),
  'gatherRows [2,9,4]': (r) => amrm.gatherRows(randn(r, [2, 9, 4]), amrm.tensor(Int32Array.from([0, 8, 3, 5, 5, 1]), [2, 3])),
  'crossEntropy backward [4,10]': (r) => {
    const x = randn(r, [4, 10]).requireGrad();
    amrm.backward(amrm.crossEntropy(x, [3, 0, 9, 3]));
    return x.grad!;
  },
  'attentionPacked backward [2,9,3,2,8]': (r) => {
    const qkv = randn(r, [2, 9, 3, 2, 8]).requireGrad();
    amrm.backward(amrm.attentionPacked(qkv).out, randn(r, [2, 9, 2, 8]));
    return qkv.grad!;
  },
  'matmul + residual, modulate, gatedResidual [2,5,8]': (r) => {
    const x = randn(r, [2, 5, 8]);
    const y = amrm.matmul(x, randn(r, [8, 8]), { bias: randn(r, [8]), residual: randn(r, [2, 5, 8]) });
    return amrm.gatedResidual(x, randn(r, [2, 1, 8]), amrm.modulate(y, randn(r, [2, 1, 8]), randn(r, [2, 1, 8])));
  },
  'purifyStep and its Jacobian [67]': (r) => {
    const x0 = amrm.clamp(randn(r, [67]), 0, 1), x = amrm.clamp(randn(r, [67]), 0, 1), g = randn(r, [67]);
    const jac = amrm.fill([67], 1);
    amrm.purifyStepJacobian(jac, x, g, x0, 1 / 255, 2 / 255);
    return amrm.concat([amrm.purifyStep(x, g, x0, 1 / 255, 2 / 255), jac], 0);
  },
  'backward of sum(tanh(x)*x) [37]': (r) => {
    const x = randn(r, [37]).requireGrad();
    amrm.backward(amrm.sum(amrm.mul(amrm.tanh(x), x)));
    return x.grad!;
  },
};

export async function runCases(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, make] of Object.entries(CASES)) {
    out[name] = await amrm.asyncScope(async () => Array.from(await make(new Rng(name.length * 7919)).read()));
  }
  return out;
}

export async function describeAdapter(): Promise<string> {
  const e = await amrm.init();
  return `${e.gpu.kind} (${e.gpu.info.description || e.gpu.info.architecture})`;
}
