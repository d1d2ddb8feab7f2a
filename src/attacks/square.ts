// Square attack, l_inf (Andriushchenko et al. 2020), score-based black box: following the reference
// (square.py): vertical-stripe initialization at ±eps, then per iteration a random square window whose
// perturbation is resampled to ±eps per channel; a candidate is kept when it lowers the margin loss
// z_y − max_{j≠y} z_j. The window side shrinks with the schedule of p (the fraction of pixels changed),
// halving at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10000 rescaled iterations.
// Examples stop being queried once misclassified.
import { Rng } from '../engine/random.js';
import { assertInBall } from './ball.js';
import { logitsOf, margins, type AttackTarget } from './target.js';
import type { AttackResult } from './pgd.js';

export interface SquareOptions {
  eps: number;
  /** Query budget per example (iterations after the initialization). */
  steps: number;
  /** Initial fraction of pixels in the window (default 0.8, the reference's l_inf setting). */
  pInit?: number;
  seed?: number;
  onProgress?: (step: number, steps: number) => void;
}

export function squareP(pInit: number, it: number, steps: number): number {
  const i = Math.floor((it / Math.max(steps, 1)) * 10000);
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let p = pInit;
  for (const c of cuts) if (i > c) p /= 2;
  return p;
}

export async function square(target: AttackTarget, x: Float32Array, y: Int32Array, o: SquareOptions): Promise<AttackResult> {
  const [C, H, W] = target.inputShape;
  const B = y.length, per = C * H * W, eps = o.eps;
  if (x.length !== B * per) throw new Error(`square: ${x.length} values do not make ${B} images of [${target.inputShape}]`);
  const rng = new Rng(o.seed ?? 0);
  let draw = ((o.seed ?? 0) * 7919) >>> 0;
  const pm = (): number => (rng.next() < 0.5 ? -1 : 1);
  const clip = (v: number, i: number): number => Math.min(Math.max(Math.min(Math.max(v, x[i] - eps), x[i] + eps), 0), 1);
  // Initialization: one ±eps value per (example, channel, column).
  const best = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let w = 0; w < W; w++) {
        const v = eps * pm();
        for (let h = 0; h < H; h++) { const i = b * per + (c * H + h) * W + w; best[i] = clip(x[i] + v, i); }
      }
    }
  }
  const margin = margins(await logitsOf(target, best, B, draw++), target.numClasses, y);
  let queries = 1;
  for (let it = 0; it < o.steps; it++) {
    const active = Array.from({ length: B }, (_, b) => b).filter((b) => margin[b] > 0);
    if (active.length === 0) break;
    const p = squareP(o.pInit ?? 0.8, it, o.steps);
    const s = Math.min(Math.max(Math.round(Math.sqrt(p * H * W)), 1), H - 1);
    // One window for the iteration (as the reference), its values drawn per example and channel.
    const vh = rng.int(H - s + 1), vw = rng.int(W - s + 1);
    const cand = new Float32Array(active.length * per);
    active.forEach((b, a) => {
      cand.set(best.subarray(b * per, (b + 1) * per), a * per);
      for (let c = 0; c < C; c++) {
        const v = 2 * eps * pm();
        for (let h = vh; h < vh + s; h++) {
          for (let w = vw; w < vw + s; w++) {
            const k = (c * H + h) * W + w;
            cand[a * per + k] = clip(best[b * per + k] + v, b * per + k);
          }
        }
      }
    });
    const m = margins(await logitsOf(target, cand, active.length, draw++), target.numClasses, Int32Array.from(active, (b) => y[b]));
    queries++;
    active.forEach((b, a) => {
      if (m[a] < margin[b] || m[a] <= 0) {
        margin[b] = m[a];
        best.set(cand.subarray(a * per, (a + 1) * per), b * per);
      }
    });
    o.onProgress?.(it + 1, o.steps);
  }
  assertInBall('square', best, x, per, 'linf', eps);
  return { adversarial: best, fooled: Uint8Array.from(margin, (v) => (v <= 0 ? 1 : 0)), queries };
}
