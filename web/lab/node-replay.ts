// The lab's Purify run recomputed in Node, for scripts/browser-lab.mjs: the same bundled image (the
// same PNG bytes), model files, pipeline.ts calls and seeds as the page, on the adapter AMRM_ADAPTER
// names (the test uses SwiftShader, the page's). Prints one JSON line: the probabilities, per-step
// losses and AMV, Figure 1's predictions and Figure 3's per-layer scale for the query patch, and
// whether the bundled PNG still holds the test set's image.
//   node <dist>/web/lab-node-replay.js '{"dataset":"mnist","image":0,"norm":"linf","eps":0.3,"attack_steps":2,
//     "purify_steps":3,"seed":0,"classifier":"mnist-cnn.safetensors","purifier":"mnist-maskdit.safetensors","query":5,
//     "cifar":"../shared/data/cifar-10-batches-bin"}'
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { init } from '../../src/engine/engine.js';
import { decodePng } from '../../src/data/png.js';
import { loadMnistSplit } from '../../src/data/mnist.js';
import { loadCifar } from '../../src/data/cifar-fs.js';
import { purifyConfig } from '../../src/purify/amrm.js';
import { classifierFromBytes, purifierFromBytes, type LabDataset } from './models.js';
import { attackImage, attentionOfPatch, classify, figure1Row, purifyLive } from './pipeline.js';

interface Spec {
  dataset: LabDataset; image: number; norm: 'linf' | 'l2'; eps: number; attack_steps: number; purify_steps: number; seed: number;
  classifier: string; purifier: string; query?: number; cifar?: string;
}
let spec: Spec;
try { spec = JSON.parse(process.argv[2] ?? ''); } catch {
  console.error('usage: node lab-node-replay.js SPEC_JSON (see the header of web/lab/node-replay.ts)');
  process.exit(2);
}
await init();
const lab = join(import.meta.dirname, 'lab');
const index = JSON.parse(readFileSync(join(lab, 'images/index.json'), 'utf8')) as { datasets: Record<LabDataset, { shape: number[]; classes: string[]; images: { file: string; index: number; label: number }[] }> };
const set = index.datasets[spec.dataset];
const entry = set.images[spec.image];
const png = decodePng(readFileSync(join(lab, 'images', entry.file)), { name: entry.file });
if (png.shape.join() !== set.shape.join()) throw new Error(`${entry.file} is [${png.shape}], index.json says [${set.shape}]`);
const image = png.data;
// The PNG against the data set itself (CIFAR-10 only where its files are given and present).
const per = image.length;
let pngMatches: boolean | null = null;
if (spec.dataset === 'mnist') {
  const test = loadMnistSplit('test');
  pngMatches = test.images.subarray(entry.index * per, (entry.index + 1) * per).every((v, i) => v === image[i]);
} else if (spec.cifar && existsSync(spec.cifar)) {
  const test = loadCifar(spec.cifar, 'cifar10', { split: 'test', indices: [entry.index] });
  pngMatches = test.images.every((v, i) => v === image[i]);
}
const shape = set.shape;
const classifier = classifierFromBytes(readFileSync(join('models', spec.classifier)), spec.classifier, spec.dataset, shape);
const p = purifierFromBytes(readFileSync(join('models', spec.purifier)), spec.purifier, spec.dataset, shape, () => {});
const clean = await classify(classifier, image);
const attacked = await attackImage(classifier, image, entry.label, { norm: spec.norm, eps: spec.eps, steps: spec.attack_steps, seed: spec.seed });
const options = purifyConfig(p.preset, { steps: spec.purify_steps, seed: spec.seed });
const r = await purifyLive(p, attacked, image, options, () => {});
const im = { image, label: entry.label, index: entry.index, classes: set.classes };
const fig1 = await figure1Row(classifier, p, im, attacked, r.image, options.maskRatio, spec.seed);
const fig3 = spec.query === undefined ? undefined : await attentionOfPatch(p, im, attacked, r.image, spec.query, options.maskRatio, spec.seed);
console.log(JSON.stringify({
  png_matches_test_set: pngMatches,
  clean, attacked: await classify(classifier, attacked), purified: await classify(classifier, r.image),
  losses: r.losses, amv: r.amv,
  figure1: fig1.data.images[0].cells.map((c) => ({ column: c.column, prediction: c.prediction, confidence: c.confidence })),
  figure3_vmax: fig3?.data.rows.map((row) => row.vmax),
}));
classifier.dispose();
p.dispose();
