// How random the AMRM purifier is, and so how much EOT can matter: each image is purified under R
// independent mask draws, and the report gives how far the purified images lie apart, how often the
// classifier's prediction changes with the draw, and how alike the exact gradients through the
// purifier are across draws (the sign agreement is what decides an l_inf PGD step). Images: the first
// n of the seeded test sample the evaluations use (bench/robust/*.sh), clean.
//
//   node dist/bench/robust/draw_spread.js --dataset mnist|cifar10 [--data DIR] [--n 16] [--draws 4] \
//     [--json bench/results/robust/draw-spread-mnist.json]
import { intFlag, parseFlags } from '../../src/cli/args.js';
import { init, engine } from '../../src/engine/engine.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { loadStateDictFile, writeAtomic } from '../../src/engine/io/node.js';
import { loadCifar10 } from '../../src/data/cifar-fs.js';
import { loadMnistSplit } from '../../src/data/mnist.js';
import { subset, type ImageSet } from '../../src/data/dataset.js';
import { sampleIndices } from '../../src/data/sample.js';
import { createClassifier } from '../../src/models/classifiers.js';
import { MAE } from '../../src/models/mae.js';
import { MaeReconstruction } from '../../src/purify/loss.js';
import { purify, purifyConfig } from '../../src/purify/amrm.js';
import { classifierTarget, drawSeed, lossAndGradient, logitsOf, predictions, purifiedTarget } from '../../src/attacks/target.js';

/** The evaluations' settings per data set (bench/robust/mnist.sh and cifar10.sh). */
const SETUPS = {
  mnist: { sample: 64, classifier: 'models/mnist-cnn.safetensors', purifier: 'models/mnist-mae.safetensors', preset: 'mae-mnist' },
  cifar10: { sample: 128, classifier: '../shared/models/resnet20-12fca82f.th', purifier: 'models/cifar10-mae.safetensors', preset: 'mae-cifar10' },
} as const;

const direct = process.argv[1]?.endsWith('/bench/robust/draw_spread.js');
if (direct) {
  const flags = parseFlags(process.argv.slice(2), { valued: ['--dataset', '--data', '--n', '--draws', '--json'] }).values;
  const dataset = flags.get('--dataset') ?? 'mnist';
  if (dataset !== 'mnist' && dataset !== 'cifar10') throw new Error(`--dataset must be mnist or cifar10, got '${dataset}'`);
  const setup = SETUPS[dataset];
  const n = intFlag(flags, '--n', 1) ?? 16, R = intFlag(flags, '--draws', 2) ?? 4;
  await init();
  const all: ImageSet = dataset === 'mnist' ? loadMnistSplit('test') : loadCifar10(flags.get('--data') ?? '../shared/data/cifar-10-batches-bin', { split: 'test' });
  const set = subset(all, sampleIndices(all.n, setup.sample, 0).slice(0, Math.min(n, setup.sample)));
  const classifier = createClassifier(undefined, loadStateDictFile(setup.classifier));
  const mae = MAE.load(loadStateDictFile(setup.purifier));
  const options = purifyConfig(setup.preset, { seed: 0 });
  const model = new MaeReconstruction(mae);
  const shape = [set.n, ...set.shape.slice(1)], per = shape[1] * shape[2] * shape[3], K = classifier.numClasses;
  const t0 = performance.now();

  // R purifications of the same images, each under its own draw, and the classifier's predictions.
  const purified: Float32Array[] = [], preds: Int32Array[] = [];
  const plain = classifierTarget(classifier);
  for (let r = 0; r < R; r++) {
    const x = await asyncScope(async () => (await purify(model, tensor(set.images, shape), { ...options, seed: drawSeed(options.seed, r) })).images.data());
    purified.push(x);
    preds.push(predictions(await logitsOf(plain, x, set.n, 0), K));
  }
  // Exact gradients of the cross-entropy through the purifier, one draw each.
  const target = purifiedTarget(classifier, { model, options }, 'exact');
  const grads: Float32Array[] = [];
  for (let r = 0; r < R; r++) grads.push((await lossAndGradient(target, set.images, set.labels, 'ce', 1, { next: r })).grad);

  // Over all pairs of draws: mean |difference| of the purified pixels (in 1/255), the fraction of
  // pixels that differ by more than half a grey level, and the sign agreement of the gradients
  // (over pixels where either is non-zero), and the cosine of the two gradients per image.
  let pairs = 0, absDiff = 0, differ = 0, signSame = 0, signCount = 0, cosSum = 0;
  for (let a = 0; a < R; a++) {
    for (let b = a + 1; b < R; b++) {
      pairs++;
      for (let k = 0; k < set.n; k++) {
        let ab = 0, aa = 0, bb = 0;
        for (let i = k * per; i < (k + 1) * per; i++) { ab += grads[a][i] * grads[b][i]; aa += grads[a][i] ** 2; bb += grads[b][i] ** 2; }
        cosSum += ab / Math.sqrt(aa * bb || 1);
      }
      for (let i = 0; i < set.images.length; i++) {
        const d = Math.abs(purified[a][i] - purified[b][i]) * 255;
        absDiff += d;
        if (d > 0.5) differ++;
        const ga = Math.sign(grads[a][i]), gb = Math.sign(grads[b][i]);
        if (ga !== 0 || gb !== 0) { signCount++; if (ga === gb) signSame++; }
      }
    }
  }
  const stable = Array.from({ length: set.n }, (_, i) => preds.every((p) => p[i] === preds[0][i])).filter(Boolean).length;
  const moved = purified[0].reduce((s, v, i) => s + Math.abs(v - set.images[i]), 0) * 255 / set.images.length;
  const report = {
    bench: 'draw-spread', command: `node dist/bench/robust/draw_spread.js ${process.argv.slice(2).join(' ')}`,
    adapter: engine().gpu.kind, dataset, images: `test, positions 0-${set.n - 1} of the seeded sample (${setup.sample}, seed 0), clean`,
    classifier: setup.classifier, purifier: `${setup.purifier}, ${setup.preset} (S ${options.steps}, rho ${options.maskRatio}, eta ${(options.eta * 255).toFixed(0)}/255)`,
    draws: R, pixels_per_image: per,
    mean_abs_move_from_input_255: +moved.toFixed(3),
    mean_abs_difference_between_draws_255: +(absDiff / pairs / set.images.length).toFixed(3),
    fraction_of_pixels_differing_between_draws: +(differ / pairs / set.images.length).toFixed(4),
    images_with_the_same_prediction_in_every_draw: stable,
    gradient_sign_agreement_between_draws: +(signSame / Math.max(signCount, 1)).toFixed(4),
    gradient_cosine_between_draws: +(cosSum / pairs / set.n).toFixed(4),
    seconds: +((performance.now() - t0) / 1000).toFixed(1), date: new Date().toISOString(),
  };
  console.log(JSON.stringify(report, null, 2));
  const json = flags.get('--json');
  if (json) writeAtomic(json, JSON.stringify(report, null, 2) + '\n');
  mae.dispose();
  classifier.dispose();
  process.exit(0);
}
