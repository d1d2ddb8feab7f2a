// Threat models on the host: projection onto the eps-ball around the clean image intersected with
// [0, 1], random starts, and the check every attack runs on its output. Images are flat Float32Arrays
// of B examples of `per` values each; the arithmetic is float64, stored as f32.
import type { Rng } from '../engine/random.js';

export type Norm = 'linf' | 'l2';

/** Slack for f32 rounding in the ball check: far below one grey level (1/255 ≈ 3.9e-3). */
export const BALL_TOLERANCE = 1e-6;

/** Largest f32 not above v (f32 rounding must not push a value out of its interval). */
function f32Below(v: number): number {
  const f = Math.fround(v);
  return f <= v ? f : f - Math.max(Math.abs(f) * 2 ** -23, 2 ** -149);
}
function f32Above(v: number): number {
  const f = Math.fround(v);
  return f >= v ? f : f + Math.max(Math.abs(f) * 2 ** -23, 2 ** -149);
}

/** In place: xAdv projected onto {‖xAdv − x‖ ≤ eps} ∩ [0, 1]^d per example (l_2: scale, then clip). */
export function project(xAdv: Float32Array, x: Float32Array, per: number, norm: Norm, eps: number): void {
  const B = x.length / per;
  for (let b = 0; b < B; b++) {
    const o = b * per;
    if (norm === 'linf') {
      for (let i = o; i < o + per; i++) {
        const lo = f32Above(Math.max(x[i] - eps, 0)), hi = f32Below(Math.min(x[i] + eps, 1));
        xAdv[i] = Math.min(Math.max(xAdv[i], lo), hi);
      }
    } else {
      let n2 = 0;
      for (let i = o; i < o + per; i++) n2 += (xAdv[i] - x[i]) ** 2;
      const n = Math.sqrt(n2);
      // A hair inside the ball, so that f32 rounding of x + δ cannot land outside it.
      const scale = n > eps ? (eps * (1 - 1e-6)) / n : 1;
      for (let i = o; i < o + per; i++) xAdv[i] = Math.min(Math.max(x[i] + (xAdv[i] - x[i]) * scale, 0), 1);
    }
  }
}

/** Per-example norm of xAdv − x. */
export function perturbationNorms(xAdv: Float32Array, x: Float32Array, per: number, norm: Norm): Float64Array {
  const B = x.length / per;
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let m = 0;
    for (let i = b * per; i < (b + 1) * per; i++) {
      const d = Math.abs(xAdv[i] - x[i]);
      m = norm === 'linf' ? Math.max(m, d) : m + d * d;
    }
    out[b] = norm === 'linf' ? m : Math.sqrt(m);
  }
  return out;
}

/** Throws, naming the attack and the example, if any perturbation leaves its ball or any value leaves [0, 1]. */
export function assertInBall(who: string, xAdv: Float32Array, x: Float32Array, per: number, norm: Norm, eps: number): void {
  if (xAdv.length !== x.length) throw new Error(`${who}: adversarial images hold ${xAdv.length} values, the clean ones ${x.length}`);
  const norms = perturbationNorms(xAdv, x, per, norm);
  const limit = norm === 'linf' ? eps + BALL_TOLERANCE : eps * (1 + 1e-5) + BALL_TOLERANCE;
  norms.forEach((n, b) => {
    if (!(n <= limit)) throw new Error(`${who}: example ${b} has a ${norm} perturbation of ${n}, outside the ball of radius ${eps}`);
  });
  for (let i = 0; i < xAdv.length; i++) {
    if (!(xAdv[i] >= 0 && xAdv[i] <= 1)) throw new Error(`${who}: example ${Math.floor(i / per)} has value ${xAdv[i]} outside [0, 1] at ${i % per}`);
  }
}

/** A uniform random start in the l_inf ball, or a random direction at a random radius in the l_2 ball; projected. */
export function randomStart(x: Float32Array, per: number, norm: Norm, eps: number, rng: Rng): Float32Array {
  const out = new Float32Array(x.length);
  const B = x.length / per;
  for (let b = 0; b < B; b++) {
    const o = b * per;
    if (norm === 'linf') {
      for (let i = o; i < o + per; i++) out[i] = x[i] + rng.uniform(-eps, eps);
    } else {
      const d = new Float64Array(per);
      let n2 = 0;
      for (let i = 0; i < per; i++) { d[i] = rng.normal(); n2 += d[i] * d[i]; }
      const r = eps * rng.next() / Math.sqrt(n2);
      for (let i = 0; i < per; i++) out[o + i] = x[o + i] + d[i] * r;
    }
  }
  project(out, x, per, norm, eps);
  return out;
}

/** The ascent direction of a gradient in the norm's geometry: sign(g) for l_inf, g/‖g‖₂ for l_2 (per example). */
export function steepest(g: Float32Array, per: number, norm: Norm): Float64Array {
  const out = new Float64Array(g.length);
  const B = g.length / per;
  for (let b = 0; b < B; b++) {
    const o = b * per;
    if (norm === 'linf') for (let i = o; i < o + per; i++) out[i] = Math.sign(g[i]);
    else {
      let n2 = 0;
      for (let i = o; i < o + per; i++) n2 += g[i] * g[i];
      const n = Math.sqrt(n2) + 1e-12;
      for (let i = o; i < o + per; i++) out[i] = g[i] / n;
    }
  }
  return out;
}

/** Parses a radius: a number, or a fraction like '8/255'. */
export function parseEps(s: string): number {
  const m = /^\s*([0-9.]+(?:e-?\d+)?)\s*(?:\/\s*([0-9.]+))?\s*$/.exec(s);
  const v = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  if (!(v >= 0 && Number.isFinite(v))) throw new Error(`eps '${s}' is not a number ≥ 0 or a fraction like 8/255`);
  return v;
}
