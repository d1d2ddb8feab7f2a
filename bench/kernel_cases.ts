// The kernel benchmark's cases and their timing on the engine, shared by `amrm bench kernels`
// (bench/kernels.ts, which adds TF.js beside them and writes the report) and the browser lab's
// Kernels tab (web/lab/kernels.ts, which runs the quick cases in the page). Browser-safe: no Node
// module and no TF.js at run time (a case's TF.js op is a function of the `tf` it is handed, and
// its types are erased).
//
// A case is a kernel at one shape: its inputs (host data, made when the case runs from a seed of
// its name), the engine's op, optionally the same math composed from the engine's primitive ops
// (impl 'amrm-composed') and TF.js's op, and the work charged to every implementation alike:
// FLOPs (matmul, conv, attention: GFLOP/s) or the bytes the op cannot avoid moving (read the
// inputs once, write the output once: GB/s). Cases: matmul, matmul+bias+gelu, softmax, layernorm,
// fused attention over a packed QKV, the MAE patch reconstruction loss (forward), ResNet-20's
// convolutions (forward, bias, both gradients), add and gelu.
//
// Timing: each timed run records the op and waits until the GPU queue has finished it (the
// engine's runtime.sync(); a peer waits on the same queue), so no side pays for a readback of its
// output; the medians of `reps` runs after 2 warm-up runs (the first compiles the pipelines), the
// implementations of a case timed in interleaved rounds (bench/interleave.ts).
import { engine } from '../src/engine/engine.js';
import { scope, type Tensor } from '../src/engine/tensor.js';
import { Rng } from '../src/engine/random.js';
import { tensor } from '../src/engine/ops/creation.js';
import { matmul } from '../src/engine/ops/matmul.js';
import { add, sub, mul, div, exp, gelu, rsqrt, addScalar } from '../src/engine/ops/elementwise.js';
import { sum, max, mean } from '../src/engine/ops/reduce.js';
import { softmax } from '../src/engine/ops/softmax.js';
import { layerNorm } from '../src/engine/ops/layernorm.js';
import { attentionPacked } from '../src/engine/ops/attention.js';
import { reconstructionLoss } from '../src/engine/ops/patch.js';
import { conv2d, conv2dGradInput, conv2dGradWeight } from '../src/engine/ops/conv.js';
import { interleavedMedians } from './interleave.js';
import type { Tf, TfTensor } from './timing.js';

/** One measurement: the row format of `amrm bench kernels --json` and of the lab's Kernels tab. */
export interface KernelBenchRow {
  kernel: string;
  shape: string;
  impl: 'amrm' | 'amrm-composed' | 'tfjs';
  adapter: string;
  median_ms: number;
  gflops?: number;
  gbps?: number;
}

/** The JSON report (`amrm bench kernels --json FILE`, and the lab page's "Copy rows as JSON"). */
export interface KernelBenchReport {
  bench: 'kernels';
  command: string;
  adapter: string;
  adapter_info: { vendor: string; architecture: string; description: string };
  quick: boolean;
  date: string;
  timing: string;
  tfjs: string;
  rows: KernelBenchRow[];
  skipped: string[];
}

export interface HostTensor { shape: number[]; data: Float32Array }

export interface KernelCase {
  kernel: string;
  shape: string;
  /** FLOPs per run (matmul, conv, attention) or bytes per run (memory-bound ops). */
  work: { flops: number } | { bytes: number };
  /** Host data of the inputs, uploaded once for the engine's implementations. */
  inputs(rng: Rng): HostTensor[];
  /** A peer's own inputs where its layout differs (TF.js conv: NHWC and HWIO, so no transpose is timed). */
  tfInputs?(rng: Rng): HostTensor[];
  amrm: (...xs: Tensor[]) => Tensor;
  composed?: (...xs: Tensor[]) => Tensor;
  tfjs?: (tf: Tf, ...xs: TfTensor[]) => TfTensor;
}

type T4 = import('@tensorflow/tfjs-core').Tensor4D;

function uniform(rng: Rng, shape: number[], lo = -1, hi = 1): HostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform(lo, hi);
  return { shape, data };
}

/**
 * The cases, in the order they run. `quick`: fewer shapes (a CI-friendly minute, and what the lab
 * page runs); `hardware`: adds matmul 4096³ (on a CPU adapter it takes minutes).
 */
export function kernelCases(quick: boolean, hardware = engine().gpu.kind === 'gpu'): KernelCase[] {
  const out: KernelCase[] = [];
  const inputs = (...shapes: number[][]) => (rng: Rng) => shapes.map((s) => uniform(rng, s));
  const mm = (M: number, K: number, N: number): void => {
    out.push({
      kernel: 'matmul', shape: M === K && K === N ? `${M}³` : `[${M}×${K}]·[${K}×${N}]`,
      work: { flops: 2 * M * N * K }, inputs: inputs([M, K], [K, N]),
      amrm: (a, b) => matmul(a, b),
      tfjs: (tf, a, b) => tf.matMul(a, b),
    });
  };
  // 4096³ only on a hardware GPU (the issue-16 comparison with PyTorch there).
  for (const n of quick ? [256, 512] : [256, 512, 1024, 2048, ...(hardware ? [4096] : [])]) mm(n, n, n);
  if (!quick) { mm(4096, 192, 576); mm(4096, 768, 192); }

  // A ViT MLP layer's first half: matmul + bias + gelu, fused against composed.
  if (!quick) {
    const [M, K, N] = [4096, 192, 768];
    out.push({
      kernel: 'matmul_bias_gelu', shape: `[${M}×${K}]·[${K}×${N}]+b`, work: { flops: 2 * M * N * K },
      inputs: inputs([M, K], [K, N], [N]),
      amrm: (a, b, bias) => matmul(a, b, { bias, activation: 'gelu' }),
      composed: (a, b, bias) => gelu(add(matmul(a, b), bias)),
      tfjs: (tf, a, b, bias) => geluTf(tf, tf.add(tf.matMul(a, b), bias)),
    });
  }

  const [R, D] = [4096, 1024];
  out.push({
    kernel: 'softmax', shape: `[${R}×${D}]`, work: { bytes: 2 * 4 * R * D }, inputs: inputs([R, D]),
    amrm: (x) => softmax(x),
    composed: (x) => { const e = exp(sub(x, max(x, -1, true))); return div(e, sum(e, -1, true)); },
    tfjs: (tf, x) => tf.softmax(x),
  });

  const [LR, LD] = [4096, 768];
  out.push({
    kernel: 'layernorm', shape: `[${LR}×${LD}]`, work: { bytes: 2 * 4 * LR * LD },
    inputs: inputs([LR, LD], [LD], [LD]),
    amrm: (x, g, b) => layerNorm(x, g, b),
    composed: (x, g, b) => {
      const c = sub(x, mean(x, -1, true));
      return add(mul(mul(c, rsqrt(addScalar(mean(mul(c, c), -1, true), 1e-5))), g), b);
    },
    tfjs: (tf, x, g, b) => {
      const { mean: m, variance: v } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, m), tf.rsqrt(tf.add(v, 1e-5))), g), b);
    },
  });

  // Fused self-attention forward over a transformer's QKV projection as it comes, [B, N, 3, H, d]
  // (the MAE models' layout): CIFAR MAE (32×32 images, 4×4 patches: 64 tokens and the class
  // token), and in the full run more heads and ImageNet's 197 tokens. FLOPs the FlashAttention way,
  // 4·B·H·N²·d (Q·Kᵀ and P·V). The composed form slices and permutes the packed input first (part
  // of the cost the fused kernel saves); TF.js gets q, k and v as [B, H, N, d], untimed.
  const atts: number[][] = quick ? [[32, 65, 3, 64]] : [[32, 65, 3, 64], [32, 65, 12, 64], [8, 197, 12, 64]];
  for (const [B, N, H, d] of atts) {
    out.push({
      kernel: 'attention', shape: `qkv [${B},${N},3,${H},${d}]`, work: { flops: 4 * B * H * N * N * d },
      inputs: inputs([B, N, 3, H, d]), tfInputs: inputs([B, H, N, d], [B, H, N, d], [B, H, N, d]),
      amrm: (qkv) => attentionPacked(qkv).out,
      composed: (qkv) => attentionPacked(qkv, { impl: 'composed' }).out,
      tfjs: (tf, q, k, v) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d))), v),
    });
  }

  // MAE's masked patch reconstruction loss, forward (a scalar), at CIFAR shapes with p 4 (64
  // patches of 48 values per image) and 75% of the patches hidden: read the prediction, the image
  // and the mask once.
  const losses: [number, boolean][] = quick ? [[32, true]] : [[32, true], [128, true], [128, false]];
  for (const [B, normPix] of losses) {
    const [C, H, W, p] = [3, 32, 32, 4];
    const n = (H / p) * (W / p), dim = p * p * C;
    out.push({
      kernel: 'patch_loss', shape: `[${B},${C},${H},${W}] p ${p}${normPix ? ' normPix' : ''}`,
      work: { bytes: 4 * (B * n * dim + B * C * H * W + B * n) },
      inputs: (rng) => {
        const mask = new Float32Array(B * n);
        for (let b = 0; b < B; b++) {
          const perm = rng.permutation(n);
          for (let k = 0; k < Math.round(0.75 * n); k++) mask[b * n + perm[k]] = 1;
        }
        return [uniform(rng, [B, n, dim]), uniform(rng, [B, C, H, W], 0, 1), { shape: [B, n], data: mask }];
      },
      amrm: (pred, img, mask) => reconstructionLoss(pred, img, mask, { p, normPix }),
      composed: (pred, img, mask) => reconstructionLoss(pred, img, mask, { p, normPix, impl: 'composed' }),
      tfjs: (tf, pred, img, mask) => {
        // Patchify as reshape + transpose (values in (row, col, channel) order, as the engine's).
        let t = tf.reshape(tf.transpose(tf.reshape(img, [B, C, H / p, p, W / p, p]), [0, 2, 4, 3, 5, 1]), [B, n, dim]);
        if (normPix) {
          const { mean: m, variance: v } = tf.moments(t, -1, true);
          // Unbiased variance, as MAE's forward_loss (torch's var()).
          t = tf.div(tf.sub(t, m), tf.sqrt(tf.add(tf.mul(v, dim / (dim - 1)), 1e-6)));
        }
        const perPatch = tf.mean(tf.square(tf.sub(pred, t)), -1);
        return tf.div(tf.sum(tf.mul(perPatch, mask)), tf.sum(mask));
      },
    });
  }

  // ResNet-20's convolutions (CIFAR, batch 100): each stage's 3×3 conv and the stride-2 one that
  // opens stage 2; the forward with and without a bias, the input gradient and the weight gradient,
  // each 2·N·O·C·kh·kw·Hout·Wout FLOPs. TF.js runs NHWC (its WebGPU backend's layout for conv)
  // with its inputs uploaded in that layout: the transposes NCHW ↔ NHWC are not timed.
  const convs: [number[], number[], number][] = quick
    ? [[[100, 32, 16, 16], [32, 32, 3, 3], 1]]
    : [[[100, 16, 32, 32], [16, 16, 3, 3], 1], [[100, 32, 16, 16], [32, 32, 3, 3], 1],
      [[100, 64, 8, 8], [64, 64, 3, 3], 1], [[100, 16, 32, 32], [32, 16, 3, 3], 2]];
  for (const [xs, ws, s] of convs) {
    const [N, C, H, W] = xs, [O, , KH, KW] = ws;
    const HO = Math.floor((H + 2 - KH) / s) + 1, WO = Math.floor((W + 2 - KW) / s) + 1;
    const opts = { stride: s, padding: 1 };
    const tfPad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];
    const name = `[${xs.join(',')}]*[${ws.join(',')}]${s > 1 ? `/${s}` : ''}`;
    const flops = 2 * N * O * C * KH * KW * HO * WO;
    const xNhwc = [N, H, W, C], wHwio = [KH, KW, C, O], gyNhwc = [N, HO, WO, O];
    out.push({
      kernel: 'conv2d', shape: name, work: { flops }, inputs: inputs(xs, ws), tfInputs: inputs(xNhwc, wHwio),
      amrm: (x, w) => conv2d(x, w, undefined, opts),
      tfjs: (tf, x, w) => tf.conv2d(x as T4, w as T4, s, tfPad),
    });
    out.push({
      kernel: 'conv2d_bias', shape: name, work: { flops }, inputs: inputs(xs, ws, [O]), tfInputs: inputs(xNhwc, wHwio, [O]),
      amrm: (x, w, b) => conv2d(x, w, b, opts),
      tfjs: (tf, x, w, b) => tf.add(tf.conv2d(x as T4, w as T4, s, tfPad), b),
    });
    out.push({
      kernel: 'conv2d_grad_x', shape: name, work: { flops }, inputs: inputs([N, O, HO, WO], ws), tfInputs: inputs(gyNhwc, wHwio),
      amrm: (gy, w) => conv2dGradInput(gy, w, xs, opts),
      tfjs: (tf, gy, w) => tf.conv2dTranspose(gy as T4, w as T4, [N, H, W, C], s, tfPad),
    });
    out.push({
      kernel: 'conv2d_grad_w', shape: name, work: { flops }, inputs: inputs(xs, [N, O, HO, WO]), tfInputs: inputs(xNhwc, gyNhwc),
      amrm: (x, gy) => conv2dGradWeight(x, gy, ws, opts),
      // Not in TF.js's public API: its kernel, called as its gradient of conv2d calls it.
      tfjs: (tf, x, gy) => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: gy },
        { strides: [s, s], pad: tfPad, dataFormat: 'NHWC', filterShape: [KH, KW, C, O] }) as TfTensor,
    });
  }

  const n = 4 * 1024 * 1024;
  out.push({
    kernel: 'add', shape: '4M', work: { bytes: 3 * 4 * n }, inputs: inputs([n], [n]),
    amrm: (a, b) => add(a, b), tfjs: (tf, a, b) => tf.add(a, b),
  });
  out.push({
    kernel: 'gelu', shape: '4M', work: { bytes: 2 * 4 * n }, inputs: inputs([n]),
    amrm: (x) => gelu(x), tfjs: (tf, x) => geluTf(tf, x),
  });
  return out;
}

/** TF.js core has no gelu op: its exact erf form composed from core ops. */
function geluTf(tf: Tf, x: TfTensor): TfTensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

// ---------------------------------------------------------------- timing

/** Another implementation of a case, timed in the same rounds as the engine's (the Node side's TF.js). */
export interface KernelPeer {
  impl: KernelBenchRow['impl'];
  /** One run, waited to completion. */
  once(): Promise<void>;
  /** Frees the peer's inputs. */
  dispose(): void;
}

export interface KernelTimingOptions {
  /** Timed runs per measurement (a positive integer; `amrm bench kernels` uses at least 10). */
  reps: number;
  /** Also time each case's composed form where it has one (impl 'amrm-composed'). */
  composed?: boolean;
  /** A measurement whose second warm-up run takes longer than this is skipped (default 10 s). */
  maxRunMs?: number;
  /** The peer implementations of a case, given the case and a generator seeded for it. */
  peers?: (c: KernelCase, rng: Rng) => KernelPeer[];
  /** Before each case runs: its index and the number of cases. */
  onCase?: (c: KernelCase, index: number, total: number) => void;
  /** Each row as soon as its case has been timed. */
  onRow?: (row: KernelBenchRow) => void;
  /** Each measurement skipped, with the reason. */
  onSkip?: (c: KernelCase, impl: KernelBenchRow['impl'], why: string) => void;
}

/** The cases whose `kernel shape` matches (e.g. /^matmul 512/); all of them without a pattern. */
export const selectCases = (cases: KernelCase[], only?: RegExp): KernelCase[] =>
  cases.filter((c) => !only || only.test(`${c.kernel} ${c.shape}`));

/** What the report's `timing` field says for `reps` timed runs. */
export const timingNote = (reps: number): string =>
  `median of ${reps} runs after 2 warm-up runs, implementations interleaved round by round, each run waited to queue completion (no readback)`;

/** A row as a progress line: adapter, kernel, shape, impl, median ms, rate. */
export function rowLine(row: KernelBenchRow): string {
  const rate = row.gflops !== undefined ? `${row.gflops} GFLOP/s` : `${row.gbps} GB/s`;
  return `${row.adapter.padEnd(11)} ${row.kernel.padEnd(16)} ${row.shape.padEnd(22)} ${row.impl.padEnd(13)} ${row.median_ms.toFixed(2).padStart(9)} ms  ${rate}`;
}

const round = (v: number, digits: number): number => Number(v.toFixed(digits));
/** Rates keep 3 significant digits: a slow composed run on a software adapter is well under 0.01 GB/s. */
const rate = (v: number): number => Number(v.toPrecision(3));

/** The row of one measurement: median milliseconds and the case's work as a rate. */
export function kernelRow(c: KernelCase, impl: KernelBenchRow['impl'], adapter: string, ms: number): KernelBenchRow {
  const row: KernelBenchRow = { kernel: c.kernel, shape: c.shape, impl, adapter, median_ms: round(ms, 3) };
  if ('flops' in c.work) row.gflops = rate(c.work.flops / ms / 1e6);
  else row.gbps = rate(c.work.bytes / ms / 1e6);
  return row;
}

/** A seed from a case's name, so that its data do not depend on which other cases run. */
function seedOf(c: KernelCase): number {
  let h = 2024;
  for (const ch of `${c.kernel} ${c.shape}`) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  return h;
}

/** Times an engine op: record it, wait for the queue, free the output. */
function engineOnce(fn: () => Tensor): () => Promise<void> {
  return async () => {
    const y = scope(fn);
    await engine().runtime.sync();
    y.dispose();
  };
}

/**
 * Times the cases, one after another, on the engine (it must be initialised): the engine's op, its
 * composed form if asked for, and the peers, interleaved. Returns the rows in case order and the
 * measurements skipped.
 */
export async function timeKernelCases(cases: KernelCase[], o: KernelTimingOptions): Promise<{ rows: KernelBenchRow[]; skipped: string[] }> {
  if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error(`kernel benchmark: reps must be a positive integer, got ${o.reps}`);
  const e = engine();
  const adapter = e.gpu.kind;
  const maxMs = o.maxRunMs ?? 10_000;
  const rows: KernelBenchRow[] = [];
  const skipped: string[] = [];
  for (const [i, c] of cases.entries()) {
    o.onCase?.(c, i, cases.length);
    const rng = new Rng(seedOf(c));
    // amrm (fused) and amrm-composed share the uploaded inputs; a peer has its own copies.
    const xs = c.inputs(rng).map((h) => tensor(h.data, h.shape));
    let peers: KernelPeer[] = [];
    try {
      peers = o.peers?.(c, rng) ?? [];
      const impls: [KernelBenchRow['impl'], () => Promise<void>][] = [['amrm', engineOnce(() => c.amrm(...xs))]];
      if (c.composed && o.composed) impls.push(['amrm-composed', engineOnce(() => c.composed!(...xs))]);
      for (const p of peers) impls.push([p.impl, () => p.once()]);
      const ms = await interleavedMedians(o.reps, maxMs, impls.map(([, once]) => once));
      for (const [j, [impl]] of impls.entries()) {
        const t = ms[j];
        if (t === undefined) {
          const why = `one run takes over ${maxMs} ms`;
          skipped.push(`${c.kernel} ${c.shape} ${impl}: ${why}`);
          o.onSkip?.(c, impl, why);
          continue;
        }
        const row = kernelRow(c, impl, adapter, t);
        rows.push(row);
        o.onRow?.(row);
      }
    } finally {
      for (const x of xs) x.dispose();
      for (const p of peers) p.dispose();
      e.runtime.trim();
    }
  }
  return { rows, skipped };
}
