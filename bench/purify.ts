// Purification throughput: seconds per batch of AMRM-Pure (docs/method.md section 2) and images per
// second, for the shipped purifiers (MAE and MaskDiT) with their presets and for the paper's models
// (`mae-base-c32`, `maskdit-c32`; random weights: the time does not depend on them), beside the
// paper's anchors (per batch of 32 CIFAR-10 images on an NVIDIA A40, docs/method.md section 6: MAE-Pure
// 18.25 s, MaskDiT-Pure 32.85 s). The first steps compile and are not timed; a batch's time is S ×
// the median step time (every step does the same work: one forward and backward of the model with
// fresh masks (and noise), and the update).
import { existsSync } from 'node:fs';
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { Rng } from '../src/engine/random.js';
import { asyncScope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { MAE } from '../src/models/mae.js';
import { maeConfig } from '../src/models/mae_configs.js';
import { MaskDiT } from '../src/models/maskdit.js';
import { maskDitConfig } from '../src/models/maskdit_configs.js';
import { MaeReconstruction, type ReconstructionModel } from '../src/purify/loss.js';
import { MaskDitReconstruction } from '../src/purify/maskdit_loss.js';
import { loadPurifier } from '../src/cli/purifier.js';
import { purify, purifyConfig } from '../src/purify/amrm.js';
import { matmulMultiplyAdds } from '../src/engine/ops/matmul.js';
import { median } from './timing.js';
import { formatProfile, profileWork, recordDispatches, type ProfileMethod, type WorkProfile } from '../src/engine/profile.js';

/** docs/method.md section 6: batch of 32 CIFAR-10 images on an NVIDIA A40 (MAE-Pure: ViT-Base MAE, 150 steps; MaskDiT-Pure: 25 steps). */
export const PAPER_ANCHORS = {
  mae: { seconds_per_batch: 18.25, batch: 32, model: 'mae-base-c32 (ViT-Base, p 4)', steps: 150, hardware: 'NVIDIA A40' },
  maskdit: { seconds_per_batch: 32.85, batch: 32, model: 'the paper\'s CIFAR MaskDiT (maskdit-c32)', steps: 25, hardware: 'NVIDIA A40' },
};

export interface Case {
  name: string;
  family: 'mae' | 'maskdit';
  /** A checkpoint of the repository, or a configuration with random weights. */
  file?: string;
  config?: string;
  preset: string;
  imgSize: [number, number];
  inChans: number;
}

const CASES: Case[] = [
  { name: 'mnist-mae (shipped)', family: 'mae', file: 'models/mnist-mae.safetensors', preset: 'mae-mnist', imgSize: [28, 28], inChans: 1 },
  { name: 'cifar10-mae (shipped)', family: 'mae', file: 'models/cifar10-mae.safetensors', preset: 'mae-cifar10', imgSize: [32, 32], inChans: 3 },
  { name: 'mae-base-c32 (the paper\'s model, random weights)', family: 'mae', config: 'mae-base-c32', preset: 'mae-cifar10', imgSize: [32, 32], inChans: 3 },
  { name: 'mnist-maskdit (shipped)', family: 'maskdit', file: 'models/mnist-maskdit.safetensors', preset: 'maskdit-mnist', imgSize: [28, 28], inChans: 1 },
  { name: 'cifar10-maskdit (shipped)', family: 'maskdit', file: 'models/cifar10-maskdit.safetensors', preset: 'maskdit-cifar10', imgSize: [32, 32], inChans: 3 },
  { name: 'maskdit-c32 (the paper\'s model, random weights)', family: 'maskdit', config: 'maskdit-c32', preset: 'maskdit-cifar10', imgSize: [32, 32], inChans: 3 },
];

/** The case's purifier and how to free it. */
function purifierOf(c: Case): { recon: ReconstructionModel; dispose(): void } {
  if (c.file) {
    const p = loadPurifier(c.file, { preset: c.preset });
    return { recon: p.recon, dispose: () => p.dispose() };
  }
  if (c.family === 'mae') {
    const mae = MAE.create(maeConfig(c.config!, { imgSize: c.imgSize, inChans: c.inChans }), { seed: 0 });
    return { recon: new MaeReconstruction(mae), dispose: () => mae.dispose() };
  }
  const md = MaskDiT.create(maskDitConfig(c.config!, { imgSize: c.imgSize, inChans: c.inChans }), { seed: 0 });
  return { recon: new MaskDitReconstruction(md), dispose: () => md.dispose() };
}

export interface PurifyBenchRow {
  model: string; family: 'mae' | 'maskdit'; preset: string; steps: number; batch: number; adapter: string;
  timed_steps: number; median_step_ms: number; seconds_per_batch: number; images_per_s: number;
  /** Our seconds per batch over the paper's for the family (over 1: slower than the paper's A40). */
  vs_paper_anchor: number;
  /**
   * FLOPs of the step's matmuls (forward and input gradient), and those over the whole step's
   * median time: the rate the step runs at counting its matmuls' work alone.
   */
  matmul_gflop_per_step: number; matmul_gflops_effective: number;
}

export interface PurifyBenchOptions {
  batch?: number; warmup?: number; steps?: number; only?: RegExp; json?: string; command?: string;
  /** Profile one step per case instead of timing S steps (method: the adapter's best by default). */
  profile?: boolean; method?: ProfileMethod;
  /** Profile: runs per measurement (default 5). */
  repeats?: number;
}

export interface PurifyProfileRow extends WorkProfile {
  model: string; preset: string; batch: number;
  /**
   * Dispatches and copies of the profiled step alone (the unit less the setup a zero-step run
   * records): a step once the loop's once-only work is done, what an S-step loop pays per step.
   */
  dispatches_per_step: number;
  /** Of each later step of a loop, counted outside the profile (a two-step run less a one-step run): the same. */
  dispatches_per_later_step: number;
  /**
   * Of a loop's first step (a one-step run less a zero-step run): the per-step work plus what the
   * loop does once (held weight textures, MaskDiT's conditioning at σ_pur).
   */
  dispatches_first_step: number;
}

/** Random images of the case's shape in [0, 1]. */
export function imagesOf(c: Case, batch: number): Float32Array {
  const rng = new Rng(3);
  return Float32Array.from({ length: batch * c.inChans * c.imgSize[0] * c.imgSize[1] }, () => rng.next());
}

/**
 * The profile of one purification step: the unit of work is a one-step purification (the input
 * copy and the ball's two bounds, 3 of its dispatches, come with it) once the loop's once-only work
 * is done.
 */
async function profileCase(c: Case, batch: number, method: ProfileMethod | undefined, repeats: number): Promise<PurifyProfileRow | undefined> {
  if (c.file && !existsSync(c.file)) {
    console.log(`${c.name}: ${c.file} is not there, left out`);
    return undefined;
  }
  const p = purifierOf(c);
  try {
    const x = imagesOf(c, batch);
    const run = (steps: number) => () => asyncScope(async () => {
      (await purify(p.recon, tensor(x, [batch, c.inChans, ...c.imgSize]), purifyConfig(c.preset, { steps }))).images.dispose();
    });
    const setup = (await recordDispatches(run(0))).length;
    const one = (await recordDispatches(run(1))).length;
    const later = (await recordDispatches(run(2))).length - one;
    // Profiled inside the model's frozen scope, which outlives each one-step run: what the model
    // prepares once per loop (held weight textures, MaskDiT's conditioning) is ready after the first
    // (warm-up) run, so the unit is what every later step of a loop costs.
    const profileStep = (): Promise<WorkProfile> => profileWork(run(1), { method, repeats });
    const profile = await (p.recon.frozen ? p.recon.frozen(profileStep) : profileStep());
    return { model: c.name, preset: c.preset, batch, ...profile, dispatches_per_step: profile.dispatches - setup, dispatches_per_later_step: later, dispatches_first_step: one - setup };
  } finally { p.dispose(); }
}

async function runPurifyProfile(o: PurifyBenchOptions): Promise<PurifyProfileRow[]> {
  const batch = o.batch ?? 32;
  const rows: PurifyProfileRow[] = [];
  for (const c of CASES) {
    if (o.only && !o.only.test(c.name)) continue;
    const row = await profileCase(c, batch, o.method, o.repeats ?? 5);
    if (!row) continue;
    rows.push(row);
    console.log(`${row.model}, ${row.preset}, batch ${batch}: ${row.dispatches_per_step} dispatches per step (${row.dispatches_first_step} in a loop's first step)`);
    console.log(formatProfile(row));
  }
  if (o.json) {
    const report = {
      bench: 'purify --profile', command: o.command ?? 'runPurifyBench({ profile: true })', adapter: engine().gpu.kind, adapter_info: engine().gpu.info,
      date: new Date().toISOString(),
      timing: 'the unit is a one-step purification (its 3 setup dispatches included) run inside the model\'s frozen scope, so what a loop prepares once (held weight textures, MaskDiT\'s conditioning) is ready: a later step of a loop; medianMs is its median wall time; ' +
        'elimination: a family\'s ms is the median, over pairs of back-to-back runs, of the wall time saved by leaving its dispatches out; timestamp: GPU time of its dispatches',
      rows,
    };
    writeAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return rows;
}

/** The shipped or configured case by the start of its name (for other benchmarks). */
export function purifyCase(name: string): Case {
  const c = CASES.find((k) => k.name.startsWith(name));
  if (!c) throw new Error(`bench purify: no case '${name}' (${CASES.map((k) => k.name).join(', ')})`);
  return c;
}

export async function measure(c: Case, batch: number, warmup: number, timed: number): Promise<PurifyBenchRow | undefined> {
  if (c.file && !existsSync(c.file)) {
    console.log(`${c.name}: ${c.file} is not there, left out`);
    return undefined;
  }
  const p = purifierOf(c);
  try {
    const options = purifyConfig(c.preset, { steps: warmup + timed });
    const x = imagesOf(c, batch);
    const ends: number[] = [], madds: number[] = [];
    await asyncScope(async () => {
      const r = await purify(p.recon, tensor(x, [batch, c.inChans, ...c.imgSize]), options, {
        onProgress: () => { ends.push(performance.now()); madds.push(matmulMultiplyAdds()); },
      });
      r.images.dispose();
    });
    const steps = ends.slice(warmup).map((t, i) => t - ends[warmup - 1 + i]);
    const ms = median(steps);
    // The matmuls' FLOPs of a timed step (2 per multiply-add; every step does the same work).
    const matmulFlops = (2 * (madds[madds.length - 1] - madds[warmup - 1])) / steps.length;
    const S = purifyConfig(c.preset).steps;
    const perBatch = (S * ms) / 1000;
    return {
      model: c.name, family: c.family, preset: c.preset, steps: S, batch, adapter: engine().gpu.kind, timed_steps: steps.length,
      median_step_ms: +ms.toFixed(1), seconds_per_batch: +perBatch.toFixed(2), images_per_s: +(batch / perBatch).toFixed(3),
      vs_paper_anchor: +(perBatch / PAPER_ANCHORS[c.family].seconds_per_batch).toFixed(2),
      matmul_gflop_per_step: +(matmulFlops / 1e9).toFixed(2), matmul_gflops_effective: +(matmulFlops / ms / 1e6).toFixed(2),
    };
  } finally { p.dispose(); }
}

export async function runPurifyBench(o: PurifyBenchOptions = {}): Promise<PurifyBenchRow[] | PurifyProfileRow[]> {
  await init();
  if (o.profile) return runPurifyProfile(o);
  const batch = o.batch ?? 32, warmup = o.warmup ?? 1, timed = o.steps ?? 3;
  const rows: PurifyBenchRow[] = [];
  for (const c of CASES) {
    if (o.only && !o.only.test(c.name)) continue;
    const row = await measure(c, batch, warmup, timed);
    if (!row) continue;
    rows.push(row);
    console.log(`${row.adapter.padEnd(11)} ${row.model.padEnd(48)} ${row.preset.padEnd(12)} batch ${row.batch} ` +
      `${row.median_step_ms.toFixed(1).padStart(9)} ms/step ${row.seconds_per_batch.toFixed(1).padStart(8)} s/batch (S ${row.steps}) ` +
      `${row.images_per_s.toFixed(3)} images/s, ${row.vs_paper_anchor}x the paper's A40 time, ` +
      `matmuls ${row.matmul_gflop_per_step} GFLOP per step: ${row.matmul_gflops_effective} GFLOP/s effective`);
  }
  if (o.json) {
    const report = {
      bench: 'purify', command: o.command ?? 'runPurifyBench()', adapter: engine().gpu.kind, adapter_info: engine().gpu.info,
      date: new Date().toISOString(), paper_anchors: PAPER_ANCHORS,
      timing: `seconds per batch = S × the median of ${timed} step times after ${warmup} untimed (compiles); images are uniform noise`,
      rows,
    };
    writeAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return rows;
}
