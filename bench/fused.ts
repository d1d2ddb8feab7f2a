// The fused-kernel benchmark of the kernels issue: each fused kernel family against the same math
// composed from the engine's primitive ops, on the same adapter in the same run.
import { init, engine } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { runPatchBench } from './patch.js';
import { runSoftmaxJacobianBench } from './softmax_jacobian.js';

export interface FusedBenchOptions { quick?: boolean; json?: string; command?: string; }

export async function runFusedBench(options: FusedBenchOptions = {}): Promise<unknown> {
  await init();
  const quick = options.quick ?? false;
  const rows = [...await runPatchBench({ quick }), ...await runSoftmaxJacobianBench({ quick })];
  const report = {
    bench: 'fused', command: options.command ?? 'runFusedBench()', adapter: engine().gpu.kind,
    adapter_info: engine().gpu.info, quick, date: new Date().toISOString(),
    timing: 'median of at least 10 runs after warm-up, each run waited to queue completion', rows,
  };
  for (const r of rows as { kernel: string; shape: string; impl: string; median_ms: number }[]) {
    console.log(`${report.adapter.padEnd(11)} ${r.kernel.padEnd(22)} ${r.shape.padEnd(34)} ${r.impl.padEnd(13)} ${r.median_ms.toFixed(2).padStart(9)} ms`);
  }
  if (options.json) writeAtomic(options.json, JSON.stringify(report, null, 2) + '\n');
  return report;
}
