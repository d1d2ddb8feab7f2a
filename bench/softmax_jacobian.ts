// Softmax-Jacobian kernels, fused ('amrm') versus composed from the engine's primitive ops
// ('amrm-composed'), at the attention shapes of CIFAR MAE (B 32, H 3, N 65, d 64) and ImageNet MAE
// (N 197). Each row is the median of timed runs after warm-up, each run timed to completion
// (`runtime.sync()`), fused and composed alternating.
// gbps counts the bytes the op must move at least (its inputs read once, its outputs written once);
// gflops, where the op multiplies matrices, counts 2 FLOPs per multiply-add of the products.
import { init, engine } from '../src/engine/engine.js';
import { Tensor, scope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { softmax } from '../src/engine/ops/softmax.js';
import { Rng } from '../src/engine/random.js';
import { attentionShift, amvGradQK, amvLoss, softmaxJvp, softmaxVjp, type SoftmaxJacobianImpl } from '../src/engine/ops/softmax_jacobian.js';

export interface SoftmaxJacobianBenchRow {
  kernel: string;
  shape: string;
  impl: 'amrm' | 'amrm-composed';
  adapter: string;
  median_ms: number;
  gbps: number;
  gflops?: number;
  /**
   * Median CPU time of this process over the same runs (llvmpipe and SwiftShader run on the CPU):
   * steadier than wall time when other work shares the machine.
   */
  cpu_ms?: number;
}

const round = (v: number): number => Number(v.toFixed(3));

interface Case { B: number; H: number; N: number; d: number; }

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function randomTensor(rng: Rng, shape: number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform(lo, hi);
  return tensor(data, shape);
}

interface Timing { ms: number; cpuMs: number; }

/** One run timed to completion: wall time and this process's CPU time (user + system). */
async function timeOnce(run: () => Tensor[]): Promise<Timing> {
  const rt = engine().runtime;
  await rt.sync();
  // CPU time where the host has it (Node); NaN in a browser.
  const usage = globalThis.process?.cpuUsage;
  const t0 = performance.now();
  const c0 = usage?.();
  const outs = run();
  await rt.sync();
  const c = c0 && usage?.(c0);
  const ms = performance.now() - t0;
  for (const o of outs) o.dispose();
  return { ms, cpuMs: c ? (c.user + c.system) / 1000 : NaN };
}

/**
 * Medians over `reps` timed runs after `warmup` untimed ones, the implementations alternating run
 * by run so that a change in the machine's load (it is shared) falls on both alike.
 */
async function timeBoth(runs: (() => Tensor[])[], warmup: number, reps: number): Promise<Timing[]> {
  for (let i = 0; i < warmup; i++) for (const r of runs) await timeOnce(r);
  const got = runs.map(() => ({ ms: [] as number[], cpu: [] as number[] }));
  for (let i = 0; i < reps; i++) {
    for (const [k, r] of runs.entries()) {
      const t = await timeOnce(r);
      got[k].ms.push(t.ms);
      got[k].cpu.push(t.cpuMs);
    }
  }
  return got.map((g) => ({ ms: median(g.ms), cpuMs: median(g.cpu) }));
}

/** Rows for every kernel × shape × implementation; `quick` trims the repetitions (still ≥ 10). */
export async function runSoftmaxJacobianBench(opts: { quick?: boolean } = {}): Promise<SoftmaxJacobianBenchRow[]> {
  await init();
  const adapter = engine().gpu.kind;
  const reps = opts.quick ? 10 : 25;
  const warmup = opts.quick ? 2 : 3;
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
      const impls = ['fused', 'composed'] as const;
      const times = await timeBoth(impls.map((impl) => () => k.run(impl)), warmup, reps);
      for (const [i, impl] of impls.entries()) {
        const { ms, cpuMs } = times[i];
        const row: SoftmaxJacobianBenchRow = {
          kernel: k.kernel, shape, impl: impl === 'fused' ? 'amrm' : 'amrm-composed', adapter,
          median_ms: round(ms), gbps: round(k.bytes / ms / 1e6),
        };
        if (k.flops) row.gflops = round(k.flops / ms / 1e6);
        if (Number.isFinite(cpuMs)) row.cpu_ms = round(cpuMs);
        rows.push(row);
      }
    }
    for (const t of [Q, K, dQ, dK, A, Aref, V]) t.dispose();
  }
  return rows;
}
