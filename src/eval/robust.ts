// Robust accuracy: clean accuracy of (purifier +) classifier, then an attack on the examples it got
// right, then the accuracy on the adversarial images, batch by batch. With a purifier, each
// evaluation purifies with fresh masks (a seed apart from every attack draw).
//   adaptive 'exact': the attack's gradients go through the purifier (autograd through the loop);
//   adaptive 'none':  the attack sees the classifier alone (transfer to the defended model);
//   attack 'bpda':    PGD with the purifier's backward taken as the identity.
//   attack 'square':  black box, so 'exact' only means its queries go through the purifier.
import type { ImageSet } from '../data/dataset.js';
import type { Classifier } from '../models/cnn.js';
import { drawSeed, classifierTarget, logitsOf, predictions, purifiedTarget, type AttackTarget, type Purifier } from '../attacks/target.js';
import { pgd, type AttackResult } from '../attacks/pgd.js';
import { apgd } from '../attacks/apgd.js';
import { square } from '../attacks/square.js';
import type { Norm } from '../attacks/ball.js';

export const ATTACKS = ['pgd', 'apgd-ce', 'apgd-dlr', 'square', 'bpda'] as const;
export type AttackName = typeof ATTACKS[number];
export type Adaptive = 'exact' | 'none';

export interface RobustEvalOptions {
  classifier: Classifier;
  purifier?: Purifier;
  /** Undefined: clean accuracy only. */
  attack?: AttackName;
  norm: Norm;
  eps: number;
  steps: number;
  eot: number;
  adaptive: Adaptive;
  /** PGD step size (default 2.5·eps/steps). */
  stepSize?: number;
  batch: number;
  seed: number;
  /**
   * Position of `set`'s first image in the whole evaluation (a shard's start, a multiple of batch):
   * the random draws follow positions, so shards that split at batch boundaries reproduce the
   * unsharded run exactly.
   */
  offset?: number;
  onProgress?: (done: number, total: number, imagesPerS: number) => void;
}

export interface RobustEvalResult {
  n: number;
  cleanCorrect: number;
  robustCorrect: number;
  cleanAccuracy: number;
  /** Equal to the clean accuracy when no attack ran. */
  robustAccuracy: number;
  cleanPredictions: Int32Array;
  robustPredictions: Int32Array;
  /** Images through the whole pipeline per second (clean pass, attack and robust pass). */
  imagesPerS: number;
  seconds: number;
  /** The attacked target's description. */
  attackedModel?: string;
}

/** The model the evaluation scores (purifier draws seeded apart from the attack's). */
function evaluatedTarget(o: RobustEvalOptions): AttackTarget {
  return o.purifier ? purifiedTarget(o.classifier, o.purifier, 'exact') : classifierTarget(o.classifier);
}

function attackedTarget(o: RobustEvalOptions): AttackTarget {
  if (!o.purifier) return classifierTarget(o.classifier);
  if (o.attack === 'bpda') return purifiedTarget(o.classifier, o.purifier, 'bpda');
  return o.adaptive === 'exact' ? purifiedTarget(o.classifier, o.purifier, 'exact') : classifierTarget(o.classifier);
}

/**
 * The PGD iterate each example returns: without a purifier, the first that fools the classifier;
 * with one, the last. Through the purifier the target is random, so a fooling draw proves little;
 * in a transfer attack (the classifier alone is attacked) an image stopped just across the
 * classifier's boundary is the easiest for the purifier to bring back
 * (bench/results/robust/transfer-diagnosis-linf-8_255.json measures by how much).
 */
export function pgdKeep(o: Pick<RobustEvalOptions, 'purifier'>): 'first' | 'last' {
  return o.purifier ? 'last' : 'first';
}

async function runAttack(o: RobustEvalOptions, t: AttackTarget, x: Float32Array, y: Int32Array, seed: number): Promise<AttackResult> {
  const common = { norm: o.norm, eps: o.eps, steps: o.steps, eot: o.eot, seed };
  switch (o.attack) {
    case 'pgd': case 'bpda': return pgd(t, x, y, { ...common, stepSize: o.stepSize, keep: pgdKeep(o) });
    case 'apgd-ce': return apgd(t, x, y, { ...common, loss: 'ce' });
    case 'apgd-dlr': return apgd(t, x, y, { ...common, loss: 'dlr' });
    case 'square':
      if (o.norm !== 'linf') throw new Error('square: only the l_inf version is implemented');
      return square(t, x, y, { eps: o.eps, steps: o.steps, seed });
    default: throw new Error(`unknown attack '${String(o.attack)}' (known: ${ATTACKS.join(', ')})`);
  }
}

export async function robustAccuracy(set: ImageSet, o: RobustEvalOptions): Promise<RobustEvalResult> {
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  const evalT = evaluatedTarget(o), atkT = attackedTarget(o);
  const K = evalT.numClasses;
  const cleanPred = new Int32Array(set.n), robustPred = new Int32Array(set.n);
  let cleanCorrect = 0, robustCorrect = 0;
  const t0 = performance.now();
  // Evaluation draws are numbered from a large offset, away from any attack's draw numbers.
  const offset = o.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset % o.batch !== 0) throw new Error(`robustAccuracy: offset ${offset} must be a multiple of the batch ${o.batch}`);
  const evalDraw = (start: number, pass: number): number => 0x40000000 + 2 * (offset + start) + pass;
  for (let start = 0; start < set.n; start += o.batch) {
    const b = Math.min(o.batch, set.n - start);
    const x = set.images.slice(start * per, (start + b) * per);
    const y = set.labels.slice(start, start + b);
    const p0 = predictions(await logitsOf(evalT, x, b, drawSeed(o.seed, evalDraw(start, 0))), K);
    cleanPred.set(p0, start);
    const right = Array.from({ length: b }, (_, i) => i).filter((i) => p0[i] === y[i]);
    cleanCorrect += right.length;
    const pr = Int32Array.from(p0);
    if (o.attack && right.length) {
      // Only the examples the pipeline gets right are attacked (the others already count as errors).
      const xs = new Float32Array(right.length * per), ys = Int32Array.from(right, (i) => y[i]);
      right.forEach((i, j) => xs.set(x.subarray(i * per, (i + 1) * per), j * per));
      const r = await runAttack(o, atkT, xs, ys, drawSeed(o.seed, offset + start));
      const p1 = predictions(await logitsOf(evalT, r.adversarial, right.length, drawSeed(o.seed, evalDraw(start, 1))), K);
      right.forEach((i, j) => { pr[i] = p1[j]; });
    }
    robustPred.set(pr, start);
    for (let i = 0; i < b; i++) if (pr[i] === y[i] && p0[i] === y[i]) robustCorrect++;
    const done = start + b;
    o.onProgress?.(done, set.n, done / ((performance.now() - t0) / 1000));
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    n: set.n, cleanCorrect, robustCorrect,
    cleanAccuracy: set.n ? cleanCorrect / set.n : 0, robustAccuracy: set.n ? robustCorrect / set.n : 0,
    cleanPredictions: cleanPred, robustPredictions: robustPred, imagesPerS: set.n / seconds, seconds,
    attackedModel: o.attack ? atkT.description : undefined,
  };
}
