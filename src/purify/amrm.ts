// The AMRM purification loop (METHOD.md section 3, the paper's Algorithm 1):
//   x0 = input; for s in 1..S: g = ∇_x mean_m L_rec(x_{s-1}; fresh masks M_s,m)
//                               x_s = clamp01(project_{‖x − x0‖∞ ≤ eta}(x_{s-1} − lambda_s · sign(g)))
//   return x_S (the optimized image, not the model's reconstruction).
// Two modes share one update function, so they produce the same images bit for bit:
// - `purify`: plain, under no-grad, memory flat over the steps;
// - `purifyDifferentiable`: the unrolled loop recorded on the autograd tape, so that an attack gets
//   d x_S / d x0 by backward (METHOD.md section 6). sign(g) enters the tape as a constant: its
//   derivative is zero almost everywhere (the engine's sign backward is zero too), so cutting g off
//   the tape changes no gradient and spares the second-order work of differentiating g.
import { Tensor, asyncScope, keep, scope } from '../engine/tensor.js';
import { grad, noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import { engine } from '../engine/engine.js';
import { copyData } from '../engine/ops/creation.js';
import { addScalar, clamp, maximum, minimum, mulScalar, sign, sub } from '../engine/ops/elementwise.js';
import { concat, reshape } from '../engine/ops/layout.js';
import { fmt } from '../engine/shape.js';
import type { ReconstructionModel } from './loss.js';
import { purifyPreset } from './presets.js';

export interface PurifyOptions {
  /** Update steps S. */
  steps: number;
  /** Step lambda in units of 1/255 (1 = 1/255). */
  stepSize: number;
  /** The "1*" schedule: lambda halves once s > S/2. */
  halve: boolean;
  /** Radius of the l_inf ball around the input, in [0, 1] units (default 16/255); Infinity disables it (never the [0, 1] clamp). */
  eta: number;
  /** Mask ratio rho. */
  maskRatio: number;
  /** Masks per step, their losses averaged (default 1). */
  masks: number;
  /** Seed of the mask draws (default 0): the same seed gives the same purification. */
  seed: number;
}

export type PurifyConfig = PurifyOptions & { preset?: string };

export const DEFAULT_ETA = 16 / 255;

/** A preset by name with overrides, or explicit options; checked. */
export function purifyConfig(preset: string | undefined, overrides: Partial<PurifyOptions> = {}): PurifyConfig {
  const p = preset ? purifyPreset(preset) : undefined;
  const c: PurifyConfig = {
    steps: p?.steps ?? 150, stepSize: p?.stepSize ?? 1, halve: p?.halve ?? false, maskRatio: p?.maskRatio ?? 0.25,
    eta: DEFAULT_ETA, masks: 1, seed: 0, ...stripUndefined(overrides), ...(preset ? { preset } : {}),
  };
  checkOptions(c);
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkOptions(o: PurifyOptions): void {
  const bad = (what: string): never => { throw new Error(`purify: ${what}`); };
  if (!Number.isInteger(o.steps) || o.steps < 0) bad(`steps must be an integer ≥ 0, got ${o.steps}`);
  if (!(o.stepSize >= 0 && Number.isFinite(o.stepSize))) bad(`stepSize must be a finite number ≥ 0 (in 1/255 units), got ${o.stepSize}`);
  if (!(o.eta >= 0)) bad(`eta must be ≥ 0 (Infinity disables the ball), got ${o.eta}`);
  if (!(o.maskRatio >= 0 && o.maskRatio < 1)) bad(`maskRatio must be in [0, 1), got ${o.maskRatio}`);
  if (!Number.isInteger(o.masks) || o.masks < 1) bad(`masks must be a positive integer, got ${o.masks}`);
  if (!Number.isInteger(o.seed)) bad(`seed must be an integer, got ${o.seed}`);
}

/** lambda_s in [0, 1] units for step s (1-based): halved once s > S/2 under the "1*" schedule. */
export function stepSizeAt(o: Pick<PurifyOptions, 'steps' | 'stepSize' | 'halve'>, s: number): number {
  const lam = o.stepSize / 255;
  return o.halve && s > o.steps / 2 ? lam / 2 : lam;
}

export interface PurifyRunOptions {
  /** Called after each step with the step (1-based) and S. */
  onProgress?: (step: number, steps: number) => void;
  /** Also return the loss at x_{s-1} per step (a mean over the batch and the masks). */
  trackLoss?: boolean;
  /** Also return a host copy of x_s after every step (diagnostics, tests: one readback per step). */
  trajectory?: boolean;
}

export interface PurifyResult {
  /** x_S, [B, C, H, W] (the caller owns it). */
  images: Tensor;
  /** Loss per step, when asked for. */
  losses?: Float32Array;
  /** x_1 .. x_S on the host, when asked for. */
  trajectory?: Float32Array[];
  seconds: number;
}

function checkInput(model: ReconstructionModel, x0: Tensor): void {
  const [C, H, W] = model.inputShape;
  if (x0.dtype !== 'f32' || x0.rank !== 4 || x0.shape[1] !== C || x0.shape[2] !== H || x0.shape[3] !== W) {
    throw new Error(`purify: images must be f32 [B, ${C}, ${H}, ${W}] for ${model.name}, got ${x0.dtype} ${fmt(x0.shape)}`);
  }
}

/** One update: clamp01(project_ball(x − lambda·sign(g))); lo/hi = x0 ∓ eta, absent without a ball. */
function update(x: Tensor, g: Tensor, lam: number, lo: Tensor | undefined, hi: Tensor | undefined): Tensor {
  return scope(() => {
    const v = sub(x, mulScalar(sign(g), lam));
    const p = lo && hi ? minimum(maximum(v, lo), hi) : v;
    return clamp(p, 0, 1);
  });
}

/** ∇_x of the mean reconstruction loss at x (x itself is not touched): the gradient, and the loss. */
function lossGradient(model: ReconstructionModel, x: Tensor, o: PurifyOptions, rng: Rng): { g: Tensor; loss: Tensor } {
  return scope(() => {
    const xi = x.detach().requireGrad();
    const loss = model.reconstructionLoss(xi, { maskRatio: o.maskRatio, masks: o.masks, rng });
    const [g] = grad(loss, [xi]);
    // grad hands back a tensor no scope tracks; keep() would too, so return it as owned.
    return { g, loss: loss.detach() };
  });
}

async function run(model: ReconstructionModel, x0: Tensor, options: PurifyOptions, r: PurifyRunOptions, differentiable: boolean): Promise<PurifyResult> {
  checkOptions(options);
  checkInput(model, x0);
  const t0 = performance.now();
  const rng = new Rng(options.seed);
  const losses: Tensor[] = [];
  const trajectory: Float32Array[] = [];
  const rt = engine().runtime;
  const images = await asyncScope(async () => {
    // The ball's bounds: on the tape in the differentiable mode (pixels held by the ball follow x0).
    const bounds = Number.isFinite(options.eta)
      ? (differentiable ? [addScalar(x0, -options.eta), addScalar(x0, options.eta)] : noGrad(() => [addScalar(x0, -options.eta), addScalar(x0, options.eta)]))
      : [undefined, undefined];
    let x = differentiable ? x0 : copyData(x0);
    for (let s = 1; s <= options.steps; s++) {
      const { g, loss } = lossGradient(model, x, options, rng);
      const lam = stepSizeAt(options, s);
      const next = differentiable ? update(x, g, lam, bounds[0], bounds[1]) : noGrad(() => update(x, g, lam, bounds[0], bounds[1]));
      g.dispose();
      if (r.trackLoss) losses.push(keep(loss)); else loss.dispose();
      // In the differentiable mode x_{s-1}'s node stays alive through x_s's; the handle can go.
      if (x !== x0) x.dispose();
      x = next;
      if (r.trajectory) trajectory.push(new Float32Array(await x.data()));
      else await rt.sync(); // keeps the queue short and the progress honest
      r.onProgress?.(s, options.steps);
    }
    if (x !== x0) return x;
    return differentiable ? addScalar(x0, 0) : copyData(x0); // S = 0: the input itself, as a new tensor
  });
  const out: PurifyResult = { images, seconds: 0 };
  if (r.trackLoss) {
    out.losses = losses.length
      ? await asyncScope(async () => new Float32Array(await concat(losses.map((l) => reshape(l, [1])), 0).data()))
      : new Float32Array(0);
    for (const l of losses) l.dispose();
  }
  if (r.trajectory) out.trajectory = trajectory;
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

/**
 * Purifies images x0 [B, C, H, W] (values in [0, 1]) with the AMRM loop. Batched: each image has
 * its own masks, and since the loss is a mean over the batch, sign(g) per image is that image's own.
 */
export function purify(model: ReconstructionModel, x0: Tensor, options: PurifyOptions, r: PurifyRunOptions = {}): Promise<PurifyResult> {
  // Not wrapped in noGrad: that is synchronous and would not cover the awaits, and each step's
  // loss gradient needs the tape. The updates themselves run under noGrad (see run).
  return run(model, x0, options, r, false);
}

/**
 * The same loop recorded on the autograd tape from x0 (which should require a gradient): backward
 * from anything computed from the result reaches x0 through every step's projection and clamp.
 * The tape holds a few image-sized tensors per step until that backward.
 */
export function purifyDifferentiable(model: ReconstructionModel, x0: Tensor, options: PurifyOptions, r: PurifyRunOptions = {}): Promise<PurifyResult> {
  return run(model, x0, options, r, true);
}
