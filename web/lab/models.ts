// The lab's models: the ones this repository ships (fetched over HTTP from the lab's server,
// /models/*.safetensors) or a .safetensors file the user drops in, built on the GPU in the page.
// A purifier is recognized and given its preset by src/purify/load.ts, the same code the CLI runs
// on files; a classifier by src/models/classifiers.ts.
import { loadStateDict } from '../../src/engine/io/index.js';
import { checkFiniteWeights, type StateDict } from '../../src/engine/io/host-tensor.js';
import { createClassifier } from '../../src/models/classifiers.js';
import type { Classifier } from '../../src/models/cnn.js';
import { purifierFromStateDict, type LoadedPurifier } from '../../src/purify/load.js';

export type LabDataset = 'mnist' | 'cifar10';

/** A shipped model file; a purifier names the preset its metadata gives it (src/purify/load.ts). */
export interface ShippedModel { file: string; what: string; preset?: string; }

/** Per data set: its shipped classifier, and its shipped purifiers (the first is the default). */
export const SHIPPED: Record<LabDataset, { classifier: ShippedModel; purifiers: ShippedModel[] }> = {
  mnist: {
    classifier: { file: 'mnist-cnn.safetensors', what: 'CNN (models/mnist-cnn)' },
    purifiers: [
      { file: 'mnist-maskdit.safetensors', what: 'MaskDiT (models/mnist-maskdit)', preset: 'maskdit-mnist' },
      { file: 'mnist-mae.safetensors', what: 'MAE (models/mnist-mae)', preset: 'mae-mnist' },
      { file: 'mnist-rmaskdit.safetensors', what: 'robust MaskDiT (models/mnist-rmaskdit)', preset: 'rmaskdit-mnist' },
      { file: 'mnist-rmae.safetensors', what: 'robust MAE (models/mnist-rmae)', preset: 'rmae-mnist' },
    ],
  },
  cifar10: {
    classifier: { file: 'cifar10-resnet20.safetensors', what: 'ResNet-20 (models/cifar10-resnet20)' },
    purifiers: [
      { file: 'cifar10-maskdit.safetensors', what: 'MaskDiT (models/cifar10-maskdit)', preset: 'maskdit-cifar10' },
      { file: 'cifar10-maskdit-e6.safetensors', what: 'MaskDiT, 2 epochs more (models/cifar10-maskdit-e6)', preset: 'maskdit-cifar10' },
      { file: 'cifar10-maskdit-e8.safetensors', what: 'MaskDiT, 4 epochs more (models/cifar10-maskdit-e8)', preset: 'maskdit-cifar10' },
      { file: 'cifar10-mae.safetensors', what: 'MAE (models/cifar10-mae)', preset: 'mae-cifar10' },
      { file: 'cifar10-mae-e14.safetensors', what: 'MAE, 8 epochs more (models/cifar10-mae-e14)', preset: 'mae-cifar10' },
      { file: 'cifar10-rmaskdit.safetensors', what: 'robust MaskDiT (models/cifar10-rmaskdit)', preset: 'rmaskdit-cifar10' },
      { file: 'cifar10-rmae.safetensors', what: 'robust MAE (models/cifar10-rmae)', preset: 'rmae-cifar10' },
    ],
  },
};

export const DATASET_NAMES: Record<LabDataset, string> = { mnist: 'MNIST', cifar10: 'CIFAR-10' };

/**
 * Fetches a shipped model file; the error names the URL and what came back. The body is read whole
 * (arrayBuffer): a byte-count progress bar for a few local megabytes is not worth a stream reader.
 */
export async function fetchModel(file: string): Promise<Uint8Array> {
  const url = new URL(`models/${file}`, location.href).href;
  let res: Response;
  try { res = await fetch(url); } catch (e) { throw new Error(`could not fetch ${url}: ${(e as Error).message} (is amrm serve running?)`); }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

function stateDict(bytes: Uint8Array, name: string): StateDict {
  const sd = loadStateDict(bytes, name);
  checkFiniteWeights(sd, name);
  return sd;
}

/** A classifier from safetensors bytes, checked to take the data set's images. */
export function classifierFromBytes(bytes: Uint8Array, name: string, dataset: LabDataset, shape: readonly number[]): Classifier {
  const c = createClassifier(undefined, stateDict(bytes, name));
  if (c.inputShape.join() !== shape.join()) {
    c.dispose();
    throw new Error(`${name} takes [${c.inputShape}] images, not ${DATASET_NAMES[dataset]}'s [${shape}]`);
  }
  return c;
}

/** A purifier (MAE or MaskDiT, plain or robust) from safetensors bytes, with its preset for the data set. */
export function purifierFromBytes(bytes: Uint8Array, name: string, dataset: LabDataset, shape: readonly number[], onNote?: (line: string) => void): LoadedPurifier {
  return purifierFromStateDict(stateDict(bytes, name), name, { dataset, inputShape: shape, onNote });
}
