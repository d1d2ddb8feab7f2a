// One split of a data set by name, as the commands take it: MNIST from the `mnist` package (it needs
// no folder), CIFAR-10 and CIFAR-100 from the folder or archive `data` names.
import { loadCifar } from './cifar-fs.js';
import { loadMnistSplit } from './mnist.js';
import type { CifarKind, Split } from './cifar.js';
import type { ImageSet } from './dataset.js';

export function loadSplit(dataset: CifarKind | 'mnist', data: string | undefined, split: Split): ImageSet {
  return dataset === 'mnist' ? loadMnistSplit(split) : loadCifar(data!, dataset, { split });
}
