// Training throughput: images per second of the models `amrm train` trains, on the current adapter,
// through the same loop (src/train/trainer.ts), loader with its augmentation, optimizer and recipe
// (src/train/recipes.ts) as `amrm train`. The first steps compile the pipelines and are not timed;
// the result is the median step time of the timed steps. The images are uniform noise of the data
// set's shape with random labels: a step's work does not depend on the pixel values, and the
// benchmark then needs no data set on disk.
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { Rng } from '../src/engine/random.js';
import type { ImageSet } from '../src/data/dataset.js';
import { MAE } from '../src/models/mae.js';
import { maeConfig } from '../src/models/mae_configs.js';
import { createTrainableClassifier } from '../src/models/trainable.js';
import { BatchLoader } from '../src/train/loader.js';
import { train, type TrainTask } from '../src/train/trainer.js';
import { classifierTask, maeTask } from '../src/train/tasks.js';
import { trainingRecipe } from '../src/train/recipes.js';
import { median } from './timing.js';

interface Case {
  /** What the row is called. */
  name: string;
  kind: 'mae' | 'classifier';
  config: string;
  dataset: 'cifar10' | 'mnist';
  patch?: number;
}

/** The CIFAR models of the training issue, then the two MNIST models the repository ships. */
const CASES: Case[] = [
  { name: 'mae-tiny-c32 (CIFAR-10, p 4)', kind: 'mae', config: 'mae-tiny-c32', dataset: 'cifar10' },
  { name: 'resnet20 (CIFAR-10)', kind: 'classifier', config: 'resnet20', dataset: 'cifar10' },
  { name: 'mae-tiny-c32 (MNIST, p 7)', kind: 'mae', config: 'mae-tiny-c32', dataset: 'mnist', patch: 7 },
  { name: 'cnn-mnist (MNIST)', kind: 'classifier', config: 'cnn-mnist', dataset: 'mnist' },
];

export interface TrainBenchRow {
  model: string; config: string; dataset: string; batch: number; optimizer: string;
  adapter: string; warmup_steps: number; timed_steps: number; median_step_ms: number; images_per_s: number;
}

export interface TrainBenchOptions { steps?: number; warmup?: number; only?: RegExp; json?: string; command?: string; }

function noiseSet(c: Case, n: number, rng: Rng): ImageSet {
  const shape: [number, number, number, number] = c.dataset === 'cifar10' ? [n, 3, 32, 32] : [n, 1, 28, 28];
  const images = Float32Array.from({ length: n * shape[1] * shape[2] * shape[3] }, () => rng.next());
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng.next() * 10));
  return { images, labels, n, shape, classes: Array.from({ length: 10 }, (_, i) => String(i)) };
}

async function measure(c: Case, warmup: number, steps: number): Promise<TrainBenchRow> {
  const recipe = trainingRecipe(c.kind, c.config, c.dataset, 0);
  const set = noiseSet(c, recipe.batch * (warmup + steps), new Rng(1));
  const [, C, H, W] = set.shape;
  let task: TrainTask, dispose: () => void;
  if (c.kind === 'mae') {
    const model = MAE.create(maeConfig(c.config, { imgSize: [H, W], inChans: C, ...(c.patch ? { patchSize: c.patch } : {}) }), { seed: 0 });
    task = maeTask(model, { seed: 0 });
    dispose = () => model.dispose();
  } else {
    const model = createTrainableClassifier(c.config, { seed: 0, numClasses: 10 });
    task = classifierTask(model);
    dispose = () => model.dispose();
  }
  const ends: number[] = [];
  try {
    await train(task, new BatchLoader(set, recipe.loader), {
      epochs: 1, optimizer: recipe.optimizer, lr: recipe.lr, warmupSteps: 0,
      onStep: (i) => { ends.push(i.seconds); },
    });
  } finally { dispose(); }
  const times = ends.slice(warmup).map((t, i) => 1000 * (t - ends[warmup - 1 + i]));
  const ms = median(times);
  return {
    model: c.name, config: c.config, dataset: c.dataset, batch: recipe.batch, optimizer: recipe.optimizer.kind, adapter: engine().gpu.kind,
    warmup_steps: warmup, timed_steps: times.length, median_step_ms: +ms.toFixed(1), images_per_s: +((1000 * recipe.batch) / ms).toFixed(1),
  };
}

export async function runTrainBench(o: TrainBenchOptions = {}): Promise<TrainBenchRow[]> {
  await init();
  const warmup = o.warmup ?? 3, steps = o.steps ?? 10;
  if (!(Number.isInteger(warmup) && warmup >= 1 && Number.isInteger(steps) && steps >= 1)) throw new Error(`bench train: warm-up ${warmup} and steps ${steps} must be positive integers`);
  const rows: TrainBenchRow[] = [];
  for (const c of CASES) {
    if (o.only && !o.only.test(c.name)) continue;
    const row = await measure(c, warmup, steps);
    rows.push(row);
    console.log(`${row.adapter.padEnd(11)} ${row.model.padEnd(30)} batch ${String(row.batch).padStart(3)} ${row.optimizer.padEnd(5)} ` +
      `${row.median_step_ms.toFixed(1).padStart(8)} ms/step ${row.images_per_s.toFixed(1).padStart(7)} images/s`);
  }
  if (o.json) {
    const report = {
      bench: 'train', command: o.command ?? 'runTrainBench()', adapter: engine().gpu.kind, adapter_info: engine().gpu.info,
      date: new Date().toISOString(),
      timing: `median step time of ${steps} steps after ${warmup} untimed ones (compiles), through amrm train's loop, loader, optimizer and recipe; images are uniform noise`,
      rows,
    };
    writeAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return rows;
}
