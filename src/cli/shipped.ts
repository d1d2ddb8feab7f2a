// The models this repository ships (models/) and the test sets the commands that use them read:
// one place that knows where they are, for demo, figures and theorem.
import { join, resolve, dirname } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.js';
import { loadSplit } from '../data/split.js';
import { CIFAR10_CLASSES } from '../data/cifar.js';
import { subset, type ImageSet } from '../data/dataset.js';
import { sampleIndices } from '../data/sample.js';

/** The package's models/ folder: the nearest folder above this module holding package.json and models/. */
export const MODELS = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'models')))) {
    const up = resolve(dir, '..');
    if (up === dir) return resolve('models');
    dir = up;
  }
  return join(dir, 'models');
})();

export type ShippedDataset = 'mnist' | 'cifar10';

/** Reads --dataset (default mnist) and checks that cifar10 comes with --data. */
export function datasetFlag(got: Map<string, string>): { dataset: ShippedDataset; data?: string } {
  const dataset = got.get('--dataset') ?? 'mnist';
  if (dataset !== 'mnist' && dataset !== 'cifar10') throw new UsageError(`--dataset must be mnist or cifar10, got '${dataset}'`);
  const data = got.get('--data');
  if (dataset === 'cifar10' && !data) throw new UsageError('--dataset cifar10 needs --data DIR (the cifar-10-batches-bin folder, its parent or the .tar.gz)');
  return { dataset, data };
}

/**
 * The shipped models of a data set: the classifier, the purifier `amrm demo` shows (the one that
 * purifies best on that data set, a MaskDiT on both: on MNIST it brings back attacked digits the
 * MAE cannot; on CIFAR-10 models/cifar10-maskdit-e6, which keeps more clean images than the MAE and
 * than the longer-trained e8, which undoes more transferred attacks but keeps fewer clean images
 * (README's robustness table, models/cifar10-maskdit-e8.md)) and the MAE, on which the committed theorem and figure results were
 * measured (the default of `amrm theorem` and `amrm figures`).
 */
export function shippedModels(dataset: ShippedDataset): { classifier: string; purifier: string; mae: string } {
  const mae = join(MODELS, dataset === 'mnist' ? 'mnist-mae.safetensors' : 'cifar10-mae.safetensors');
  return {
    classifier: join(MODELS, dataset === 'mnist' ? 'mnist-cnn.safetensors' : 'cifar10-resnet20.safetensors'),
    purifier: join(MODELS, dataset === 'mnist' ? 'mnist-maskdit.safetensors' : 'cifar10-maskdit-e6.safetensors'),
    mae,
  };
}

/** Throws a clear error for a model file that is not there. */
export function checkModelFiles(files: Record<string, string>): void {
  for (const [what, f] of Object.entries(files)) {
    if (!existsSync(f)) throw new Error(`the ${what} ${f} does not exist${f.startsWith(MODELS) ? ' (the repository ships it in models/: is this a full checkout?)' : ''}`);
  }
}

/** The test split of a data set. */
export function loadTestSet(dataset: ShippedDataset, data?: string): ImageSet {
  return loadSplit(dataset, data, 'test');
}

/** A seeded sample of n test images (refused when n is more than the set holds) and their indices. */
export function sampleTestSet(dataset: ShippedDataset, data: string | undefined, n: number, seed: number): { set: ImageSet; indices: Int32Array } {
  const all = loadTestSet(dataset, data);
  if (n > all.n) throw new Error(`--n ${n} is more than the ${all.n} test images`);
  const indices = sampleIndices(all.n, n, seed);
  return { set: subset(all, indices), indices };
}

/** A label's name: the CIFAR-10 class, or the digit. */
export const labelName = (dataset: ShippedDataset, y: number): string => (dataset === 'cifar10' ? CIFAR10_CLASSES[y] ?? String(y) : String(y));
