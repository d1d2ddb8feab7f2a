// Attention benchmark: the fused kernels (kernels/attention.wgsl) against the same math composed
// from the engine's primitive ops (matmul, softmax, elementwise) and against TF.js's composition
// (matMul, softmax, tf.grads) on the same GPUDevice, forward alone and forward + backward, at the
// shapes the MAE models use. Before timing, the fused result at the adapter's default work split is
// checked against the composed path (the tests run smaller splits, which compile faster).
//
// FLOPs are counted the FlashAttention way: forward 4·B·H·Nq·Nk·d (two matmuls), backward 2.5× that
// (five matmuls), recomputation not counted, so every implementation is credited the same work.
import { engine, init } from '../src/engine/engine.js';
import { Rng } from '../src/engine/random.js';
import { scope, Tensor } from '../src/engine/tensor.js';
import { grad, noGrad } from '../src/engine/autograd.js';
import { tensor } from '../src/engine/ops/creation.js';
import { attention, type AttentionImpl } from '../src/engine/ops/attention.js';
import { interleavedMedians, loadTfjs, tfOnce, type TfSide, type TfTensor } from './timing.js';

export interface AttentionBenchRow {
  kernel: 'attention_fwd_bwd' | 'attention_fwd';
  /** [B, H, N, d] */
  shape: number[];
  impl: 'amrm' | 'amrm-composed' | 'tfjs';
  adapter: string;
  median_ms: number;
  gflops: number;
}

export interface AttentionBenchOptions {
  /** Fewer shapes (the two CIFAR ones with H = 3) for a quick check; still ≥ 10 timed runs. */
  quick?: boolean;
  /** Timed runs per measurement (default 10 quick, 15 full). */
  reps?: number;
  /** Leave TF.js out. */
  noTfjs?: boolean;
  /** Called with each row as soon as it is measured. */
  onRow?: (row: AttentionBenchRow) => void;
}

/** CIFAR MAE (32×32 images, 4×4 patches: 65 tokens, 17 visible at 75% masking) and ImageNet MAE (50, 197). */
const CIFAR = [[32, 3, 17, 64], [32, 3, 65, 64], [32, 12, 17, 64], [32, 12, 65, 64]];
const IMAGENET = [[8, 12, 50, 64], [4, 12, 197, 64]];
/** A run slower than this after warm-up is left out (TF.js at the largest shapes on SwiftShader). */
const MAX_MS = 20_000;

const relErr = (a: Float32Array, b: Float32Array): number => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / Math.max(den, 1e-30));
};

/** Fused (default split) against composed: output and the three gradients, relative to the norm. */
async function checkFused(q: Tensor, k: Tensor, v: Tensor, gy: Tensor): Promise<void> {
  const results: Float32Array[][] = [];
  for (const impl of ['fused', 'composed'] as AttentionImpl[]) {
    const ts = scope(() => {
      const { out } = attention(q, k, v, { impl });
      return [out.detach(), ...grad(out, [q, k, v], gy)];
    });
    results.push(await Promise.all(ts.map((t) => t.data())));
    for (const t of ts) t.dispose();
  }
  for (const [i, name] of ['out', 'dq', 'dk', 'dv'].entries()) {
    const e = relErr(results[0][i], results[1][i]);
    if (!(e <= 1e-4)) throw new Error(`attention bench: fused ${name} differs from composed by ${e.toExponential(2)} (q ${q.shape})`);
  }
}

export async function runAttentionBench(options: AttentionBenchOptions = {}): Promise<{ rows: AttentionBenchRow[]; tfjs: string }> {
  await init();
  const quick = options.quick ?? false;
  const reps = Math.max(10, options.reps ?? (quick ? 10 : 15));
  const shapes = quick ? CIFAR.slice(0, 2) : [...CIFAR, ...IMAGENET];
  const adapter = engine().gpu.kind;
  const tfSide = options.noTfjs ? 'left out (noTfjs)' : await loadTfjs();
  const tf: TfSide | undefined = typeof tfSide === 'string' ? undefined : tfSide;
  const rt = engine().runtime;
  const rng = new Rng(7);
  const rows: AttentionBenchRow[] = [];
  for (const shape of shapes) {
    const [B, H, N, d] = shape;
    const n = B * H * N * d;
    const host = [0, 1, 2, 3].map(() => Float32Array.from({ length: n }, () => rng.uniform(-1, 1)));
    const [q, k, v, gy] = host.map((h) => tensor(h, shape));
    for (const t of [q, k, v]) t.requireGrad(true);
    await checkFused(q, k, v, gy);
    const fwdFlops = 4 * B * H * N * N * d;
    const amrmFwd = (impl: AttentionImpl) => async () => {
      scope(() => noGrad(() => { attention(q, k, v, { impl }); }));
      await rt.sync();
    };
    const amrmBoth = (impl: AttentionImpl) => async () => {
      scope(() => {
        const { out } = attention(q, k, v, { impl });
        // grad() hands the gradients over outside any scope: dispose them here.
        for (const g of grad(out, [q, k, v], gy)) g.dispose();
      });
      await rt.sync();
    };
    const names: AttentionBenchRow['impl'][] = ['amrm', 'amrm-composed'];
    const fwds = [amrmFwd('fused'), amrmFwd('composed')];
    const boths = [amrmBoth('fused'), amrmBoth('composed')];
    let tfTensors: TfTensor[] = [];
    if (tf) {
      const t = tf.tf;
      tfTensors = host.map((h) => t.tensor(h, shape));
      const [tq, tk, tv, tgy] = tfTensors;
      const scale = 1 / Math.sqrt(d);
      const f = (a: TfTensor, b: TfTensor, c: TfTensor): TfTensor => t.matMul(t.softmax(t.mul(t.matMul(a, b, false, true), scale)), c);
      names.push('tfjs');
      fwds.push(tfOnce(tf, () => f(tq, tk, tv)));
      const g = t.grads(f as (...xs: TfTensor[]) => TfTensor);
      boths.push(tfOnce(tf, () => g([tq, tk, tv], tgy)));
    }
    for (const [kernel, impls, flops] of [['attention_fwd', fwds, fwdFlops], ['attention_fwd_bwd', boths, 3.5 * fwdFlops]] as const) {
      const ms = await interleavedMedians(reps, MAX_MS, impls);
      for (const [i, impl] of names.entries()) {
        if (ms[i] === undefined) continue;
        const row: AttentionBenchRow = { kernel, shape, impl, adapter, median_ms: +ms[i]!.toFixed(3), gflops: +(flops / ms[i]! / 1e6).toFixed(2) };
        rows.push(row);
        options.onRow?.(row);
      }
    }
    if (tf) tf.tf.dispose(tfTensors);
    for (const t of [q, k, v, gy]) t.dispose();
  }
  return { rows, tfjs: typeof tfSide === 'string' ? tfSide : `${tfSide.version} (WebGPU backend) on the same GPUDevice` };
}
