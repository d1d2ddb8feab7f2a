// The Kernels tab's benchmark: `amrm bench kernels`'s own cases and timing (bench/kernel_cases.ts),
// run in the page on whatever adapter the browser gives. By default the quick shapes of matmul
// (256³, 512³), softmax [4096×1024], layernorm [4096×768], fused attention (qkv [32,65,3,3,64])
// and the MAE patch loss ([32,3,32,32] p 4 normPix); `?only=REGEX` picks any of the quick cases
// by `kernel shape` instead (`?only=.` runs them all, convolutions and elementwise ops included).
// The engine's implementations only: TF.js is the Node side's peer, not loaded here. The result is
// the same report as `amrm bench kernels --json` writes, rows in the same format.
import { engine } from '../../src/engine/engine.js';
import { kernelCases, selectCases, timeKernelCases, timingNote, type KernelBenchReport, type KernelBenchRow, type KernelCase } from '../../bench/kernel_cases.js';

export type { KernelBenchRow, KernelBenchReport };

/** The kernels the page times unless told otherwise: the ones a purification step spends its time in. */
export const PAGE_KERNELS = ['matmul', 'softmax', 'layernorm', 'attention', 'patch_loss'];

/** The quick cases the page runs: those whose `kernel shape` matches `only`, else PAGE_KERNELS'. */
export function pageCases(only?: RegExp): KernelCase[] {
  const quick = kernelCases(true);
  return only ? selectCases(quick, only) : quick.filter((c) => PAGE_KERNELS.includes(c.kernel));
}

export interface PageBenchOptions {
  /** Timed runs per kernel (1 to 100). */
  reps: number;
  only?: RegExp;
  /** Recorded as the report's command (the page's address). */
  command: string;
  onCase?: (c: KernelCase, index: number, total: number) => void;
  onRow?: (row: KernelBenchRow) => void;
}

/** Times the page's cases on the engine (initialised) and returns the report. */
export async function runPageKernelBench(o: PageBenchOptions): Promise<KernelBenchReport> {
  if (!Number.isInteger(o.reps) || o.reps < 1 || o.reps > 100) throw new Error(`kernel timings: timed runs must be an integer from 1 to 100, got ${o.reps}`);
  const cases = pageCases(o.only);
  if (cases.length === 0) throw new Error(`kernel timings: no quick case matches ${o.only}`);
  const { rows, skipped } = await timeKernelCases(cases, { reps: o.reps, onCase: o.onCase, onRow: o.onRow });
  const gpu = engine().gpu;
  return {
    bench: 'kernels', command: o.command, adapter: gpu.kind, adapter_info: gpu.info, quick: true, date: new Date().toISOString(),
    timing: timingNote(o.reps), tfjs: 'not in the page (amrm bench kernels times it in Node)', rows, skipped,
  };
}
