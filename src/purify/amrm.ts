// The AMRM purification loop (docs/method.md section 2, the paper's Algorithm 1):
//   x0 = input; for s in 1..S: g = ∇_x mean_m L_rec(x_{s-1}; fresh masks M_s,m)
//                               x_s = clamp01(project_{‖x − x0‖∞ ≤ eta}(x_{s-1} − lambda_s · sign(g)))
//   return x_S (the optimized image, not the model's reconstruction).
// The modes produce the same images bit for bit:
// - `purify`: plain, under no-grad, memory flat over the steps; the update is one kernel
//   (purifyStep, the same arithmetic as the composed ops);
// - `purifyDifferentiable`: x_S on the autograd tape, so that an attack gets d x_S / d x0 by backward
//   (docs/method.md section 5). sign(g) has zero derivative almost everywhere (the engine's sign backward
//   is zero too), so d x_S / d x0 is diagonal, a product of the ball's and the clamp's Jacobians
//   along the steps. Two routes to it:
//   'closed-form' (default): the plain loop carries that diagonal along (purifyStepJacobian), and
//     x_S enters the tape as one node whose backward multiplies by it: no tape over the steps, memory
//     flat in S;
//   'tape': the unrolled loop of composed ops recorded on the tape (g cut off it), the reference
//     the closed form is tested against.
import { Tensor, asyncScope, keep, scope } from '../engine/tensor.js';
import { grad, noGrad, record } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import { sync } from '../engine/engine.js';
import { copyData, fill } from '../engine/ops/creation.js';
import { purifyStep, purifyStepJacobian } from '../engine/ops/purify_step.js';
import { addScalar, clamp, maximum, minimum, mul, mulScalar, sign, sqrt, sub } from '../engine/ops/elementwise.js';
import { concat, reshape } from '../engine/ops/layout.js';
import { fmt } from '../engine/shape.js';
import type { AttentionMaps, ReconstructionModel } from './loss.js';
import { mean } from '../engine/ops/reduce.js';
import { amvLoss } from '../engine/ops/softmax_jacobian.js';
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
    eta: p?.eta ?? DEFAULT_ETA, masks: p?.masks ?? 1, seed: 0, ...stripUndefined(overrides), ...(preset ? { preset } : {}),
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
  /**
   * Also return the attention variation (AMV) of x_0 … x_S from a reference, per layer (see
   * PurifyResult.amv); needs a model with attentionMaps. One extra forward pass per step.
   */
  trackAmv?: boolean;
  /** The AMV's reference images, [B, C, H, W] like x0 (default x0 itself; the clean images show an attack being undone). */
  amvReference?: Tensor;
  /**
   * Called after each step with x_s and the loss at x_{s-1} (both the loop's own: read them, do not
   * dispose them), and with trackAmv x_s's AMV per layer; the loop waits for it (a page repaints there).
   */
  onStep?: (s: { step: number; steps: number; x: Tensor; loss: Tensor; amv?: { encoder: number[]; decoder: number[] } }) => void | Promise<void>;
}

/**
 * AMV per step s = 0 … S (s = 0 is the input) and per layer: ‖A(x_s) − A(ref)‖_F averaged over
 * heads and images (docs/method.md section 1), both maps taken under one probe mask, drawn once from a
 * generator of its own so that the purification's masks are the same with or without tracking.
 */
export interface AmvTrajectory { encoder: number[][]; decoder: number[][]; }

export interface PurifyResult {
  /** x_S, [B, C, H, W] (the caller owns it). */
  images: Tensor;
  /** Loss per step, when asked for. */
  losses?: Float32Array;
  /** x_1 .. x_S on the host, when asked for. */
  trajectory?: Float32Array[];
  /** The AMV trajectory, when asked for. */
  amv?: AmvTrajectory;
  seconds: number;
}

function checkInput(model: ReconstructionModel, x0: Tensor): void {
  const [C, H, W] = model.inputShape;
  if (x0.dtype !== 'f32' || x0.rank !== 4 || x0.shape[1] !== C || x0.shape[2] !== H || x0.shape[3] !== W) {
    throw new Error(`purify: images must be f32 [B, ${C}, ${H}, ${W}] for ${model.name}, got ${x0.dtype} ${fmt(x0.shape)}`);
  }
}

/** One update on the tape, composed: clamp01(project_ball(x − lambda·sign(g))); lo/hi = x0 ∓ eta, absent without a ball. */
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

/** Mean over heads and images of the per-map Frobenius norm ‖a − ref‖_F, one scalar per layer, [layers]. */
function amvPerLayer(maps: Tensor[], ref: Tensor[]): Tensor {
  return scope(() => concat(maps.map((a, i) => reshape(mean(sqrt(amvLoss(a, ref[i]))), [1])), 0));
}

/** Reads the per-layer AMV of x against the reference maps (host numbers, encoder then decoder). */
async function measureAmv(model: ReconstructionModel, x: Tensor, ref: AttentionMaps, probe: { maskRatio: number; seed: number }): Promise<[number[], number[]]> {
  return asyncScope(async () => {
    const maps = model.attentionMaps!(x, probe);
    const read = async (a: Tensor[], b: Tensor[]): Promise<number[]> => (a.length ? [...await amvPerLayer(a, b).data()] : []);
    return [await read(maps.encoder, ref.encoder), await read(maps.decoder, ref.decoder)];
  });
}

/** A seed for the AMV probe mask, apart from the loop's own mask stream (which starts at `seed`). */
export const AMV_PROBE_SEED_OFFSET = 0x414d56;

/** How run() treats the gradient: none, the loop on the tape, or the diagonal Jacobian carried along. */
type Mode = 'plain' | 'tape' | 'jacobian';

/**
 * Purifications run one at a time, in the order they were asked for: the engine's tensor scopes
 * are one stack, so two loops interleaving their awaits would tangle them. A second purify() called
 * while one runs waits for it.
 */
let running: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const next = running.then(fn, fn);
  running = next.catch(() => undefined);
  return next;
}

function run(model: ReconstructionModel, x0: Tensor, options: PurifyOptions, r: PurifyRunOptions, mode: Mode): Promise<PurifyResult & { jacobian?: Tensor }> {
  return oneAtATime(() => runLoop(model, x0, options, r, mode));
}

async function runLoop(model: ReconstructionModel, x0: Tensor, options: PurifyOptions, r: PurifyRunOptions, mode: Mode): Promise<PurifyResult & { jacobian?: Tensor }> {
  const differentiable = mode === 'tape';
  checkOptions(options);
  checkInput(model, x0);
  if (r.trackAmv && !model.attentionMaps) throw new Error(`purify: trackAmv needs a model with attention maps, ${model.name} has none`);
  if (r.amvReference && r.amvReference.shape.join() !== x0.shape.join()) {
    throw new Error(`purify: amvReference must have the input's shape ${fmt(x0.shape)}, got ${fmt(r.amvReference.shape)}`);
  }
  const amv: AmvTrajectory = { encoder: [], decoder: [] };
  const probe = { maskRatio: options.maskRatio, seed: options.seed + AMV_PROBE_SEED_OFFSET };
  const trackAmv = async (x: Tensor, ref: AttentionMaps): Promise<void> => {
    const [e, d] = await measureAmv(model, x, ref, probe);
    amv.encoder.push(e);
    amv.decoder.push(d);
  };
  const t0 = performance.now();
  const rng = new Rng(options.seed);
  const losses: Tensor[] = [];
  const trajectory: Float32Array[] = [];
  // d x_s / d x0, carried along in the 'jacobian' mode.
  const jac = mode === 'jacobian' ? noGrad(() => fill(x0.shape, 1)) : undefined;
  const run = (): Promise<Tensor> => asyncScope(async () => {
    // The composed update's ball bounds, on the tape (pixels held by the ball follow x0).
    const bounds = differentiable && Number.isFinite(options.eta) ? [addScalar(x0, -options.eta), addScalar(x0, options.eta)] : [undefined, undefined];
    let x = differentiable ? x0 : copyData(x0);
    const refMaps = r.trackAmv ? model.attentionMaps!(r.amvReference ?? x0, probe) : undefined;
    if (refMaps) await trackAmv(x, refMaps);
    for (let s = 1; s <= options.steps; s++) {
      const { g, loss } = lossGradient(model, x, options, rng);
      const lam = stepSizeAt(options, s);
      if (jac) purifyStepJacobian(jac, x, g, x0, lam, options.eta);
      const next = differentiable ? update(x, g, lam, bounds[0], bounds[1]) : purifyStep(x, g, x0, lam, options.eta);
      g.dispose();
      if (refMaps) await trackAmv(next, refMaps);
      if (r.onStep) {
        await r.onStep({ step: s, steps: options.steps, x: next, loss, ...(refMaps ? { amv: { encoder: amv.encoder[s], decoder: amv.decoder[s] } } : {}) });
      }
      if (r.trackLoss) losses.push(keep(loss)); else loss.dispose();
      // In the differentiable mode x_{s-1}'s node stays alive through x_s's; the handle can go.
      if (x !== x0) x.dispose();
      x = next;
      if (r.trajectory) trajectory.push(new Float32Array(await x.data()));
      if (!r.trajectory && !refMaps) await sync(); // keeps the queue short and the progress honest
      r.onProgress?.(s, options.steps);
    }
    if (x !== x0) return x;
    return differentiable ? addScalar(x0, 0) : copyData(x0); // S = 0: the input itself, as a new tensor
  });
  // The weights stay as they are for the whole loop: a model may prepare what depends on them alone once.
  const loop = model.frozen ? model.frozen(run) : run();
  let images: Tensor;
  try { images = await loop; } catch (e) { jac?.dispose(); throw e; }
  const out: PurifyResult & { jacobian?: Tensor } = { images, seconds: 0 };
  if (jac) out.jacobian = jac;
  if (r.trackLoss) {
    out.losses = losses.length
      ? await asyncScope(async () => new Float32Array(await concat(losses.map((l) => reshape(l, [1])), 0).data()))
      : new Float32Array(0);
    for (const l of losses) l.dispose();
  }
  if (r.trajectory) out.trajectory = trajectory;
  if (r.trackAmv) out.amv = amv;
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

/**
 * Purifies images x0 [B, C, H, W] (values in [0, 1]) with the AMRM loop. Batched: each image has
 * its own masks, and since the loss is a mean over the batch, sign(g) per image is that image's own.
 * Calls made while another purification runs wait their turn (one at a time).
 */
export function purify(model: ReconstructionModel, x0: Tensor, options: PurifyOptions, r: PurifyRunOptions = {}): Promise<PurifyResult> {
  // Not wrapped in noGrad: that is synchronous and would not cover the awaits, and each step's
  // loss gradient needs the tape. The update kernel records nothing.
  return run(model, x0, options, r, 'plain');
}

/** How purifyDifferentiable gets d x_S / d x0: the Jacobian carried along the plain loop, or the loop on the tape. */
export type PurifyGradientRoute = 'closed-form' | 'tape';

/**
 * The loop with x_S on the autograd tape from x0 (which should require a gradient): backward from
 * anything computed from the result reaches x0 through every step's projection and clamp. The
 * closed-form route (default) keeps one image-sized diagonal whatever S is; the tape route holds a
 * few image-sized tensors per step until that backward. Both give the same images and gradients.
 */
export async function purifyDifferentiable(model: ReconstructionModel, x0: Tensor, options: PurifyOptions, r: PurifyRunOptions = {},
  route: PurifyGradientRoute = 'closed-form'): Promise<PurifyResult> {
  if (route === 'tape') return run(model, x0, options, r, 'tape');
  if (route !== 'closed-form') throw new Error(`purify: unknown gradient route '${route}' (closed-form or tape)`);
  const xd = x0.detach();
  let res: PurifyResult & { jacobian?: Tensor };
  try { res = await run(model, xd, options, r, 'jacobian'); } finally { xd.dispose(); }
  const { jacobian, ...rest } = res;
  // One node: x_S's gradient times the diagonal d x_S / d x0 (the node keeps its own handle).
  const images = record('purify', rest.images, [x0], [jacobian!], (gy, [j]) => [mul(gy, j)]);
  jacobian!.dispose();
  return { ...rest, images };
}
