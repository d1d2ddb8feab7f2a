// Data sets and images, the part that runs anywhere (no file system): CIFAR from bytes or the
// official .tar.gz bytes, tar reading, seeded subsets, image grids. Reading from paths, MNIST and
// PNG need Node and are in ./node.ts.
export { type ImageSet, type ImageCHW, checkIndices, labelHistogram, subset } from './dataset.js';
export { TarReader, readTar, readTarGz, type TarEntry, type TarEntryType, type TarOptions } from './tar.js';
export {
  CIFAR10_LAYOUT, CIFAR100_LAYOUT, CIFAR10_CLASSES, CIFAR100_FINE_CLASSES, CIFAR100_COARSE_CLASSES,
  cifarLayout, cifarLabels, cifarRecordCount, parseClassNames, assembleCifar, memoryBatch, cifarFromTarGz,
  type CifarKind, type CifarLayout, type CifarOptions, type CifarBatch, type Split,
} from './cifar.js';
export { sampleIndices, parseIndexRange } from './sample.js';
export { tileImages, type GridOptions } from './grid.js';
