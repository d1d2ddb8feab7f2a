// What an attack sees: a model from images to logits, possibly random (a purifier draws masks), and
// the loss-gradient oracle the gradient attacks share (EOT: averaged over fresh draws).
//   classifierTarget: the classifier alone (the non-adaptive attack, or an undefended model);
//   purifiedTarget:   purifier then classifier, with the gradient through the purifier either
//                     'exact' (autograd through the unrolled loop, docs/method.md section 5) or 'bpda'
//                     (the purifier's backward taken as the identity, Athalye et al. 2018).
import { Tensor, asyncScope } from '../engine/tensor.js';
import { grad, noGrad } from '../engine/autograd.js';
import { tensor } from '../engine/ops/creation.js';
import { add, div, mul, addScalar, sub } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { crossEntropy } from '../engine/ops/loss.js';
import type { Classifier } from '../models/cnn.js';
import type { ReconstructionModel } from '../purify/loss.js';
import { purify, purifyDifferentiable, type PurifyOptions } from '../purify/amrm.js';

export type PurifierGradient = 'exact' | 'bpda';

export interface AttackTarget {
  readonly numClasses: number;
  /** [C, H, W] of one image. */
  readonly inputShape: readonly [number, number, number];
  /** True when the logits depend on a random draw (EOT has something to average). */
  readonly stochastic: boolean;
  /** A description for reports. */
  readonly description: string;
  /**
   * Logits [B, K] of images x [B, C, H, W], recorded on the tape when x requires a gradient.
   * `draw` fixes the randomness: the same draw gives the same function.
   */
  logits(x: Tensor, draw: number): Promise<Tensor>;
}

export function classifierTarget(c: Classifier): AttackTarget {
  return {
    numClasses: c.numClasses, inputShape: c.inputShape, stochastic: false, description: `${c.arch} (no defense)`,
    logits: async (x) => c.forward(x),
  };
}

export interface Purifier {
  model: ReconstructionModel;
  options: PurifyOptions;
}

/** Mask seed of a draw: distinct per (base seed, draw), so every draw gets fresh masks. */
export function drawSeed(base: number, draw: number): number {
  return (Math.imul(base ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(draw + 1, 0x165667b1)) | 0;
}

export function purifiedTarget(c: Classifier, p: Purifier, gradient: PurifierGradient): AttackTarget {
  const seedOf = (draw: number): PurifyOptions => ({ ...p.options, seed: drawSeed(p.options.seed, draw) });
  return {
    numClasses: c.numClasses, inputShape: c.inputShape, stochastic: true,
    description: `AMRM(${p.model.name}, S ${p.options.steps}) + ${c.arch}, ${gradient} gradient`,
    async logits(x, draw) {
      if (!x.requiresGrad) {
        const r = await purify(p.model, x, seedOf(draw));
        const z = c.forward(r.images);
        r.images.dispose();
        return z;
      }
      if (gradient === 'exact') {
        const r = await purifyDifferentiable(p.model, x, seedOf(draw));
        const z = c.forward(r.images);
        r.images.dispose(); // its node lives on in z's graph
        return z;
      }
      // BPDA: forward through the purifier, backward as if it were the identity: x + (P(x) − x) with
      // the difference a constant.
      const xd = x.detach();
      const r = await purify(p.model, xd, seedOf(draw));
      const delta = noGrad(() => sub(r.images, xd));
      r.images.dispose();
      xd.dispose();
      const xp = add(x, delta);
      delta.dispose();
      const z = c.forward(xp);
      xp.dispose();
      return z;
    },
  };
}

// ---------------------------------------------------------------- losses on logits
export type AttackLoss = 'ce' | 'dlr';

/** Per example: the largest logit other than the label's, and its index. */
function bestOther(z: Float32Array, K: number, b: number, y: number): number {
  let j = -1;
  for (let k = 0; k < K; k++) if (k !== y && (j < 0 || z[b * K + k] > z[b * K + j])) j = k;
  return j;
}

/** z_y − max_{j≠y} z_j per example: negative means misclassified (the Square attack's loss). */
export function margins(z: Float32Array, K: number, y: Int32Array): Float64Array {
  const out = new Float64Array(y.length);
  for (let b = 0; b < y.length; b++) out[b] = z[b * K + y[b]] - z[b * K + bestOther(z, K, b, y[b])];
  return out;
}

export function predictions(z: Float32Array, K: number): Int32Array {
  const B = z.length / K;
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let j = 1; j < K; j++) if (z[b * K + j] > z[b * K + k]) k = j;
    out[b] = k;
  }
  return out;
}

/**
 * Per-example loss tensor [B] on the tape. DLR (Croce & Hein 2020):
 *   −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12), π the logits sorted descending;
 * the indices are read from the host copy of the logits (piecewise constant, so the gradient is the
 * same as through a sort), then the loss is built from one-hot weights.
 */
function lossTensor(z: Tensor, zh: Float32Array, y: Int32Array, loss: AttackLoss): Tensor {
  if (loss === 'ce') return crossEntropy(z, y, 'none');
  const [B, K] = z.shape;
  if (K < 3) throw new Error(`dlr loss: needs at least 3 classes, the model has ${K}`);
  const num = new Float32Array(B * K), den = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    num[b * K + y[b]] -= 1;
    num[b * K + bestOther(zh, K, b, y[b])] += 1;
    const order = Array.from({ length: K }, (_, k) => k).sort((u, v) => zh[b * K + v] - zh[b * K + u]);
    den[b * K + order[0]] += 1;
    den[b * K + order[2]] -= 1;
  }
  const n = sum(mul(z, tensor(num, [B, K])), 1);
  const d = addScalar(sum(mul(z, tensor(den, [B, K])), 1), 1e-12);
  return div(n, d);
}

export interface LossGradient {
  /** Per-example loss, the mean over the draws. */
  loss: Float64Array;
  /** The gradient of the per-example loss with respect to the images, the mean over the draws. */
  grad: Float32Array;
  /** Logits of the last draw. */
  logits: Float32Array;
}

/** A counter of draws, so that each forward pass of an attack gets fresh randomness. */
export interface DrawCounter { next: number; }

/**
 * Loss and gradient at images x (host, [B, C, H, W]) for labels y, averaged over `eot` draws of the
 * target's randomness (EOT; one draw for a deterministic target).
 */
export async function lossAndGradient(target: AttackTarget, x: Float32Array, y: Int32Array, loss: AttackLoss, eot: number, draws: DrawCounter): Promise<LossGradient> {
  const B = y.length, [C, H, W] = target.inputShape;
  const shape = [B, C, H, W];
  const R = target.stochastic ? eot : 1;
  const lossSum = new Float64Array(B), gradSum = new Float64Array(x.length);
  let logits: Float32Array = new Float32Array(0);
  for (let r = 0; r < R; r++) {
    const draw = draws.next++;
    const [lv, gv, zv] = await asyncScope(async () => {
      const xt = tensor(x, shape).requireGrad();
      const z = await target.logits(xt, draw);
      const zh = await z.data();
      const l = lossTensor(z, zh, y, loss);
      const [g] = grad(sum(l), [xt]);
      const out = [await l.data(), await g.data(), zh] as const;
      g.dispose();
      return out;
    });
    for (let b = 0; b < B; b++) lossSum[b] += lv[b];
    for (let i = 0; i < x.length; i++) gradSum[i] += gv[i];
    logits = zv;
  }
  const g = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) g[i] = gradSum[i] / R;
  return { loss: lossSum.map((v) => v / R), grad: g, logits };
}

/** Logits of images x (host) without gradient, one draw. */
export async function logitsOf(target: AttackTarget, x: Float32Array, B: number, draw: number): Promise<Float32Array> {
  const [C, H, W] = target.inputShape;
  return asyncScope(async () => {
    const z = await target.logits(tensor(x, [B, C, H, W]), draw);
    return z.data();
  });
}
