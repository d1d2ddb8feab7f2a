// One purification step of the same MAE (the repository's weights, batch, mask ratio, update) by
// amrm on its adapter and by PyTorch eager on the same CPU cores (bench/torch_e2e.py, where a
// python3 with torch is present: a development tool, never a dependency), side by side in one run.
// TF.js is not in this comparison: it would need the MAE written a third time in TF.js's layers,
// and `amrm bench kernels|fused` already compare the kernels with it on the same adapter.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { purifyPreset } from '../src/purify/presets.js';
import { measure, purifyCase } from './purify.js';

export interface E2eRow {
  model: string; preset: string; batch: number; mask_ratio: number;
  amrm_ms: number; amrm_adapter: string;
  pytorch_ms: number | null; pytorch?: Record<string, unknown>;
  /** amrm's step time over PyTorch's (over 1: amrm is slower). */
  ratio: number | null;
}

/** A python3 that imports torch: $AMRM_PYTHON, Debian's /usr/bin/python3, or python3 on the PATH. */
function torchPython(): string | undefined {
  for (const py of [process.env.AMRM_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

export interface E2eOptions { batch?: number; steps?: number; json?: string; command?: string; }

export async function runE2eBench(o: E2eOptions = {}): Promise<E2eRow[]> {
  await init();
  const batch = o.batch ?? 32, steps = o.steps ?? 5;
  const py = torchPython();
  if (!py) console.log('PyTorch: no python3 with torch here (AMRM_PYTHON, /usr/bin/python3, python3); its column stays empty');
  const rows: E2eRow[] = [];
  for (const name of ['cifar10-mae', 'mnist-mae']) {
    const c = purifyCase(name);
    if (!c.file || !existsSync(c.file)) { console.log(`${name}: ${c.file} is not there, left out`); continue; }
    const ours = await measure(c, batch, 1, steps);
    if (!ours) continue;
    const maskRatio = purifyPreset(c.preset).maskRatio;
    let peer: Record<string, unknown> | undefined;
    if (py) {
      const r = spawnSync(py, ['bench/torch_e2e.py', c.file, '--batch', String(batch), '--mask-ratio', String(maskRatio), '--steps', String(steps)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`bench e2e: the PyTorch peer failed (${py} bench/torch_e2e.py): ${r.stderr.trim().split('\n').pop()}`);
      peer = JSON.parse(r.stdout.trim().split('\n').pop()!);
    }
    const ptMs = peer ? Number(peer.median_step_ms) : null;
    const row: E2eRow = {
      model: c.name, preset: c.preset, batch, mask_ratio: maskRatio, amrm_ms: ours.median_step_ms, amrm_adapter: ours.adapter,
      pytorch_ms: ptMs, ...(peer ? { pytorch: peer } : {}), ratio: ptMs ? +(ours.median_step_ms / ptMs).toFixed(2) : null,
    };
    rows.push(row);
    console.log(`${row.model.padEnd(24)} amrm (${row.amrm_adapter}) ${row.amrm_ms.toFixed(1).padStart(8)} ms   PyTorch eager CPU ${ptMs === null ? '       -' : ptMs.toFixed(1).padStart(8)} ms   ratio ${row.ratio ?? '-'}`);
  }
  if (o.json) {
    writeAtomic(o.json, `${JSON.stringify({
      bench: 'e2e', command: o.command ?? 'runE2eBench()', adapter: engine().gpu.kind, date: new Date().toISOString(),
      unit: 'median wall time of one purification step (loss under fresh masks, its input gradient, the update), after one untimed step',
      why: 'amrm runs WGSL on a software Vulkan adapter (llvmpipe: LLVM-compiled shaders on the CPU cores); PyTorch eager calls OpenBLAS and ' +
        'vectorized native kernels on the same cores. The gap is the WGSL matmul (about 32 GFLOP/s) against OpenBLAS, and the per-dispatch cost of the small ops.',
      rows,
    }, null, 2)}\n`);
  }
  return rows;
}
