// One purification step of the same MAE (the repository's weights, batch, mask ratio, update) by
// amrm on its adapter, by TF.js's WebGPU backend on the same device (bench/tfjs_mae.ts: the same
// architecture in TF.js's ops, gradients by tf.grad, its loss first checked against amrm's), and by
// PyTorch eager on the same CPU cores (bench/torch_e2e.py, where a python3 with torch is present: a
// development tool, never a dependency), side by side in one run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { loadStateDictFile } from '../src/engine/io/node.js';
import { asyncScope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { MAE } from '../src/models/mae.js';
import { purifyPreset } from '../src/purify/presets.js';
import { imagesOf, measure, purifyCase, type Case } from './purify.js';
import { loadTfjs, median, type TfSide } from './timing.js';
import { tfjsMae } from './tfjs_mae.js';

export interface E2eRow {
  model: string; preset: string; batch: number; mask_ratio: number;
  amrm_ms: number; amrm_adapter: string;
  pytorch_ms: number | null; pytorch?: Record<string, unknown>;
  /** amrm's step time over PyTorch's (over 1: amrm is slower). */
  ratio: number | null;
  /** TF.js (WebGPU backend, same device): median step, its loss against amrm's on the same masks, amrm's time over its. */
  tfjs_ms: number | null; tfjs_loss_rel_diff?: number; tfjs_ratio: number | null;
}

/** TF.js's loss rel. difference from amrm's on the same images and masks may not exceed this. */
const TFJS_LOSS_TOL = 1e-4;

/**
 * TF.js's median step on the same model, images and update (fresh masks each step, drawn by the same
 * code as amrm's), after its loss on one mask plan has been checked against amrm's.
 */
async function tfjsStep(side: TfSide, c: Case, batch: number, maskRatio: number, steps: number): Promise<{ ms: number; relDiff: number }> {
  const tf = side.tf;
  const mae = MAE.load(loadStateDictFile(c.file!));
  const peer = tfjsMae(side, loadStateDictFile(c.file!), mae.config);
  const shape = [batch, c.inChans, ...c.imgSize];
  const data = imagesOf(c, batch);
  try {
    const check = mae.maskPlan(batch, { maskRatio, seed: 7 });
    const ours = await asyncScope(async () => (await mae.forward(tensor(data, shape), { mask: check.mask }).loss.read())[0]);
    const theirs = (await tf.tidy(() => peer.loss(tf.tensor(data, shape), check)).data())[0];
    const relDiff = Math.abs(theirs - ours) / Math.abs(ours);
    if (!(relDiff <= TFJS_LOSS_TOL)) throw new Error(`bench e2e: TF.js's MAE loss ${theirs} differs from amrm's ${ours} (rel. ${relDiff.toExponential(2)})`);
    const x0 = tf.tensor(data, shape);
    let x = tf.clone(x0);
    const times: number[] = [];
    for (let s = 0; s <= steps; s++) {
      const t0 = performance.now();
      const plan = mae.maskPlan(batch, { maskRatio, seed: 100 + s });
      const next = tf.tidy(() => peer.step(x, x0, plan, 1 / 255, 16 / 255));
      await side.sync();
      if (s > 0) times.push(performance.now() - t0);
      x.dispose();
      x = next;
    }
    x.dispose(); x0.dispose();
    return { ms: median(times), relDiff };
  } finally { peer.dispose(); mae.dispose(); }
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
  const tfSide = await loadTfjs();
  if (typeof tfSide === 'string') console.log(`TF.js: ${tfSide}; its column stays empty`);
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
    const tfr = typeof tfSide === 'string' ? undefined : await tfjsStep(tfSide, c, batch, maskRatio, steps);
    const row: E2eRow = {
      model: c.name, preset: c.preset, batch, mask_ratio: maskRatio, amrm_ms: ours.median_step_ms, amrm_adapter: ours.adapter,
      pytorch_ms: ptMs, ...(peer ? { pytorch: peer } : {}), ratio: ptMs ? +(ours.median_step_ms / ptMs).toFixed(2) : null,
      tfjs_ms: tfr ? +tfr.ms.toFixed(1) : null, ...(tfr ? { tfjs_loss_rel_diff: +tfr.relDiff.toExponential(2) } : {}),
      tfjs_ratio: tfr ? +(ours.median_step_ms / tfr.ms).toFixed(3) : null,
    };
    rows.push(row);
    const ms = (v: number | null): string => (v === null ? '       -' : v.toFixed(1).padStart(8));
    console.log(`${row.model.padEnd(24)} amrm (${row.amrm_adapter}) ${ms(row.amrm_ms)} ms   TF.js WebGPU ${ms(row.tfjs_ms)} ms (ratio ${row.tfjs_ratio ?? '-'})   PyTorch eager CPU ${ms(ptMs)} ms (ratio ${row.ratio ?? '-'})`);
  }
  if (o.json) {
    writeAtomic(o.json, `${JSON.stringify({
      bench: 'e2e', command: o.command ?? 'runE2eBench()', adapter: engine().gpu.kind, date: new Date().toISOString(),
      unit: 'median wall time of one purification step (loss under fresh masks, its input gradient, the update), after one untimed step',
      why: {
        pytorch: 'amrm runs WGSL on a software Vulkan adapter (llvmpipe: LLVM-compiled shaders on the CPU cores); PyTorch eager calls OpenBLAS and ' +
          'vectorized native kernels on the same cores. The gap is the WGSL matmul (about 32 GFLOP/s) against OpenBLAS, and the per-dispatch cost of the small ops.',
        tfjs: 'TF.js runs WGSL on the same device and adapter: the difference is the kernels (its generic matmul, softmax, layer norm composed from ' +
          'moments and elementwise ops, attention as separate matmuls and a softmax with [B, H, N, N] buffers) and the dispatches its autograd records.',
      },
      tfjs: typeof tfSide === 'string' ? tfSide : tfSide.version,
      rows,
    }, null, 2)}\n`);
  }
  return rows;
}
