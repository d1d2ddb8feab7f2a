// `amrm eval`: clean accuracy of a classifier checkpoint on CIFAR (no purifier, no attack).
//   amrm eval --dataset cifar10 --data DIR --classifier FILE [--arch resnet20] [--n N --seed S | --indices 0-499]
//             [--split test] [--batch 100] [--json OUT]
// JSON: { n, correct, clean_accuracy (a fraction: correct / n), images_per_s, seconds, config,
// predictions (one digit per image, for 10 classes or fewer) }.
import { init } from '../engine/engine.js';
import { loadStateDictFile, writeAtomic } from '../engine/io/node.js';
import { loadCifar } from '../data/cifar-fs.js';
import { sampleIndices, parseIndexRange } from '../data/sample.js';
import type { CifarKind, Split } from '../data/cifar.js';
import type { ImageSet } from '../data/dataset.js';
import { createClassifier, CLASSIFIER_ARCHS } from '../models/classifiers.js';
import { evaluateClassifier } from '../eval/classifier.js';

export const EVAL_USAGE = `  eval --dataset cifar10 --data DIR --classifier FILE [--arch NAME] [--n N --seed S | --indices 0-499]
       [--split test] [--batch 100] [--json OUT]
                                     clean accuracy of a classifier (no purifier, no attack); DIR is
                                     cifar-10-batches-bin, its parent or the .tar.gz; NAME one of
                                     ${CLASSIFIER_ARCHS.join(', ')} (inferred from the checkpoint when absent)`;

/** The images `indices` of `set`, in that order. */
function subset(set: ImageSet, indices: Int32Array): ImageSet {
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  const images = new Float32Array(indices.length * per), labels = new Int32Array(indices.length);
  indices.forEach((k, i) => { images.set(set.images.subarray(k * per, (k + 1) * per), i * per); labels[i] = set.labels[k]; });
  return { ...set, images, labels, n: indices.length, shape: [indices.length, set.shape[1], set.shape[2], set.shape[3]] };
}

export interface EvalArgs {
  dataset: CifarKind; data: string; classifier: string; arch?: string; split: Split;
  n?: number; seed: number; indices?: string; batch: number; json?: string;
}

const VALUED = ['--dataset', '--data', '--classifier', '--arch', '--split', '--n', '--seed', '--indices', '--batch', '--json'] as const;

function int(flag: string, v: string, min: number): number {
  const k = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(k) || k < min) throw new UsageError(`${flag} must be an integer ≥ ${min}, got '${v}'`);
  return k;
}

export class UsageError extends Error {}

/** Parses the flags (`--flag value` or `--flag=value`); throws UsageError on anything unclear. */
export function parseEvalArgs(args: string[]): EvalArgs {
  const got = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (!(VALUED as readonly string[]).includes(flag)) {
      throw new UsageError(a.startsWith('--purifier') || a.startsWith('--attack')
        ? `${flag} is not available yet: this command evaluates clean accuracy only`
        : `unknown option '${a}'`);
    }
    const value = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    if (got.has(flag)) throw new UsageError(`${flag} is given twice`);
    got.set(flag, value);
  }
  const dataset = got.get('--dataset') ?? 'cifar10';
  if (dataset !== 'cifar10' && dataset !== 'cifar100') throw new UsageError(`--dataset must be cifar10 or cifar100, got '${dataset}'`);
  const split = got.get('--split') ?? 'test';
  if (split !== 'test' && split !== 'train') throw new UsageError(`--split must be test or train, got '${split}'`);
  const data = got.get('--data'), classifier = got.get('--classifier');
  if (!data) throw new UsageError('--data DIR is required (the cifar-10-batches-bin folder, its parent, or the .tar.gz)');
  if (!classifier) throw new UsageError('--classifier FILE is required (a .th/.pth/.pt checkpoint or .safetensors)');
  if (got.has('--n') && got.has('--indices')) throw new UsageError('give --n (a seeded sample) or --indices (a fixed list), not both');
  return {
    dataset, data, classifier, split, arch: got.get('--arch'),
    n: got.has('--n') ? int('--n', got.get('--n')!, 1) : undefined,
    seed: got.has('--seed') ? int('--seed', got.get('--seed')!, 0) : 0,
    indices: got.get('--indices'),
    batch: got.has('--batch') ? int('--batch', got.get('--batch')!, 1) : 100,
    json: got.get('--json'),
  };
}

export async function evalCommand(args: string[]): Promise<number> {
  let a: EvalArgs;
  try {
    a = parseEvalArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`amrm eval: ${e.message}\nusage:\n${EVAL_USAGE}`);
    return 2;
  }
  // The whole split is read (tens of MB), so that a sample or a slice is checked against its real size.
  const all = loadCifar(a.data, a.dataset, { split: a.split });
  const indices = a.indices !== undefined ? parseIndexRange(a.indices, all.n)
    : a.n !== undefined ? sampleIndices(all.n, a.n, a.seed) : undefined;
  const set = indices ? subset(all, indices) : all;
  const sd = loadStateDictFile(a.classifier);
  const eng = await init();
  const model = createClassifier(a.arch, sd);
  if (model.numClasses !== set.classes.length) {
    model.dispose();
    throw new Error(`${model.arch} has ${model.numClasses} classes, ${a.dataset} has ${set.classes.length}`);
  }
  const which = a.indices !== undefined ? `indices ${a.indices}` : a.n !== undefined ? `a sample of ${a.n} (seed ${a.seed})` : 'all images';
  console.log(`eval: ${model.arch} on ${a.dataset} ${a.split} (${which}: ${set.n} images), batch ${a.batch}, adapter ${eng.gpu.kind}`);
  let lastPrint = performance.now();
  const r = await evaluateClassifier(model, set, {
    batch: a.batch,
    onProgress: (done, n, rate) => {
      if (done < n && performance.now() - lastPrint < 5000) return;
      lastPrint = performance.now();
      console.log(`  ${done}/${n} images, ${rate.toFixed(1)} images/s`);
    },
  }).finally(() => model.dispose());
  console.log(`clean accuracy: ${(100 * r.accuracy).toFixed(2)}% (${r.correct}/${r.n}), ${r.imagesPerS.toFixed(1)} images/s, ${r.seconds.toFixed(1)} s`);
  if (a.json) {
    const report = {
      n: r.n, correct: r.correct, clean_accuracy: r.accuracy, images_per_s: r.imagesPerS, seconds: r.seconds,
      config: {
        dataset: a.dataset, split: a.split, data: a.data, classifier: a.classifier, arch: model.arch,
        n: a.n ?? null, seed: a.n !== undefined ? a.seed : null, indices: a.indices ?? null, batch: a.batch,
        adapter: eng.gpu.kind, purifier: null, attack: null,
        command: `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm eval ${args.join(' ')}`,
      },
      // One digit per image in evaluation order (10 classes or fewer), so that any slice's count can be checked.
      predictions: model.numClasses <= 10 ? Array.from(r.predictions).join('') : undefined,
      date: new Date().toISOString(),
    };
    writeAtomic(a.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${a.json}`);
  }
  return 0;
}
