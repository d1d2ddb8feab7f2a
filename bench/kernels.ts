// Kernel benchmark: matmul, softmax, layerNorm and elementwise ops of the engine against TF.js's
// WebGPU backend running on the same GPUDevice, and against the same math composed from the
// engine's primitive ops where that says something (impl 'amrm-composed').
//
// Timing: each timed run records the op and waits until the GPU queue has finished it (amrm:
// runtime.sync(); TF.js: its pending commands submitted, then the same queue wait), so neither side
// pays for a readback of its output; medians of at least 10 runs after 2 warm-up runs (the first
// compiles the pipelines), the implementations of a case timed in interleaved rounds. Matmul reports GFLOP/s (2·M·N·K per run); the memory-bound ops report
// GB/s of the traffic they cannot avoid (read the input once, write the output once), charged
// equally to every implementation.
import { init, engine } from '../src/engine/engine.js';
import { interleavedMedians, loadTfjs, type Tf } from './timing.js';
import { scope, type Tensor } from '../src/engine/tensor.js';
import { Rng } from '../src/engine/random.js';
import { tensor } from '../src/engine/ops/creation.js';
import { matmul } from '../src/engine/ops/matmul.js';
import { add, sub, mul, div, exp, gelu, rsqrt, addScalar } from '../src/engine/ops/elementwise.js';
import { sum, max, mean } from '../src/engine/ops/reduce.js';
import { softmax } from '../src/engine/ops/softmax.js';
import { layerNorm } from '../src/engine/ops/layernorm.js';
import { conv2d, conv2dGradInput, conv2dGradWeight } from '../src/engine/ops/conv.js';
import { writeAtomic } from '../src/engine/io/node.js';

export interface KernelBenchRow {
  kernel: string;
  shape: string;
  impl: 'amrm' | 'amrm-composed' | 'tfjs';
  adapter: string;
  median_ms: number;
  gflops?: number;
  gbps?: number;
}

export interface KernelBenchOptions {
  /** Fewer shapes and no composed variants (a CI-friendly minute); still 10 timed runs each. */
  quick?: boolean;
  /** Writes the results there as JSON (atomically). */
  json?: string;
  /** Timed runs per measurement (at least 10). */
  reps?: number;
  /** Leave TF.js out (e.g. where it cannot load). */
  noTfjs?: boolean;
  /**
   * A measurement whose warm-up run takes longer than this is skipped (logged and listed in the
   * report), so that a full run on SwiftShader ends in minutes (TF.js needs ~7 s per 1024³ there).
   */
  maxRunMs?: number;
  /** Runs only the cases whose `kernel shape` matches (e.g. /matmul 1024/). */
  only?: RegExp;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
  /** The command line that produced the report, recorded in it. */
  command?: string;
}

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

/** Times an engine op: record it, wait for the queue, free the output. */
function amrmOnce(fn: () => Tensor): () => Promise<void> {
  return async () => {
    const y = scope(fn);
    await engine().runtime.sync();
    y.dispose();
  };
}

// ---------------------------------------------------------------- cases

interface Case {
  kernel: string;
  shape: string;
  /** FLOPs per run (matmul) or bytes per run (memory-bound ops). */
  work: { flops: number } | { bytes: number };
  /** Host data of the inputs, uploaded once per implementation. */
  inputs: { shape: number[]; data: Float32Array }[];
  /** TF.js's own inputs where its layout differs (conv: NHWC and HWIO, so no transpose is timed). */
  tfInputs?: { shape: number[]; data: Float32Array }[];
  amrm: (...xs: Tensor[]) => Tensor;
  composed?: (...xs: Tensor[]) => Tensor;
  tfjs?: (tf: Tf, ...xs: import('@tensorflow/tfjs-core').Tensor[]) => import('@tensorflow/tfjs-core').Tensor;
}

function randData(rng: Rng, n: number): Float32Array {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.uniform(-1, 1);
  return d;
}

function cases(quick: boolean, rng: Rng, hardware = engine().gpu.kind === 'gpu'): Case[] {
  const out: Case[] = [];
  const input = (shape: number[]) => ({ shape, data: randData(rng, shape.reduce((a, b) => a * b, 1)) });
  const mm = (M: number, K: number, N: number): void => {
    out.push({
      kernel: 'matmul', shape: M === K && K === N ? `${M}³` : `[${M}×${K}]·[${K}×${N}]`,
      work: { flops: 2 * M * N * K }, inputs: [input([M, K]), input([K, N])],
      amrm: (a, b) => matmul(a, b),
      tfjs: (tf, a, b) => tf.matMul(a, b),
    });
  };
  // 4096³ only on a hardware GPU (the issue-16 comparison with PyTorch there); a CPU adapter takes minutes.
  for (const n of quick ? [256, 512] : [256, 512, 1024, 2048, ...(hardware ? [4096] : [])]) mm(n, n, n);
  if (!quick) { mm(4096, 192, 576); mm(4096, 768, 192); }

  // A ViT MLP layer's first half: matmul + bias + gelu, fused against composed.
  if (!quick) {
    const [M, K, N] = [4096, 192, 768];
    out.push({
      kernel: 'matmul_bias_gelu', shape: `[${M}×${K}]·[${K}×${N}]+b`, work: { flops: 2 * M * N * K },
      inputs: [input([M, K]), input([K, N]), input([N])],
      amrm: (a, b, bias) => matmul(a, b, { bias, activation: 'gelu' }),
      composed: (a, b, bias) => gelu(add(matmul(a, b), bias)),
      tfjs: (tf, a, b, bias) => geluTf(tf, tf.add(tf.matMul(a, b), bias)),
    });
  }

  const [R, D] = [4096, 1024];
  out.push({
    kernel: 'softmax', shape: `[${R}×${D}]`, work: { bytes: 2 * 4 * R * D }, inputs: [input([R, D])],
    amrm: (x) => softmax(x),
    composed: (x) => { const e = exp(sub(x, max(x, -1, true))); return div(e, sum(e, -1, true)); },
    tfjs: (tf, x) => tf.softmax(x),
  });

  const [LR, LD] = [4096, 768];
  out.push({
    kernel: 'layernorm', shape: `[${LR}×${LD}]`, work: { bytes: 2 * 4 * LR * LD },
    inputs: [input([LR, LD]), input([LD]), input([LD])],
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
    const xNhwc = input([N, H, W, C]), wHwio = input([KH, KW, C, O]), gyNhwc = input([N, HO, WO, O]);
    out.push({
      kernel: 'conv2d', shape: name, work: { flops }, inputs: [input(xs), input(ws)], tfInputs: [xNhwc, wHwio],
      amrm: (x, w) => conv2d(x, w, undefined, opts),
      tfjs: (tf, x, w) => tf.conv2d(x as import('@tensorflow/tfjs-core').Tensor4D, w as import('@tensorflow/tfjs-core').Tensor4D, s, tfPad),
    });
    out.push({
      kernel: 'conv2d_bias', shape: name, work: { flops }, inputs: [input(xs), input(ws), input([O])], tfInputs: [xNhwc, wHwio, input([O])],
      amrm: (x, w, b) => conv2d(x, w, b, opts),
      tfjs: (tf, x, w, b) => tf.add(tf.conv2d(x as import('@tensorflow/tfjs-core').Tensor4D, w as import('@tensorflow/tfjs-core').Tensor4D, s, tfPad), b),
    });
    out.push({
      kernel: 'conv2d_grad_x', shape: name, work: { flops }, inputs: [input([N, O, HO, WO]), input(ws)], tfInputs: [gyNhwc, wHwio],
      amrm: (gy, w) => conv2dGradInput(gy, w, xs, opts),
      tfjs: (tf, gy, w) => tf.conv2dTranspose(gy as import('@tensorflow/tfjs-core').Tensor4D, w as import('@tensorflow/tfjs-core').Tensor4D, [N, H, W, C], s, tfPad),
    });
    out.push({
      kernel: 'conv2d_grad_w', shape: name, work: { flops }, inputs: [input(xs), input([N, O, HO, WO])], tfInputs: [xNhwc, gyNhwc],
      amrm: (x, gy) => conv2dGradWeight(x, gy, ws, opts),
      // Not in TF.js's public API: its kernel, called as its gradient of conv2d calls it.
      tfjs: (tf, x, gy) => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: gy },
        { strides: [s, s], pad: tfPad, dataFormat: 'NHWC', filterShape: [KH, KW, C, O] }) as import('@tensorflow/tfjs-core').Tensor,
    });
  }

  const n = 4 * 1024 * 1024;
  out.push({
    kernel: 'add', shape: '4M', work: { bytes: 3 * 4 * n }, inputs: [input([n]), input([n])],
    amrm: (a, b) => add(a, b), tfjs: (tf, a, b) => tf.add(a, b),
  });
  out.push({
    kernel: 'gelu', shape: '4M', work: { bytes: 2 * 4 * n }, inputs: [input([n])],
    amrm: (x) => gelu(x), tfjs: (tf, x) => geluTf(tf, x),
  });
  return out;
}

/** TF.js core has no gelu op: its exact erf form composed from core ops. */
function geluTf(tf: Tf, x: import('@tensorflow/tfjs-core').Tensor): import('@tensorflow/tfjs-core').Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

// ---------------------------------------------------------------- the run

export async function runKernelBench(options: KernelBenchOptions = {}): Promise<KernelBenchReport> {
  const quick = options.quick ?? false;
  const reps = Math.max(10, options.reps ?? 10);
  const log = options.log ?? ((l: string) => console.log(l));
  await init();
  const e = engine();
  const adapter = e.gpu.kind;
  const tfSide = options.noTfjs ? 'left out (noTfjs)' : await loadTfjs();
  const tfStatus = typeof tfSide === 'string' ? tfSide : `${tfSide.version} (WebGPU backend) on the same GPUDevice`;
  if (typeof tfSide === 'string') log(`tfjs: ${tfSide}`);
  const rows: KernelBenchRow[] = [];
  const rng = new Rng(2024);
  const maxMs = options.maxRunMs ?? 10_000;
  const skipped: string[] = [];
  const emit = (c: Case, impl: KernelBenchRow['impl'], ms: number | undefined): void => {
    if (ms === undefined) {
      skipped.push(`${c.kernel} ${c.shape} ${impl}: one run takes over ${maxMs} ms`);
      log(`${adapter.padEnd(11)} ${c.kernel.padEnd(16)} ${c.shape.padEnd(22)} ${impl.padEnd(13)} skipped: one run takes over ${maxMs} ms`);
      return;
    }
    const row: KernelBenchRow = { kernel: c.kernel, shape: c.shape, impl, adapter, median_ms: round(ms, 3) };
    if ('flops' in c.work) row.gflops = round(c.work.flops / ms / 1e6, 2);
    else row.gbps = round(c.work.bytes / ms / 1e6, 2);
    rows.push(row);
    const rate = row.gflops !== undefined ? `${row.gflops} GFLOP/s` : `${row.gbps} GB/s`;
    log(`${adapter.padEnd(11)} ${c.kernel.padEnd(16)} ${c.shape.padEnd(22)} ${impl.padEnd(13)} ${row.median_ms.toFixed(2).padStart(9)} ms  ${rate}`);
  };

  for (const c of cases(quick, rng).filter((k) => !options.only || options.only.test(`${k.kernel} ${k.shape}`))) {
    // amrm (fused) and amrm-composed share the uploaded inputs; TF.js has its own copies.
    const xs = c.inputs.map((i) => tensor(i.data, i.shape));
    const tf = typeof tfSide !== 'string' && c.tfjs ? tfSide : undefined;
    const ts = tf ? (c.tfInputs ?? c.inputs).map((i) => tf.tf.tensor(i.data, i.shape)) : [];
    const impls: [KernelBenchRow['impl'], () => Promise<void>][] = [['amrm', amrmOnce(() => c.amrm(...xs))]];
    if (c.composed && !quick) impls.push(['amrm-composed', amrmOnce(() => c.composed!(...xs))]);
    if (tf) {
      impls.push(['tfjs', async () => {
        const y = tf.tf.tidy(() => c.tfjs!(tf.tf, ...ts));
        await tf.sync();
        y.dispose();
      }]);
    }
    try {
      const ms = await interleavedMedians(reps, maxMs, impls.map(([, once]) => once));
      impls.forEach(([impl], i) => emit(c, impl, ms[i]));
    } finally {
      for (const x of xs) x.dispose();
      if (tf) tf.tf.dispose(ts);
      e.runtime.trim();
    }
  }

  const report: KernelBenchReport = {
    bench: 'kernels', command: options.command ?? 'runKernelBench()', adapter, adapter_info: e.gpu.info, quick, date: new Date().toISOString(),
    timing: `median of ${reps} runs after 2 warm-up runs, implementations interleaved round by round, each run waited to queue completion (no readback)`,
    tfjs: tfStatus, rows, skipped,
  };
  if (options.json) writeAtomic(options.json, JSON.stringify(report, null, 2) + '\n');
  return report;
}

const round = (v: number, digits: number): number => Number(v.toFixed(digits));
