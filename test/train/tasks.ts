// Small synthetic tasks for the training tests: an MLP and a two-block ViT classifier on data made
// by a fixed random teacher, as TrainTasks, with their data as an ImageSet for the loader.
import { Tensor, keep } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { crossEntropy } from '../../src/engine/ops/loss.js';
import { mean } from '../../src/engine/ops/reduce.js';
import { reshape } from '../../src/engine/ops/layout.js';
import { Rng } from '../../src/engine/random.js';
import type { StateDict, HostTensor } from '../../src/engine/io/host-tensor.js';
import { Block } from '../../src/models/vit.js';
import { Linear, seededInit } from '../../src/models/layers.js';
import type { NamedTensor } from '../../src/models/module.js';
import type { ImageSet } from '../../src/data/dataset.js';
import type { TrainTask } from '../../src/train/trainer.js';

/** n points of `dim` features labelled by argmax of a fixed random linear map to `classes`. */
export function teacherSet(n: number, dim: number, classes: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const W = Array.from({ length: classes * dim }, () => rng.normal());
  const images = new Float32Array(n * dim), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    for (let j = 0; j < dim; j++) images[i * dim + j] = Math.fround(rng.uniform(-1, 1));
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += W[c * dim + j] * images[i * dim + j];
      if (s > best) { best = s; labels[i] = c; }
    }
  }
  return { images, labels, n, shape: [n, 1, 1, dim], classes: Array.from({ length: classes }, (_, c) => String(c)) };
}

function namedTask(params: NamedTensor[], logits: (x: Tensor) => Tensor): TrainTask {
  for (const [, t] of params) { keep(t); t.requireGrad(); }
  return {
    parameters: () => params,
    setTraining: () => {},
    loss: (b) => crossEntropy(logits(b.x), b.y),
    stateDict: async () => {
      const tensors = new Map<string, HostTensor>();
      for (const [k, t] of params) tensors.set(k, { shape: [...t.shape], dtype: 'f32', data: await t.data() });
      return { tensors, metadata: {} };
    },
    loadStateDict: (sd: StateDict) => {
      // A fresh upload copied on the GPU, ordered after earlier readers.
      for (const [k, t] of params) {
        const src = tensor(sd.tensors.get(k)!.data as Float32Array, t.shape);
        copyInto(src, t);
        src.dispose();
      }
    },
  };
}

function copyInto(src: Tensor, dst: Tensor): void { engine().runtime.copy(src.buffer, dst.buffer, dst.size * 4); }

/** dim → hidden (ReLU) → classes. */
export function mlpTask(dim: number, hidden: number, classes: number, seed: number): { task: TrainTask; dispose: () => void } {
  const init = seededInit(new Rng(seed));
  const l1 = Linear.init(init, dim, hidden), l2 = Linear.init(init, hidden, classes);
  const params = [...l1.parameters('fc1.'), ...l2.parameters('fc2.')];
  const task = namedTask(params, (x) => l2.forward(l1.forward(reshape(x, [x.shape[0], dim]), 'relu')));
  return { task, dispose: () => params.forEach(([, t]) => t.dispose()) };
}

/** Features [n, tokens·f] as tokens of f features, embedded, two pre-norm blocks, mean-pooled, classified. */
export function vitTask(tokens: number, f: number, width: number, classes: number, seed: number): { task: TrainTask; dispose: () => void } {
  const init = seededInit(new Rng(seed));
  const embed = Linear.init(init, f, width);
  const blocks = [Block.init(init, width, 2, { mlpRatio: 2, eps: 1e-6 }), Block.init(init, width, 2, { mlpRatio: 2, eps: 1e-6 })];
  const head = Linear.init(init, width, classes);
  const params = [...embed.parameters('embed.'), ...blocks.flatMap((b, i) => b.parameters(`blocks.${i}.`)), ...head.parameters('head.')];
  const task = namedTask(params, (x) => {
    const n = x.shape[0];
    let h = embed.forward(reshape(x, [n, tokens, f]));
    for (const b of blocks) h = b.forward(h);
    return head.forward(mean(h, 1));
  });
  return { task, dispose: () => params.forEach(([, t]) => t.dispose()) };
}
