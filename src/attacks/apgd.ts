// APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks"), following the reference implementation (autoattack/autopgd_base.py):
// step size 2·eps per example, momentum 0.75 (none on the first step), checkpoints at
// p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06) of the iterations (as integer
// gaps: first 0.22·N, then shrinking by 0.03·N down to 0.06·N); at a checkpoint, an example whose loss
// rose in at most 75% of the steps since the last one, or whose step was not halved last time and
// whose best loss did not improve, halves its step and restarts from its best point.
// Loss: 'ce' (APGD-CE) or 'dlr' (APGD-DLR).
import { Rng } from '../engine/random.js';
import { assertInBall, project, randomStart, steepest } from './ball.js';
import { lossAndGradient, predictions, type AttackLoss, type AttackTarget, type DrawCounter } from './target.js';
import type { AttackCommon, AttackResult } from './pgd.js';

export interface ApgdOptions extends AttackCommon {
  loss?: AttackLoss;
  /** Momentum alpha (default 0.75). */
  momentum?: number;
  /** Fraction of loss increases below which a checkpoint halves the step (default 0.75). */
  rho?: number;
}

export async function apgd(target: AttackTarget, x: Float32Array, y: Int32Array, o: ApgdOptions): Promise<AttackResult> {
  const B = y.length, per = x.length / B, N = o.steps;
  if (!Number.isInteger(per) || per !== target.inputShape.reduce((a, b) => a * b, 1)) throw new Error(`apgd: ${x.length} values do not make ${B} images of [${target.inputShape}]`);
  const loss = o.loss ?? 'ce', eot = o.eot ?? 1, alpha = o.momentum ?? 0.75, rho = o.rho ?? 0.75;
  const rng = new Rng(o.seed ?? 0);
  const draws: DrawCounter = { next: ((o.seed ?? 0) * 7919) >>> 0 };
  const nIter2 = Math.max(Math.floor(0.22 * N), 1), nIterMin = Math.max(Math.floor(0.06 * N), 1), sizeDecr = Math.max(Math.floor(0.03 * N), 1);

  let xa: Float32Array = randomStart(x, per, o.norm, o.eps, rng);
  let r = await lossAndGradient(target, xa, y, loss, eot, draws);
  let queries = target.stochastic ? eot : 1;
  let g = r.grad;
  const xBest = Float32Array.from(xa), xBestAdv = Float32Array.from(xa), gBest = Float32Array.from(g);
  const lossBest = Float64Array.from(r.loss);
  const fooled = new Uint8Array(B);
  const markFooled = (z: Float32Array, at: Float32Array): void => {
    const pred = predictions(z, target.numClasses);
    for (let b = 0; b < B; b++) if (pred[b] !== y[b]) { fooled[b] = 1; xBestAdv.set(at.subarray(b * per, (b + 1) * per), b * per); }
  };
  markFooled(r.logits, xa);
  const step = new Float64Array(B).fill(2 * o.eps);
  const lossSteps: Float64Array[] = [];
  let xOld: Float32Array = Float32Array.from(xa);
  let counter = 0, k = nIter2;
  let lossBestLastCheck = Float64Array.from(lossBest);
  let reducedLastCheck = new Uint8Array(B).fill(1);

  for (let i = 0; i < N; i++) {
    const a = i > 0 ? alpha : 1;
    const d = steepest(g, per, o.norm);
    const z1 = new Float32Array(xa.length);
    for (let j = 0; j < xa.length; j++) z1[j] = xa[j] + step[Math.floor(j / per)] * d[j];
    project(z1, x, per, o.norm, o.eps);
    const next = new Float32Array(xa.length);
    for (let j = 0; j < xa.length; j++) next[j] = xa[j] + (z1[j] - xa[j]) * a + (xa[j] - xOld[j]) * (1 - a);
    project(next, x, per, o.norm, o.eps);
    xOld = xa;
    xa = next;

    r = await lossAndGradient(target, xa, y, loss, eot, draws);
    queries += target.stochastic ? eot : 1;
    g = r.grad;
    markFooled(r.logits, xa);
    lossSteps.push(r.loss);
    for (let b = 0; b < B; b++) {
      if (r.loss[b] > lossBest[b]) {
        lossBest[b] = r.loss[b];
        xBest.set(xa.subarray(b * per, (b + 1) * per), b * per);
        gBest.set(g.subarray(b * per, (b + 1) * per), b * per);
      }
    }
    if (++counter === k) {
      const reduce = new Uint8Array(B);
      for (let b = 0; b < B; b++) {
        // Increases of the loss over the last k steps (the reference compares the first of them with
        // a zero-initialized entry when the window reaches before step 0).
        let ups = 0;
        for (let c = 0; c < k; c++) {
          const cur = lossSteps[i - c][b];
          const prev = i - c - 1 >= 0 ? lossSteps[i - c - 1][b] : 0;
          if (cur > prev) ups++;
        }
        const oscillating = ups <= k * rho;
        const stalled = !reducedLastCheck[b] && lossBestLastCheck[b] >= lossBest[b];
        reduce[b] = oscillating || stalled ? 1 : 0;
      }
      reducedLastCheck = reduce;
      lossBestLastCheck = Float64Array.from(lossBest);
      for (let b = 0; b < B; b++) {
        if (!reduce[b]) continue;
        step[b] /= 2;
        xa.set(xBest.subarray(b * per, (b + 1) * per), b * per);
        g.set(gBest.subarray(b * per, (b + 1) * per), b * per);
      }
      counter = 0;
      k = Math.max(k - sizeDecr, nIterMin);
    }
    o.onProgress?.(i + 1, N);
  }
  // Fooled examples: the fooling point; the others: the point of highest loss.
  const out = Float32Array.from(xBest);
  for (let b = 0; b < B; b++) if (fooled[b]) out.set(xBestAdv.subarray(b * per, (b + 1) * per), b * per);
  assertInBall(`apgd-${loss}`, out, x, per, o.norm, o.eps);
  return { adversarial: out, fooled, queries };
}
