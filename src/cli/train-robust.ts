// `amrm train robust`: fine-tunes a purifier (an MAE or a MaskDiT checkpoint) against the attack on the
// whole pipeline, with the classifier frozen (src/purify/robust.ts; docs/method.md section 5). Writes
// what every `amrm train` kind writes (model.safetensors, log.jsonl, loss.svg, summary.json,
// checkpoints/); the model file's metadata records that it is robust-fine-tuned, from which file and
// with what, so that commands loading it pick the rmae-* / rmaskdit-* preset.
import { basename, join } from 'node:path';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { init } from '../engine/engine.js';
import { writeSafetensors } from '../engine/io/safetensors.js';
import { loadStateDictFile, writeAtomic } from '../engine/io/node.js';
import { UsageError, fractionFlag, intFlag, numFlag, parseFlags } from './args.js';
import { createClassifier } from '../models/classifiers.js';
import { loadSplit } from '../data/split.js';
import type { ImageSet } from '../data/dataset.js';
import { BatchLoader } from '../train/loader.js';
import { maeTask, maskditTask } from '../train/tasks.js';
import { trainingRecipe } from '../train/recipes.js';
import { maeHeldOutLoss } from '../eval/mae.js';
import { maskDitHeldOutLoss } from '../eval/maskdit.js';
import { SURROGATES, pasteSurrogate, robustTask, type AdversarialStore, type Surrogate, type SurrogateModel } from '../purify/robust.js';
import { PURIFIER_FLAGS, loadPurifierWith, parsePurifierFlags, purifyLoop, type PurifierFlags } from './purifier.js';
import { openRunFolder, runTraining } from './train-run.js';
import { noGrad } from '../engine/autograd.js';
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { Rng } from '../engine/random.js';

export const TRAIN_ROBUST_USAGE = `  train robust --purifier FILE --classifier FILE --dataset mnist|cifar10 [--data DIR] --out DIR
        [--purifier-config NAME] [--preset NAME] [--purify-steps S] [--eta E] [--masks M] [--mask-ratio R] [--sigma SIGMA] [--eps E] [--attack-steps 5] [--attack-step-size A] [--noise 8/255]
        [--rec-weight 1] [--surrogate ${SURROGATES.join('|')}] [--unrolled-steps 3] [--unrolled-step-size A] [--tau 0.5]
        [--epochs 1] [--batch 16] [--lr 1e-4] [--limit N] [--seed 0] [--adversarial regenerate|cache]
        [--checkpoint-every K] [--resume]
                                     fine-tunes the purifier against PGD (l_inf E, default 8/255 and 0.3 on
                                     MNIST) with exact gradients through its purification (the preset's,
                                     default FAMILY-DATASET, its knobs overridden as in amrm eval), the classifier frozen; θ learns
                                     through the surrogate (paste: each patch predicted once from
                                     complementary masks; unrolled: steps of the loop with sign smoothed to
                                     tanh, by second-order autograd) plus its training loss × --rec-weight;
                                     --adversarial cache attacks in the first epoch only and trains later
                                     epochs on those batches (kept in DIR/adversarial/)`;

const FLAGS = ['--purifier', '--classifier', '--dataset', '--data', '--out', ...PURIFIER_FLAGS, '--purify-steps', '--eps', '--attack-steps', '--attack-step-size',
  '--noise', '--rec-weight', '--surrogate', '--unrolled-steps', '--unrolled-step-size', '--tau', '--epochs', '--batch', '--lr', '--limit', '--seed', '--checkpoint-every', '--adversarial'];

interface RobustArgs extends Omit<PurifierFlags, 'steps'> {
  purifier: string; classifier: string; dataset: 'mnist' | 'cifar10'; data: string; out: string; purifySteps?: number;
  eps: number; attackSteps: number; attackStepSize?: number; noise: number; recWeight: number; surrogate: Surrogate;
  unrolledSteps: number; unrolledStepSize?: number; tau: number;
  epochs: number; batch: number; lr: number; limit?: number; seed: number; checkpointEvery?: number; resume: boolean;
  adversarial: 'regenerate' | 'cache';
}

export function parseRobust(args: string[]): RobustArgs {
  const flags = parseFlags(args, { valued: FLAGS, switches: ['--resume'] });
  const got = flags.values;
  const need = (f: string): string => { const v = got.get(f); if (!v) throw new UsageError(`${f} is required`); return v; };
  const dataset = got.get('--dataset');
  if (dataset !== 'mnist' && dataset !== 'cifar10') throw new UsageError(`--dataset must be mnist or cifar10, got '${dataset ?? ''}'`);
  // The purification the attack runs through: the same flags, read the same way, as amrm eval's.
  const { steps: purifySteps, ...purifierFlags } = parsePurifierFlags(got, '--purify-steps');
  const surrogate = got.get('--surrogate') ?? 'paste';
  if (!(SURROGATES as readonly string[]).includes(surrogate)) throw new UsageError(`--surrogate must be ${SURROGATES.join(' or ')}, got '${surrogate}'`);
  const adversarial = got.get('--adversarial') ?? 'regenerate';
  if (adversarial !== 'regenerate' && adversarial !== 'cache') throw new UsageError(`--adversarial must be regenerate or cache, got '${adversarial}'`);
  const fraction = (flag: string): number | undefined => fractionFlag(got, flag);
  const eps = fraction('--eps') ?? (dataset === 'mnist' ? 0.3 : 8 / 255);
  if (!(eps > 0 && eps < 1)) throw new UsageError(`--eps must be in (0, 1) (an l_inf radius in [0, 1] units), got '${got.get('--eps')}'`);
  return {
    purifier: need('--purifier'), classifier: need('--classifier'), dataset, data: got.get('--data') ?? '../shared/data', out: need('--out'),
    ...purifierFlags, purifySteps, eps, attackSteps: intFlag(got, '--attack-steps', 1) ?? 5,
    attackStepSize: fraction('--attack-step-size'), noise: fraction('--noise') ?? 8 / 255, recWeight: numFlag(got, '--rec-weight', 0) ?? 1,
    surrogate: surrogate as Surrogate, unrolledSteps: intFlag(got, '--unrolled-steps', 1) ?? 3, unrolledStepSize: fraction('--unrolled-step-size'),
    tau: numFlag(got, '--tau', 1e-6) ?? 0.5, epochs: intFlag(got, '--epochs', 1) ?? 1, batch: intFlag(got, '--batch', 1) ?? 16,
    lr: numFlag(got, '--lr', 0) ?? 1e-4, limit: intFlag(got, '--limit', 1), seed: intFlag(got, '--seed', 0) ?? 0,
    checkpointEvery: intFlag(got, '--checkpoint-every', 1), resume: flags.switches.has('--resume'), adversarial,
  };
}

function firstImages(set: ImageSet, n: number): ImageSet {
  if (n >= set.n) return set;
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  return { ...set, n, images: set.images.subarray(0, n * per), labels: set.labels.subarray(0, n), shape: [n, set.shape[1], set.shape[2], set.shape[3]] };
}

/**
 * Attacked batches as files, DIR/batch-NNNNN.bin (written atomically): u32 n, c, h, w; f32 the fraction
 * fooled; n·c·h·w f32 images; n i32 labels. A file that does not fit its header is an error that names it.
 */
export function adversarialFolder(dir: string): AdversarialStore {
  mkdirSync(dir, { recursive: true });
  const file = (i: number): string => join(dir, `batch-${String(i).padStart(5, '0')}.bin`);
  return {
    get(i) {
      const f = file(i);
      if (!existsSync(f)) return undefined;
      const bytes = readFileSync(f);
      const head = new DataView(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 20));
      if (bytes.byteLength < 20) throw new Error(`${f}: ${bytes.byteLength} bytes, shorter than its 20-byte header`);
      const shape = [0, 1, 2, 3].map((k) => head.getUint32(4 * k, true)) as [number, number, number, number];
      const per = shape[1] * shape[2] * shape[3], n = shape[0];
      if (bytes.byteLength !== 20 + 4 * n * per + 4 * n) throw new Error(`${f}: ${bytes.byteLength} bytes, its header [${shape}] needs ${20 + 4 * n * per + 4 * n} (a partial or foreign file)`);
      const body = bytes.buffer.slice(bytes.byteOffset + 20, bytes.byteOffset + bytes.byteLength);
      return { shape, fooled: head.getFloat32(16, true), images: new Float32Array(body, 0, n * per), labels: new Int32Array(body, 4 * n * per, n) };
    },
    set(i, b) {
      const n = b.shape[0], per = b.shape[1] * b.shape[2] * b.shape[3];
      const out = new Uint8Array(20 + 4 * n * per + 4 * n);
      const view = new DataView(out.buffer);
      b.shape.forEach((d, k) => view.setUint32(4 * k, d, true));
      view.setFloat32(16, b.fooled, true);
      out.set(new Uint8Array(b.images.buffer, b.images.byteOffset, 4 * n * per), 20);
      out.set(new Uint8Array(b.labels.buffer, b.labels.byteOffset, 4 * n), 20 + 4 * n * per);
      writeAtomic(file(i), out);
    },
  };
}

/** Held-out images each epoch is measured on (the first of the test split; a quick look, not a result row). */
const EPOCH_EVAL_IMAGES = 256;

export async function trainRobust(a: RobustArgs): Promise<number> {
  const load = (split: 'train' | 'test'): ImageSet => loadSplit(a.dataset, a.data, split);
  const trainSet = a.limit ? firstImages(load('train'), a.limit) : load('train');
  const testSet = firstImages(load('test'), EPOCH_EVAL_IMAGES);
  const eng = await init();
  const [, C, H, W] = trainSet.shape;
  const classifier = createClassifier(undefined, loadStateDictFile(a.classifier));
  const p = loadPurifierWith(a.purifier, a, { dataset: a.dataset, inputShape: [C, H, W] });
  if (classifier.inputShape.join() !== [C, H, W].join()) throw new Error(`the classifier ${a.classifier} takes [${classifier.inputShape}] images, ${a.dataset} has [${C}, ${H}, ${W}]`);
  openRunFolder(a.out, a.resume);
  const purify = purifyLoop(p.preset, { ...a, steps: a.purifySteps });
  const model: SurrogateModel = p.family === 'mae' ? { family: 'mae', mae: p.mae } : { family: 'maskdit', maskdit: p.maskdit, sigma: p.recon.sigma };
  const kind = p.family === 'mae' ? 'mae' : 'maskdit';
  const recipe = trainingRecipe(kind, '', a.dataset, a.seed, { batch: a.batch, lr: a.lr, wd: 0 });
  // No augmentation: the attack is on the images as they are.
  const loader = new BatchLoader(trainSet, { batch: a.batch, seed: a.seed, augment: 'none' });
  const base = p.family === 'mae' ? maeTask(p.mae, { seed: a.seed, maskRatio: purify.maskRatio }) : maskditTask(p.maskdit, { seed: a.seed, maskRatio: purify.maskRatio });
  const task = robustTask(base, model, p.recon, classifier, {
    seed: a.seed, purify, eps: a.eps, attackSteps: a.attackSteps, attackStepSize: a.attackStepSize, noise: a.noise, recWeight: a.recWeight, surrogate: a.surrogate,
    unrolled: { steps: a.unrolledSteps, stepSize: a.unrolledStepSize ?? purify.stepSize / 255, tau: a.tau },
    adversarialStore: a.adversarial === 'cache' ? adversarialFolder(join(a.out, 'adversarial')) : undefined,
  });
  // What defines the run (a resume must match it): the unrolled loop's settings only for that surrogate.
  const { resume: _r, checkpointEvery: _c, out: _o, unrolledSteps, unrolledStepSize, tau, adversarial: _adv, ...defining } = a;
  const unrolledSettings = a.surrogate === 'unrolled' ? { unrolledSteps, unrolledStepSize, tau } : {};
  // (A cached attack is named only when chosen, so runs from before the option resume as they were.)
  const config = { kind: 'robust', ...defining, ...unrolledSettings, ...(a.adversarial === 'cache' ? { adversarial: a.adversarial } : {}), family: p.family, purifyPreset: p.preset, purify, optimizer: recipe.optimizer, adapter: eng.gpu.kind, trainImages: trainSet.n };
  const metadata = {
    'amrm.robust.from': basename(a.purifier),
    'amrm.robust.options': JSON.stringify({ surrogate: a.surrogate, adversarial: a.adversarial, ...(a.surrogate === 'unrolled' ? { unrolled_steps: a.unrolledSteps, unrolled_step_size: a.unrolledStepSize ?? purify.stepSize / 255, tau: a.tau } : {}), eps: a.eps, attack_steps: a.attackSteps, noise: a.noise, rec_weight: a.recWeight, preset: p.preset, purify_steps: purify.steps, eta: Number.isFinite(purify.eta) ? purify.eta : 'inf', masks: purify.masks, mask_ratio: purify.maskRatio, ...(p.family === 'maskdit' ? { sigma: p.recon.sigma } : {}), epochs: a.epochs, batch: a.batch, lr: a.lr, train_images: trainSet.n, dataset: a.dataset, classifier: basename(a.classifier) }),
  };
  /** Per epoch: the model's own held-out loss, and the classifier's accuracy on the paste surrogate of clean test images. */
  const onEpoch = async (): Promise<Record<string, unknown>> => {
    const heldOut = p.family === 'mae'
      ? (await maeHeldOutLoss(p.mae, testSet, { batch: 64, seed: 1234, maskRatio: purify.maskRatio })).loss
      : (await maskDitHeldOutLoss(p.maskdit, testSet, { batch: 64, seed: 1234, maskRatio: purify.maskRatio, sigma: p.recon.sigma })).loss;
    let right = 0;
    const per = C * H * W, rng = new Rng(4321);
    for (let b0 = 0; b0 < testSet.n; b0 += 64) {
      const m = Math.min(64, testSet.n - b0);
      const pred = await asyncScope(async () => noGrad(() => {
        const x = tensor(testSet.images.subarray(b0 * per, (b0 + m) * per), [m, C, H, W]);
        return classifier.forward(pasteSurrogate(model, x, purify.maskRatio, rng));
      }).data());
      for (let i = 0; i < m; i++) {
        const row = pred.subarray(i * classifier.numClasses, (i + 1) * classifier.numClasses);
        if (row.indexOf(Math.max(...row)) === testSet.labels[b0 + i]) right++;
      }
    }
    return { test_loss: heldOut, test_surrogate_clean_accuracy: right / testSet.n, test_n: testSet.n };
  };
  return runTraining({ out: a.out, resume: a.resume, epochs: a.epochs, checkpointEvery: a.checkpointEvery, title: `robust ${p.family} (${basename(a.purifier)}) on ${a.dataset}` }, {
    task, loader, optimizer: recipe.optimizer, lr: a.lr, warmup: 0, config, onEpoch,
    saveFinal: async () => writeSafetensors(p.family === 'mae' ? await p.mae.stateDict(metadata) : await p.maskdit.stateDict(metadata)),
    stepLog: async () => ({ ...(await task.lastTerms()) }),
    dispose: () => { classifier.dispose(); p.dispose(); },
    banner: `train robust ${p.family} from ${a.purifier} on ${a.dataset} (${trainSet.n} train images), ${a.epochs} epochs of ${loader.batchesPerEpoch} steps, batch ${a.batch}, ` +
      `adamw lr ${a.lr}; stage I PGD-${a.attackSteps} l_inf ${a.eps.toFixed(4)} through ${p.preset} (S ${purify.steps}, ${purify.masks} mask${purify.masks > 1 ? 's' : ''} per step), noise ${a.noise.toFixed(4)}${a.adversarial === 'cache' ? ', first epoch only (cached)' : ''}; stage II ${a.surrogate} + ${a.recWeight} × training loss; adapter ${eng.gpu.kind}`,
  });
}
