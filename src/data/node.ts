// Data sets and images with Node's file system: everything in ./index.ts plus CIFAR from a path,
// MNIST from the `mnist` package and PNG files. Kept apart so the browser bundle never imports fs.
export * from './index.js';
export { loadCifar, loadCifar10, loadCifar100 } from './cifar-fs.js';
export { loadMnist, loadMnistSplit, MNIST_SPLIT, MNIST_CLASSES, type MnistOptions } from './mnist.js';
export { decodePng, readPng, encodePng, writePng, writePngGrid, type PngReadOptions } from './png.js';
