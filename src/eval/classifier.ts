// Clean accuracy of a classifier on a set of images (no purifier, no attack), batch by batch, with
// the device memory of each batch freed before the next.
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { argmax } from '../engine/ops/reduce.js';
import { noGrad } from '../engine/autograd.js';
import type { ImageSet } from '../data/dataset.js';
import type { Classifier } from '../models/cnn.js';

export interface ClassifierEvalOptions {
  /** Images per forward pass (default 100). */
  batch?: number;
  /** Called after each batch with the images done so far, the total and the running rate. */
  onProgress?: (done: number, total: number, imagesPerS: number) => void;
}

export interface ClassifierEvalResult {
  n: number;
  correct: number;
  /** correct / n, a fraction in [0, 1]. */
  accuracy: number;
  /** Images per second over the whole run (upload, forward, readback; pipeline compilation included). */
  imagesPerS: number;
  seconds: number;
  /** The predicted class of each image, in the set's order. */
  predictions: Int32Array;
}

/** Runs `model` over every image of `set` and counts the predictions that equal the labels. */
export async function evaluateClassifier(model: Classifier, set: ImageSet, options: ClassifierEvalOptions = {}): Promise<ClassifierEvalResult> {
  const batch = options.batch ?? 100;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`evaluateClassifier: batch must be a positive integer, got ${batch}`);
  const [, c, h, w] = set.shape;
  const [mc, mh, mw] = model.inputShape;
  if (c !== mc || h !== mh || w !== mw) {
    throw new Error(`evaluateClassifier: ${model.arch} takes [${model.inputShape}] images, the data set has [${c}, ${h}, ${w}]`);
  }
  const per = c * h * w;
  const predictions = new Int32Array(set.n);
  let correct = 0;
  const t0 = performance.now();
  for (let start = 0; start < set.n; start += batch) {
    const b = Math.min(batch, set.n - start);
    const pred = await asyncScope(async () => {
      const x = tensor(set.images.subarray(start * per, (start + b) * per), [b, c, h, w]);
      const p = noGrad(() => argmax(model.forward(x), 1));
      return (await p.read()) as Int32Array;
    });
    for (let i = 0; i < b; i++) {
      predictions[start + i] = pred[i];
      if (pred[i] === set.labels[start + i]) correct++;
    }
    const done = start + b;
    options.onProgress?.(done, set.n, done / ((performance.now() - t0) / 1000));
  }
  const seconds = (performance.now() - t0) / 1000;
  return { n: set.n, correct, accuracy: set.n ? correct / set.n : 0, imagesPerS: set.n / seconds, seconds, predictions };
}
