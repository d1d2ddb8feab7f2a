// Robust accuracy: clean accuracy of (purifier +) classifier, then an attack on the examples it got
// right, then the accuracy on the adversarial images, batch by batch. With a purifier, each
// evaluation purifies with fresh masks (a seed apart from every attack draw).
//   adaptive 'exact': the attack's gradients go through the purifier (autograd through the loop);
//   adaptive 'none':  the attack sees the classifier alone (transfer to the defended model);
//   attack 'bpda':    PGD with the purifier's backward taken as the identity.
//   attack 'square':  black box, so 'exact' only means its queries go through the purifier.
// A list of attacks is the worst case per image, as AutoAttack counts it: each attack runs on the
// images every earlier one left standing, and an image counts as robust only if it survives all.
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
  /** Undefined: clean accuracy only; a list: the worst case over the attacks, in order. */
  attack?: AttackName | readonly AttackName[];
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
  /** Keep every image's final adversarial example (the clean image where none was attacked). */
  keepAdversarial?: boolean;
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
  /** Per attack of the list, how many images it broke that the earlier ones had left standing. */
  brokenBy: number[];
  /** With keepAdversarial: [n, C, H, W], each image's adversarial example (the one that broke it, else the last attack's). */
  adversarial?: Float32Array;
}

/** The attacks of an evaluation as a list (empty: clean accuracy only). */
export const attackList = (a: RobustEvalOptions['attack']): AttackName[] => (a === undefined ? [] : typeof a === 'string' ? [a] : [...a]);

/** The model the evaluation scores (purifier draws seeded apart from the attack's). */
function evaluatedTarget(o: RobustEvalOptions): AttackTarget {
  return o.purifier ? purifiedTarget(o.classifier, o.purifier, 'exact') : classifierTarget(o.classifier);
}

function attackedTarget(o: RobustEvalOptions, attack: AttackName): AttackTarget {
  if (!o.purifier) return classifierTarget(o.classifier);
  if (attack === 'bpda') return purifiedTarget(o.classifier, o.purifier, 'bpda');
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

async function runAttack(o: RobustEvalOptions, attack: AttackName, t: AttackTarget, x: Float32Array, y: Int32Array, seed: number): Promise<AttackResult> {
  const common = { norm: o.norm, eps: o.eps, steps: o.steps, eot: o.eot, seed };
  switch (attack) {
    case 'pgd': case 'bpda': return pgd(t, x, y, { ...common, stepSize: o.stepSize, keep: pgdKeep(o) });
    case 'apgd-ce': return apgd(t, x, y, { ...common, loss: 'ce' });
    case 'apgd-dlr': return apgd(t, x, y, { ...common, loss: 'dlr' });
    case 'square':
      if (o.norm !== 'linf') throw new Error('square: only the l_inf version is implemented');
      return square(t, x, y, { eps: o.eps, steps: o.steps, seed });
    default: throw new Error(`unknown attack '${String(attack)}' (known: ${ATTACKS.join(', ')})`);
  }
}

export async function robustAccuracy(set: ImageSet, o: RobustEvalOptions): Promise<RobustEvalResult> {
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  const attacks = attackList(o.attack);
  for (const a of attacks) if (!(ATTACKS as readonly string[]).includes(a)) throw new Error(`unknown attack '${a}' (known: ${ATTACKS.join(', ')})`);
  const evalT = evaluatedTarget(o), atkTs = attacks.map((a) => attackedTarget(o, a));
  const K = evalT.numClasses;
  const cleanPred = new Int32Array(set.n), robustPred = new Int32Array(set.n);
  const brokenBy = attacks.map(() => 0);
  const adversarial = o.keepAdversarial ? Float32Array.from(set.images) : undefined;
  let cleanCorrect = 0, robustCorrect = 0;
  const t0 = performance.now();
  // Evaluation draws are numbered from a large offset, away from any attack's draw numbers; the
  // first attack's draws are those a single-attack run makes, so that its results do not change.
  const offset = o.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset % o.batch !== 0) throw new Error(`robustAccuracy: offset ${offset} must be a multiple of the batch ${o.batch}`);
  const evalDraw = (start: number, pass: number): number =>
    pass < 2 ? 0x40000000 + 2 * (offset + start) + pass : 0x60000000 + 64 * (offset + start) + pass;
  const attackSeed = (k: number, start: number): number => drawSeed(k === 0 ? o.seed : drawSeed(o.seed, -k), offset + start);
  for (let start = 0; start < set.n; start += o.batch) {
    const b = Math.min(o.batch, set.n - start);
    const x = set.images.slice(start * per, (start + b) * per);
    const y = set.labels.slice(start, start + b);
    const p0 = predictions(await logitsOf(evalT, x, b, drawSeed(o.seed, evalDraw(start, 0))), K);
    cleanPred.set(p0, start);
    // Only the examples the pipeline gets right are attacked (the others already count as errors),
    // and each attack of a list only those every earlier one left standing.
    let alive = Array.from({ length: b }, (_, i) => i).filter((i) => p0[i] === y[i]);
    cleanCorrect += alive.length;
    const pr = Int32Array.from(p0);
    for (const [k, attack] of attacks.entries()) {
      if (!alive.length) break;
      const xs = new Float32Array(alive.length * per), ys = Int32Array.from(alive, (i) => y[i]);
      alive.forEach((i, j) => xs.set(x.subarray(i * per, (i + 1) * per), j * per));
      const r = await runAttack(o, attack, atkTs[k], xs, ys, attackSeed(k, start));
      const p1 = predictions(await logitsOf(evalT, r.adversarial, alive.length, drawSeed(o.seed, evalDraw(start, 1 + 2 * k))), K);
      alive.forEach((i, j) => {
        pr[i] = p1[j];
        adversarial?.set(r.adversarial.subarray(j * per, (j + 1) * per), (start + i) * per);
      });
      const standing = alive.filter((i, j) => p1[j] === y[i]);
      brokenBy[k] += alive.length - standing.length;
      alive = standing;
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
    attackedModel: attacks.length ? atkTs.map((t) => t.description).filter((d, i, all) => all.indexOf(d) === i).join('; ') : undefined,
    brokenBy, adversarial,
  };
}
