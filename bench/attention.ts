// Attention benchmark: the fused kernels (kernels/attention.wgsl) against the same math composed
// from the engine's primitive ops (matmul, softmax, elementwise), forward alone and forward +
// backward, at the shapes the MAE models use. Each timed run is awaited to completion.
//
// FLOPs are counted the FlashAttention way: forward 4·B·H·Nq·Nk·d (two matmuls), backward 2.5× that
// (five matmuls), recomputation not counted, so both implementations are credited the same work.
import { engine, init } from '../src/engine/engine.js';
import { Rng } from '../src/engine/random.js';
import { scope, Tensor } from '../src/engine/tensor.js';
import { grad, noGrad } from '../src/engine/autograd.js';
import { tensor } from '../src/engine/ops/creation.js';
import { attention, type AttentionImpl } from '../src/engine/ops/attention.js';

export interface AttentionBenchRow {
  kernel: 'attention_fwd_bwd' | 'attention_fwd';
  /** [B, H, N, d] */
  shape: number[];
  impl: 'amrm' | 'amrm-composed';
  adapter: string;
  median_ms: number;
  gflops: number;
}

export interface AttentionBenchOptions {
  /** Fewer shapes (the two CIFAR ones with H = 3) for a quick check; still ≥ 10 timed runs. */
  quick?: boolean;
  /** Timed runs per measurement (default 10 quick, 15 full). */
  reps?: number;
  /** Called with each row as soon as it is measured. */
  onRow?: (row: AttentionBenchRow) => void;
}

/** CIFAR MAE (32×32 images, 4×4 patches: 65 tokens, 17 visible at 75% masking) and ImageNet MAE (50, 197). */
const CIFAR = [[32, 3, 17, 64], [32, 3, 65, 64], [32, 12, 17, 64], [32, 12, 65, 64]];
const IMAGENET = [[8, 12, 50, 64], [4, 12, 197, 64]];

async function median(run: () => void, reps: number): Promise<number> {
  const rt = engine().runtime;
  for (let i = 0; i < 2; i++) { run(); await rt.sync(); } // pipelines compiled, pool warm
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    await rt.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

export async function runAttentionBench(options: AttentionBenchOptions = {}): Promise<AttentionBenchRow[]> {
  const quick = options.quick ?? false;
  const reps = Math.max(10, options.reps ?? (quick ? 10 : 15));
  const shapes = quick ? CIFAR.slice(0, 2) : [...CIFAR, ...IMAGENET];
  const adapter = engine().gpu.kind;
  const rng = new Rng(7);
  const rows: AttentionBenchRow[] = [];
  for (const shape of shapes) {
    const [B, H, N, d] = shape;
    const n = B * H * N * d;
    const rand = (): Tensor => tensor(Float32Array.from({ length: n }, () => rng.uniform(-1, 1)), shape);
    const [q, k, v, gy] = [rand(), rand(), rand(), rand()];
    const fwdFlops = 4 * B * H * N * N * d;
    for (const impl of ['fused', 'composed'] as AttentionImpl[]) {
      const name = impl === 'fused' ? 'amrm' : 'amrm-composed';
      const fwd = await median(() => scope(() => noGrad(() => { attention(q, k, v, { impl }); })), reps);
      const add = (kernel: AttentionBenchRow['kernel'], ms: number, flops: number): void => {
        const row = { kernel, shape, impl: name, adapter, median_ms: +ms.toFixed(3), gflops: +(flops / ms / 1e6).toFixed(2) } as AttentionBenchRow;
        rows.push(row);
        options.onRow?.(row);
      };
      add('attention_fwd', fwd, fwdFlops);
      for (const t of [q, k, v]) t.requireGrad(true);
      const both = await median(() => scope(() => {
        const { out } = attention(q, k, v, { impl });
        // grad() hands the gradients over outside any scope: dispose them here.
        for (const g of grad(out, [q, k, v], gy)) g.dispose();
      }), reps);
      for (const t of [q, k, v]) t.requireGrad(false);
      add('attention_fwd_bwd', both, 3.5 * fwdFlops);
    }
    for (const t of [q, k, v, gy]) t.dispose();
  }
  return rows;
}

// Run directly: `node dist/bench/attention.js [--quick]` prints one line per measurement and the
// fused/composed ratios.
const direct = typeof process !== 'undefined' && process.argv[1]?.endsWith('/bench/attention.js');
if (direct) {
  await init();
  const rows = await runAttentionBench({ quick: process.argv.includes('--quick'), onRow: (r) => console.log(JSON.stringify(r)) });
  for (const r of rows.filter((x) => x.impl === 'amrm')) {
    const c = rows.find((x) => x.impl === 'amrm-composed' && x.kernel === r.kernel && x.shape.join() === r.shape.join())!;
    console.log(`${r.kernel} [${r.shape}] ${r.adapter}: fused ${r.median_ms} ms (${r.gflops} GFLOP/s), composed ${c.median_ms} ms, ratio ${(c.median_ms / r.median_ms).toFixed(2)}x`);
  }
  process.exit(0);
}
