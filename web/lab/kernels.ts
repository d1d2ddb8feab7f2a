// A few kernel timings in the page, on whatever adapter the browser gives: matmul, softmax, layer
// norm, fused attention and the MAE patch loss, each the engine's own op. bench/kernels.ts measures
// more (and TF.js beside it) but writes files through Node, so the page keeps this small set.
//
// Timing: inputs are made once; a run records the op and waits for the GPU queue to finish it
// (the engine's sync(), which is what a readback waits for too, without copying the output back),
// then frees the output. One untimed run compiles the pipelines, one more warms the buffer pool;
// the figure is the median of `reps` timed runs. Matmul and attention report GFLOP/s, the
// memory-bound ops GB/s of the traffic they cannot avoid (read the inputs once, write the output once).
import { Tensor, scope } from '../../src/engine/tensor.js';
import { sync } from '../../src/engine/engine.js';
import { Rng } from '../../src/engine/random.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { softmax } from '../../src/engine/ops/softmax.js';
import { layerNorm } from '../../src/engine/ops/layernorm.js';
import { attentionPacked } from '../../src/engine/ops/attention.js';
import { reconstructionLoss } from '../../src/engine/ops/patch.js';

export interface KernelRow {
  kernel: string;
  shape: string;
  median_ms: number;
  reps: number;
  gflops?: number;
  gbps?: number;
}

interface Case {
  kernel: string;
  shape: string;
  /** Makes the inputs (kept for every run) and the op to time. */
  setup(rng: Rng): { inputs: Tensor[]; run: () => Tensor };
  flops?: number;
  bytes?: number;
}

function randn(rng: Rng, shape: number[]): Tensor {
  const d = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < d.length; i++) d[i] = rng.normal();
  return tensor(d, shape);
}

const F = 4; // bytes per f32

function cases(): Case[] {
  const M = 512, N = 512, K = 512;
  const sm = [512, 1024], ln = [2048, 192];
  const at = { B: 8, N: 65, H: 3, d: 64 };
  const pl = { B: 64, p: 4, n: 49 };
  return [
    {
      kernel: 'matmul', shape: `${M}×${K} · ${K}×${N}`, flops: 2 * M * N * K,
      setup: (r) => { const a = randn(r, [M, K]), b = randn(r, [K, N]); return { inputs: [a, b], run: () => matmul(a, b) }; },
    },
    {
      kernel: 'softmax', shape: `[${sm}] rows`, bytes: 2 * F * sm[0] * sm[1],
      setup: (r) => { const x = randn(r, sm); return { inputs: [x], run: () => softmax(x) }; },
    },
    {
      kernel: 'layerNorm', shape: `[${ln}] + affine`, bytes: F * (2 * ln[0] * ln[1] + 2 * ln[1]),
      setup: (r) => {
        const x = randn(r, ln), g = randn(r, [ln[1]]), b = randn(r, [ln[1]]);
        return { inputs: [x, g, b], run: () => layerNorm(x, g, b) };
      },
    },
    {
      // Q·Kᵀ and P·V: 2 multiply-adds per (query, key, channel), 4 flops.
      kernel: 'attention', shape: `B ${at.B}, N ${at.N}, H ${at.H}, d ${at.d}`, flops: 4 * at.B * at.H * at.N * at.N * at.d,
      setup: (r) => { const qkv = randn(r, [at.B, at.N, 3, at.H, at.d]); return { inputs: [qkv], run: () => attentionPacked(qkv).out }; },
    },
    {
      kernel: 'reconstructionLoss', shape: `B ${pl.B}, 28×28, p ${pl.p}, normPix`,
      bytes: F * (pl.B * pl.n * pl.p * pl.p * 2 + pl.B * pl.n),
      setup: (r) => {
        const pred = randn(r, [pl.B, pl.n, pl.p * pl.p]), img = randn(r, [pl.B, 1, 28, 28]);
        const m = new Float32Array(pl.B * pl.n);
        for (let i = 0; i < m.length; i++) m[i] = r.next() < 0.5 ? 1 : 0;
        const mask = tensor(m, [pl.B, pl.n]);
        return { inputs: [pred, img, mask], run: () => reconstructionLoss(pred, img, mask, { p: pl.p, normPix: true }) };
      },
    },
  ];
}

export const KERNEL_NAMES = cases().map((c) => c.kernel);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timeOnce(run: () => Tensor): Promise<number> {
  const t0 = performance.now();
  const y = scope(run);
  await sync();
  const ms = performance.now() - t0;
  y.dispose();
  return ms;
}

/** Runs every case (reps ≥ 1 timed runs each) and reports each row as it is measured. */
export async function runKernelBench(reps: number, onRow: (row: KernelRow, done: number, total: number) => void): Promise<KernelRow[]> {
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`kernel timings: reps must be a positive integer, got ${reps}`);
  const rows: KernelRow[] = [];
  const all = cases();
  for (const [i, c] of all.entries()) {
    const { inputs, run } = c.setup(new Rng(1000 + i));
    try {
      await timeOnce(run); // compiles the pipelines
      await timeOnce(run);
      const times: number[] = [];
      for (let r = 0; r < reps; r++) times.push(await timeOnce(run));
      const ms = median(times);
      const row: KernelRow = { kernel: c.kernel, shape: c.shape, median_ms: Number(ms.toFixed(4)), reps };
      if (c.flops) row.gflops = Number((c.flops / (ms * 1e6)).toFixed(3));
      if (c.bytes) row.gbps = Number((c.bytes / (ms * 1e6)).toFixed(3));
      rows.push(row);
      onRow(row, i + 1, all.length);
    } finally {
      for (const t of inputs) t.dispose();
    }
  }
  return rows;
}

