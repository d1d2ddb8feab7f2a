// `amrm bench kernels`: the kernel benchmark's cases (bench/kernel_cases.ts, shared with the
// browser lab's Kernels tab) timed on the engine, against TF.js's WebGPU backend running on the
// same GPUDevice (impl 'tfjs', timed in the same interleaved rounds) and, in the full run, against
// the same math composed from the engine's primitive ops (impl 'amrm-composed'); the report
// written as JSON. This is the Node side: it loads TF.js and writes files.
//
// Timing (bench/kernel_cases.ts): each timed run records the op and waits until the GPU queue has
// finished it (amrm: runtime.sync(); TF.js: its pending commands submitted, then the same queue
// wait), so neither side pays for a readback of its output; medians of at least 10 runs after 2
// warm-up runs. Matmul, conv and attention report GFLOP/s; the memory-bound ops report GB/s of the
// traffic they cannot avoid (read the inputs once, write the output once), charged equally to
// every implementation.
import { init, engine } from '../src/engine/engine.js';
import { loadTfjs } from './timing.js';
import { kernelCases, rowLine, selectCases, timeKernelCases, timingNote, type KernelBenchReport, type KernelPeer } from './kernel_cases.js';
import { writeAtomic } from '../src/engine/io/node.js';

export type { KernelBenchRow, KernelBenchReport } from './kernel_cases.js';

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

  const { rows, skipped } = await timeKernelCases(selectCases(kernelCases(quick), options.only), {
    reps, composed: !quick, maxRunMs: options.maxRunMs,
    // TF.js's op on its own copies of the inputs (in its layout where that differs).
    peers: (c, rng): KernelPeer[] => {
      if (typeof tfSide === 'string' || !c.tfjs) return [];
      const { tf, sync } = tfSide;
      const ts = (c.tfInputs ?? c.inputs)(rng).map((h) => tf.tensor(h.data, h.shape));
      return [{
        impl: 'tfjs',
        async once() {
          const y = tf.tidy(() => c.tfjs!(tf, ...ts));
          await sync();
          y.dispose();
        },
        dispose: () => tf.dispose(ts),
      }];
    },
    onRow: (row) => log(rowLine(row)),
    onSkip: (c, impl, why) => log(`${adapter.padEnd(11)} ${c.kernel.padEnd(16)} ${c.shape.padEnd(22)} ${impl.padEnd(13)} skipped: ${why}`),
  });

  const report: KernelBenchReport = {
    bench: 'kernels', command: options.command ?? 'runKernelBench()', adapter, adapter_info: e.gpu.info, quick, date: new Date().toISOString(),
    timing: timingNote(reps), tfjs: tfStatus, rows, skipped,
  };
  if (options.json) writeAtomic(options.json, JSON.stringify(report, null, 2) + '\n');
  return report;
}
