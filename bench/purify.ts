// Purification throughput: seconds per batch of AMRM-Pure (METHOD.md section 3) and images per
// second, for the shipped MAEs with their presets and for the paper's model (`mae-base-c32`, random
// weights: the time does not depend on them), beside the paper's anchor (18.25 s per batch of 32
// CIFAR-10 images on an NVIDIA A40, METHOD.md section 7). The first steps compile and are not timed;
// a batch's time is S × the median step time (every step does the same work: one forward and backward
// of the MAE with fresh masks, and the update).
import { existsSync } from 'node:fs';
import { engine, init } from '../src/engine/engine.js';
import { loadStateDictFile, writeAtomic } from '../src/engine/io/node.js';
import { Rng } from '../src/engine/random.js';
import { asyncScope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { MAE } from '../src/models/mae.js';
import { maeConfig } from '../src/models/mae_configs.js';
import { MaeReconstruction } from '../src/purify/loss.js';
import { purify, purifyConfig } from '../src/purify/amrm.js';
import { median } from './timing.js';

/** METHOD.md section 7: MAE-Pure, batch of 32 CIFAR-10 images, ViT-Base MAE, 150 steps, NVIDIA A40. */
export const PAPER_ANCHOR = { seconds_per_batch: 18.25, batch: 32, model: 'mae-base-c32 (ViT-Base, p 4)', steps: 150, hardware: 'NVIDIA A40' };

interface Case {
  name: string;
  /** A checkpoint of the repository, or a configuration with random weights. */
  file?: string;
  config?: string;
  preset: string;
  imgSize: [number, number];
  inChans: number;
}

const CASES: Case[] = [
  { name: 'mnist-mae (shipped)', file: 'models/mnist-mae.safetensors', preset: 'mae-mnist', imgSize: [28, 28], inChans: 1 },
  { name: 'cifar10-mae (shipped)', file: 'models/cifar10-mae.safetensors', preset: 'mae-cifar10', imgSize: [32, 32], inChans: 3 },
  { name: 'mae-base-c32 (the paper\'s model, random weights)', config: 'mae-base-c32', preset: 'mae-cifar10', imgSize: [32, 32], inChans: 3 },
];

export interface PurifyBenchRow {
  model: string; preset: string; steps: number; batch: number; adapter: string;
  timed_steps: number; median_step_ms: number; seconds_per_batch: number; images_per_s: number;
  /** Our seconds per batch over the paper's (over 1: slower than the paper's A40). */
  vs_paper_anchor: number;
}

export interface PurifyBenchOptions { batch?: number; warmup?: number; steps?: number; only?: RegExp; json?: string; command?: string; }

async function measure(c: Case, batch: number, warmup: number, timed: number): Promise<PurifyBenchRow | undefined> {
  if (c.file && !existsSync(c.file)) {
    console.log(`${c.name}: ${c.file} is not there, left out`);
    return undefined;
  }
  const mae = c.file ? MAE.load(loadStateDictFile(c.file)) : MAE.create(maeConfig(c.config!, { imgSize: c.imgSize, inChans: c.inChans }), { seed: 0 });
  try {
    const options = purifyConfig(c.preset, { steps: warmup + timed });
    const rng = new Rng(3);
    const x = Float32Array.from({ length: batch * c.inChans * c.imgSize[0] * c.imgSize[1] }, () => rng.next());
    const ends: number[] = [];
    await asyncScope(async () => {
      const r = await purify(new MaeReconstruction(mae), tensor(x, [batch, c.inChans, ...c.imgSize]), options, { onProgress: () => { ends.push(performance.now()); } });
      r.images.dispose();
    });
    const steps = ends.slice(warmup).map((t, i) => t - ends[warmup - 1 + i]);
    const ms = median(steps);
    const S = purifyConfig(c.preset).steps;
    const perBatch = (S * ms) / 1000;
    return {
      model: c.name, preset: c.preset, steps: S, batch, adapter: engine().gpu.kind, timed_steps: steps.length,
      median_step_ms: +ms.toFixed(1), seconds_per_batch: +perBatch.toFixed(2), images_per_s: +(batch / perBatch).toFixed(3),
      vs_paper_anchor: +(perBatch / PAPER_ANCHOR.seconds_per_batch).toFixed(2),
    };
  } finally { mae.dispose(); }
}

export async function runPurifyBench(o: PurifyBenchOptions = {}): Promise<PurifyBenchRow[]> {
  await init();
  const batch = o.batch ?? 32, warmup = o.warmup ?? 1, timed = o.steps ?? 3;
  const rows: PurifyBenchRow[] = [];
  for (const c of CASES) {
    if (o.only && !o.only.test(c.name)) continue;
    const row = await measure(c, batch, warmup, timed);
    if (!row) continue;
    rows.push(row);
    console.log(`${row.adapter.padEnd(11)} ${row.model.padEnd(48)} ${row.preset.padEnd(12)} batch ${row.batch} ` +
      `${row.median_step_ms.toFixed(1).padStart(9)} ms/step ${row.seconds_per_batch.toFixed(1).padStart(8)} s/batch (S ${row.steps}) ` +
      `${row.images_per_s.toFixed(3)} images/s, ${row.vs_paper_anchor}x the paper's A40 time`);
  }
  if (o.json) {
    const report = {
      bench: 'purify', command: o.command ?? 'runPurifyBench()', adapter: engine().gpu.kind, adapter_info: engine().gpu.info,
      date: new Date().toISOString(), paper_anchor: PAPER_ANCHOR,
      timing: `seconds per batch = S × the median of ${timed} step times after ${warmup} untimed (compiles); images are uniform noise`,
      rows,
    };
    writeAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return rows;
}
