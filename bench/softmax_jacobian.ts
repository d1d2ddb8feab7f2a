// Softmax-Jacobian kernels, fused ('amrm') versus composed from the engine's primitive ops
// ('amrm-composed'), at the attention shapes of CIFAR MAE (B 32, H 3, N 65, d 64) and ImageNet MAE
// (N 197), and against TF.js's composition of the same math on the same GPUDevice ('tfjs'). Each
// row is the median of timed runs after warm-up, each run timed to completion, the
// implementations alternating round by round (bench/timing.ts).
// gbps counts the bytes the op must move at least (its inputs read once, its outputs written once);
// gflops, where the op multiplies matrices, counts 2 FLOPs per multiply-add of the products.
import { init, engine } from '../src/engine/engine.js';
import { Tensor, scope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { softmax } from '../src/engine/ops/softmax.js';
import { Rng } from '../src/engine/random.js';
import { interleavedMedians, loadTfjs, tfOnce, type TfTensor } from './timing.js';
import { attentionShift, amvGradQK, amvLoss, softmaxJvp, softmaxVjp, type SoftmaxJacobianImpl } from '../src/engine/ops/softmax_jacobian.js';

export interface SoftmaxJacobianBenchRow {
  kernel: string;
  shape: string;
  impl: 'amrm' | 'amrm-composed' | 'tfjs';
  adapter: string;
  median_ms: number;
  gbps: number;
  gflops?: number;
}

const round = (v: number): number => Number(v.toFixed(3));

interface Case { B: number; H: number; N: number; d: number; }

function randomTensor(rng: Rng, shape: number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform(lo, hi);
  return tensor(data, shape);
}

/** Rows for every kernel × shape × implementation; `quick` trims the repetitions (still ≥ 10). */
export async function runSoftmaxJacobianBench(opts: { quick?: boolean; noTfjs?: boolean } = {}): Promise<{ rows: SoftmaxJacobianBenchRow[]; tfjs: string }> {
  await init();
  const adapter = engine().gpu.kind;
  const reps = opts.quick ? 10 : 25;
  const rt = engine().runtime;
  const tfSide = opts.noTfjs ? 'left out (noTfjs)' : await loadTfjs();
  const tf = typeof tfSide === 'string' ? undefined : tfSide;
  const cases: Case[] = [{ B: 32, H: 3, N: 65, d: 64 }, { B: 32, H: 3, N: 197, d: 64 }];
  const rows: SoftmaxJacobianBenchRow[] = [];
  const rng = new Rng(7);
  for (const c of cases) {
    const { B, H, N, d } = c;
    const shape = `B${B} H${H} N${N} d${d}`;
    const qk = [B, H, N, d], nn = [B, H, N, N];
    const maps = B * H * N * N, vecs = B * H * N * d;
    const Q = randomTensor(rng, qk), K = randomTensor(rng, qk), dQ = randomTensor(rng, qk), dK = randomTensor(rng, qk);
    const A = scope(() => softmax(randomTensor(rng, nn, -4, 4)));
    const Aref = scope(() => softmax(randomTensor(rng, nn, -4, 4)));
    const V = randomTensor(rng, nn);
    // The same inputs in TF.js.
    const host = tf ? await Promise.all([Q, K, dQ, dK, A, Aref, V].map((t) => t.data())) : [];
    const tIn = tf ? host.map((h, i) => tf.tf.tensor(h, i < 4 ? qk : nn)) : [];
    type TfRun = () => TfTensor | TfTensor[];
    let tfRuns: Record<string, TfRun> = {};
    if (tf) {
      const t = tf.tf;
      const [tQ, tK, tdQ, tdK, tA, tAref, tV] = tIn;
      const jvp = (a: TfTensor, v: TfTensor): TfTensor => t.mul(a, t.sub(v, t.sum(t.mul(a, v), -1, true)));
      const amv = (a: TfTensor): TfTensor => t.sum(t.square(t.sub(a, tAref)), [2, 3]);
      const scores = (q: TfTensor, k: TfTensor): TfTensor => t.mul(t.matMul(q, k, false, true), 1 / Math.sqrt(d));
      const gradQK = t.grads((q: TfTensor, k: TfTensor) => t.sum(amv(t.softmax(scores(q, k)))));
      tfRuns = {
        softmaxJvp: () => jvp(tA, tV),
        softmaxVjp: () => jvp(tA, tV),
        attentionShift: () => jvp(tA, t.add(scores(tdQ, tK), scores(tQ, tdK))),
        amvLoss: () => amv(tA),
        amvGradQK: () => [amv(t.softmax(scores(tQ, tK))), ...gradQK([tQ, tK])],
      };
    }
    const kernels: { kernel: string; bytes: number; flops?: number; run: (impl: SoftmaxJacobianImpl) => Tensor[] }[] = [
      { kernel: 'softmaxJvp', bytes: 3 * maps * 4, run: (impl) => [softmaxJvp(A, V, { impl })] },
      { kernel: 'softmaxVjp', bytes: 3 * maps * 4, run: (impl) => [softmaxVjp(A, V, { impl })] },
      {
        kernel: 'attentionShift', bytes: (4 * vecs + 2 * maps) * 4, flops: 2 * maps * 2 * d,
        run: (impl) => [attentionShift(Q, K, dQ, dK, A, { impl })],
      },
      { kernel: 'amvLoss', bytes: 2 * maps * 4 + B * H * 4, run: (impl) => [amvLoss(A, Aref, { impl })] },
      {
        // Scores, softmax, the loss and its gradient: Q Kᵀ, dS K and dSᵀ Q are three products.
        kernel: 'amvGradQK', bytes: (2 * vecs + maps) * 4 + (2 * vecs + B * H) * 4, flops: 3 * 2 * maps * d,
        run: (impl) => { const g = amvGradQK(Q, K, Aref, { impl }); return [g.loss, g.dQ, g.dK]; },
      },
    ];
    for (const k of kernels) {
      const names: SoftmaxJacobianBenchRow['impl'][] = ['amrm', 'amrm-composed'];
      const runs = (['fused', 'composed'] as const).map((impl) => async () => {
        const outs = scope(() => k.run(impl));
        await rt.sync();
        for (const o of outs) o.dispose();
      });
      if (tf) { names.push('tfjs'); runs.push(tfOnce(tf, tfRuns[k.kernel])); }
      const ms = await interleavedMedians(reps, 20_000, runs);
      for (const [i, impl] of names.entries()) {
        if (ms[i] === undefined) continue;
        const row: SoftmaxJacobianBenchRow = { kernel: k.kernel, shape, impl, adapter, median_ms: round(ms[i]!), gbps: round(k.bytes / ms[i]! / 1e6) };
        if (k.flops) row.gflops = round(k.flops / ms[i]! / 1e6);
        rows.push(row);
      }
    }
    if (tf) tf.tf.dispose(tIn);
    for (const t of [Q, K, dQ, dK, A, Aref, V]) t.dispose();
  }
  return { rows, tfjs: typeof tfSide === 'string' ? tfSide : `${tfSide.version} (WebGPU backend) on the same GPUDevice` };
}
