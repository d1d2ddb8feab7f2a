// Projected gradient descent on the loss (Madry et al. 2018), l_inf or l_2, with a random start, a
// fixed step or a step schedule, and EOT gradients for a random target.
import { Rng } from '../engine/random.js';
import { assertInBall, project, randomStart, steepest, type Norm } from './ball.js';
import { lossAndGradient, logitsOf, predictions, type AttackLoss, type AttackTarget, type DrawCounter } from './target.js';

export type StepSchedule = 'constant' | 'cosine' | ((k: number, steps: number) => number);

export interface AttackCommon {
  norm: Norm;
  eps: number;
  steps: number;
  /** Gradients averaged over this many draws of a random target (EOT; default 1). */
  eot?: number;
  /** Seed of the random start and the draws (default 0). */
  seed?: number;
  /** Called after each iteration. */
  onProgress?: (step: number, steps: number) => void;
}

export interface PgdOptions extends AttackCommon {
  /** Step size in the norm's units (default 2.5·eps/steps). */
  stepSize?: number;
  /** How the step varies over iterations: constant (default), cosine decay, or a function of (k, steps) giving a multiplier. */
  schedule?: StepSchedule;
  randomStart?: boolean;
  loss?: AttackLoss;
  /**
   * Which iterate each example returns: the 'first' that fools the target, or the 'last' one.
   * Default: 'first' for a deterministic target (the strongest point against that model), 'last' for
   * a random one. A transfer attack wants 'last': a point just across the classifier's boundary is
   * the easiest for a purifier to bring back.
   */
  keep?: 'first' | 'last';
  /**
   * Query the target once more at the last iterate (default true), for `fooled`. Robust training
   * skips it (one purification fewer per batch); `fooled` then holds the last check made, at the
   * iterate before the final step.
   */
  checkLast?: boolean;
}

export interface AttackResult {
  /** The adversarial images (host, same layout as the clean ones), checked to lie in the ball and [0, 1]. */
  adversarial: Float32Array;
  /** Per example: misclassified by the attack's own last check (one draw for a random target). */
  fooled: Uint8Array;
  /** Forward passes per example (queries). */
  queries: number;
}

export function scheduleFactor(s: StepSchedule, k: number, steps: number): number {
  if (s === 'constant') return 1;
  if (s === 'cosine') return 0.5 * (1 + Math.cos((Math.PI * k) / Math.max(steps, 1)));
  return s(k, steps);
}

/**
 * PGD. By default, for a deterministic target each example keeps the first iterate that fools it; for
 * a random one (a purifier) the last iterate is returned, as in PGD+EOT evaluations of purification
 * defenses (see `keep`).
 */
export async function pgd(target: AttackTarget, x: Float32Array, y: Int32Array, o: PgdOptions): Promise<AttackResult> {
  const B = y.length, per = x.length / B;
  if (!Number.isInteger(per) || per !== target.inputShape.reduce((a, b) => a * b, 1)) throw new Error(`pgd: ${x.length} values do not make ${B} images of [${target.inputShape}]`);
  const rng = new Rng(o.seed ?? 0);
  const draws: DrawCounter = { next: ((o.seed ?? 0) * 7919) >>> 0 };
  const alpha = o.stepSize ?? (2.5 * o.eps) / Math.max(o.steps, 1);
  const schedule = o.schedule ?? 'constant';
  const keepFirst = (o.keep ?? (target.stochastic ? 'last' : 'first')) === 'first';
  let xa: Float32Array = o.randomStart === false ? Float32Array.from(x) : randomStart(x, per, o.norm, o.eps, rng);
  const best = Float32Array.from(xa);
  const fooled = new Uint8Array(B);
  let queries = 0;
  for (let k = 0; k < o.steps; k++) {
    const r = await lossAndGradient(target, xa, y, o.loss ?? 'ce', o.eot ?? 1, draws);
    queries += target.stochastic ? (o.eot ?? 1) : 1;
    const pred = predictions(r.logits, target.numClasses);
    for (let b = 0; b < B; b++) {
      if (keepFirst && fooled[b]) continue;
      if (pred[b] !== y[b]) {
        fooled[b] = 1;
        if (keepFirst) best.set(xa.subarray(b * per, (b + 1) * per), b * per);
      } else if (!keepFirst) fooled[b] = 0;
    }
    const a = alpha * scheduleFactor(schedule, k, o.steps);
    const d = steepest(r.grad, per, o.norm);
    const next = new Float32Array(xa.length);
    for (let i = 0; i < xa.length; i++) next[i] = xa[i] + a * d[i];
    project(next, x, per, o.norm, o.eps);
    xa = next;
    o.onProgress?.(k + 1, o.steps);
  }
  if (o.checkLast === false && !keepFirst) {
    assertInBall('pgd', xa, x, per, o.norm, o.eps);
    return { adversarial: xa, fooled, queries };
  }
  // The last iterate, checked once more.
  const z = await logitsOf(target, xa, B, draws.next++);
  queries++;
  const pred = predictions(z, target.numClasses);
  for (let b = 0; b < B; b++) {
    if (keepFirst && fooled[b]) continue;
    fooled[b] = pred[b] !== y[b] ? 1 : 0;
    best.set(xa.subarray(b * per, (b + 1) * per), b * per);
  }
  assertInBall('pgd', best, x, per, o.norm, o.eps);
  return { adversarial: best, fooled, queries };
}
