// The fused-kernel benchmark of the kernels issue: each fused kernel family against the same math
// composed from the engine's primitive ops and against TF.js's composition, on the same adapter in
// the same run.
import { init, engine } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { runAttentionBench } from './attention.js';
import { runPatchBench } from './patch.js';
import { runSoftmaxJacobianBench } from './softmax_jacobian.js';

export interface FusedBenchOptions {
  quick?: boolean; json?: string; command?: string; noTfjs?: boolean;
  /** Families to run (attention, patch, softmax_jacobian); all by default. */
  only?: RegExp;
}

interface Row { kernel: string; shape: string | number[]; impl: string; median_ms: number; }

const FAMILIES = {
  attention: runAttentionBench,
  patch: runPatchBench,
  softmax_jacobian: runSoftmaxJacobianBench,
} as const;

export async function runFusedBench(options: FusedBenchOptions = {}): Promise<unknown> {
  await init();
  const quick = options.quick ?? false;
  const rows: Row[] = [];
  let tfjs = 'not run';
  for (const [family, run] of Object.entries(FAMILIES)) {
    if (options.only && !options.only.test(family)) continue;
    const r = await run({ quick, noTfjs: options.noTfjs });
    tfjs = r.tfjs;
    for (const row of r.rows as Row[]) {
      rows.push(row);
      const shape = Array.isArray(row.shape) ? `[${row.shape.join(', ')}]` : row.shape;
      console.log(`${engine().gpu.kind.padEnd(11)} ${row.kernel.padEnd(18)} ${shape.padEnd(30)} ${row.impl.padEnd(13)} ${row.median_ms.toFixed(2).padStart(9)} ms`);
    }
  }
  const report = {
    bench: 'fused', command: options.command ?? 'runFusedBench()', adapter: engine().gpu.kind,
    adapter_info: engine().gpu.info, quick, date: new Date().toISOString(), tfjs,
    timing: 'median of at least 10 runs after 2 warm-up runs, each run waited to queue completion, implementations interleaved round by round',
    rows,
  };
  if (options.json) writeAtomic(options.json, JSON.stringify(report, null, 2) + '\n');
  return report;
}
