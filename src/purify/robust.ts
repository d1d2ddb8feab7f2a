// Robust fine-tuning of a purifier (RAMRM, docs/method.md section 5): per training batch,
//   Stage I:  x_adv = PGD on the whole pipeline (purifier, then the frozen classifier), with exact
//             gradients through the purification, from the images plus Gaussian noise;
//   Stage II: θ ← θ − lr·∇_θ [ CE(classifier(surrogate_θ(x_adv)), y) + w · the model's own training loss ].
// The purified image x_S does not depend on θ to first order (the loop moves x by sign(g), whose
// derivative is zero), so θ learns through a surrogate of the purifier's output:
//   'paste' (default): the model's picture of every patch, each predicted once from complementary
//     masks: the MAE's prediction of the patches a mask hides (one pass per group of hidden
//     patches), MaskDiT's denoised output D(2x − 1 + n; σ_pur) of the patches a mask keeps;
//   'unrolled': a few steps of the purification loop with sign() smoothed to tanh,
//     x_{s} = clamp01(x_{s−1} − λ·tanh(g_s / (τ·rms g_s))), g_s = ∇_x L_rec(x_{s−1}; θ), differentiated
//     through g_s by second-order autograd (θ's effect on each step's gradient, and on the iterates).
import { Tensor, keep, scope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { add, addScalar, affine, clamp, div, mul, mulScalar, sqrt, sub, tanh } from '../engine/ops/elementwise.js';
import { sum } from '../engine/ops/reduce.js';
import { reshape } from '../engine/ops/layout.js';
import { differentiableTwice, grad } from '../engine/autograd.js';
import { crossEntropy } from '../engine/ops/loss.js';
import { destandardizePatches, unpatchify } from '../engine/ops/patch.js';
import { Rng } from '../engine/random.js';
import type { MAE } from '../models/mae.js';
import { diffusionNoise, toModelRange, type MaskDiT } from '../models/maskdit.js';
import type { Classifier } from '../models/cnn.js';
import { mixSeed, type Batch } from '../train/loader.js';
import type { TrainTask } from '../train/trainer.js';
import { pgd } from '../attacks/pgd.js';
import { purifiedTarget } from '../attacks/target.js';
import type { ReconstructionModel } from './loss.js';
import type { PurifyOptions } from './amrm.js';

export const SURROGATES = ['paste', 'unrolled'] as const;
export type Surrogate = typeof SURROGATES[number];

/** The purifier's model as the surrogate needs it (MaskDiT at its σ_pur). */
export type SurrogateModel = { family: 'mae'; mae: MAE } | { family: 'maskdit'; maskdit: MaskDiT; sigma: number };

/**
 * K masks [B, L] (1 = hidden) that split each image's patches into K groups of near-equal size at
 * random: mask k hides group k. Each patch is hidden by exactly one mask.
 */
export function complementaryMasks(B: number, L: number, K: number, rng: Rng): Float32Array[] {
  if (!Number.isInteger(K) || K < 2 || K > L) throw new Error(`complementaryMasks: K ${K} must be an integer in [2, ${L}]`);
  const masks = Array.from({ length: K }, () => new Float32Array(B * L));
  for (let b = 0; b < B; b++) {
    const perm = rng.permutation(L);
    for (let i = 0; i < L; i++) masks[(i * K / L) | 0][b * L + perm[i]] = 1;
  }
  return masks;
}

/** Groups of the paste surrogate: one per 1/ρ of the patches (MAE: hidden ρ; MaskDiT: kept 1 − ρ), at least 2. */
export const pasteGroups = (family: SurrogateModel['family'], maskRatio: number): number =>
  Math.max(2, Math.round(1 / (family === 'mae' ? maskRatio : 1 - maskRatio)));

/**
 * The paste surrogate of x [B, C, H, W] in [0, 1], on the tape (θ and x get gradients): every patch
 * as the model predicts it under complementary masks, as an image clamped to [0, 1].
 */
export function pasteSurrogate(m: SurrogateModel, x: Tensor, maskRatio: number, rng: Rng): Tensor {
  return scope(() => {
    const B = x.shape[0];
    if (m.family === 'mae') {
      const { mae } = m, c = mae.config;
      const picture = pastePatches(B, mae.numPatches, pasteGroups('mae', maskRatio), rng, (kept) => {
        // The MAE's mask is the hidden set, the patches it predicts.
        const pred = mae.forward(x, { mask: kept }).pred;
        return c.normPixLoss ? destandardizePatches(pred, x, c.patchSize) : pred;
      });
      return clamp(unpatchify(picture, c.patchSize, c.inChans, c.imgSize[0], c.imgSize[1]), 0, 1);
    }
    const { maskdit, sigma } = m, c = maskdit.config, L = (c.imgSize[0] / c.patchSize) * (c.imgSize[1] / c.patchSize);
    const per = c.inChans * c.imgSize[0] * c.imgSize[1];
    const noisy = add(toModelRange(x), tensor(diffusionNoise(rng, Array<number>(B).fill(sigma), per), x.shape));
    // MaskDiT denoises the patches it sees: its mask hides the others.
    const picture = pastePatches(B, L, pasteGroups('maskdit', maskRatio), rng,
      (kept) => maskdit.denoisePatches(noisy, { sigma, mask: kept.map((v) => 1 - v) }).patches);
    return clamp(affine(unpatchify(picture, c.patchSize, c.inChans, c.imgSize[0], c.imgSize[1]), 0.5, 0.5), 0, 1);
  });
}

/**
 * Σ over the complementary masks of predict(kept) ⊙ kept: every patch [B, L, P] taken from the one
 * pass whose mask `kept` ([B·L], 1 = this pass's patch) selects it.
 */
function pastePatches(B: number, L: number, groups: number, rng: Rng, predict: (kept: Float32Array) => Tensor): Tensor {
  let picture: Tensor | undefined;
  for (const kept of complementaryMasks(B, L, groups, rng)) {
    const part = mul(predict(kept), tensor(kept, [B, L, 1]));
    picture = picture ? add(picture, part) : part;
  }
  return picture!;
}

/** The unrolled surrogate's loop (project choices, named options of `amrm train robust`). */
export interface UnrolledOptions {
  /** Steps of the smoothed loop (default 3). */
  steps: number;
  /** Step λ in [0, 1] units (default the preset's step). */
  stepSize: number;
  /** tanh's temperature in units of the step's RMS gradient per image (default 0.5: sign-like where |g| is above half its RMS). */
  tau: number;
  maskRatio: number;
}

/**
 * The unrolled surrogate of x [B, C, H, W] (a constant) on the tape: every step's gradient is
 * recorded (createGraph), so the output depends on θ through all of them.
 */
export function unrolledSurrogate(recon: ReconstructionModel, x: Tensor, o: UnrolledOptions, rng: Rng): Tensor {
  return differentiableTwice(() => scope(() => {
    const B = x.shape[0], per = x.size / B;
    let xs = x.requiresGrad ? x : x.detach().requireGrad(); // an x on the tape stays on it
    for (let s = 0; s < o.steps; s++) {
      const loss = recon.reconstructionLoss(xs, { maskRatio: o.maskRatio, masks: 1, rng });
      const [g] = grad(loss, [xs], undefined, { createGraph: true });
      // Per image, g's root mean square: tanh(g / (τ·rms g)) is sign(g) where |g| ≫ τ·rms, smooth
      // below. (The RMS rather than mean |g|: smooth in g, so its own derivative has no kink at 0.)
      const rms = sqrt(addScalar(mulScalar(sum(reshape(mul(g, g), [B, per]), -1, true), 1 / per), 1e-30));
      const scaleB = reshape(mulScalar(rms, o.tau), [B, 1, 1, 1]);
      xs = clamp(sub(xs, mulScalar(tanh(div(g, scaleB)), o.stepSize)), 0, 1);
    }
    return xs;
  }));
}

export interface RobustOptions {
  seed: number;
  /** The purification the Stage I attack goes through (the preset's loop). */
  purify: PurifyOptions;
  /** Stage I: l_inf PGD with exact gradients through the purifier. */
  eps: number;
  attackSteps: number;
  /** Step size (default 2.5·eps/steps). */
  attackStepSize?: number;
  /** σ of the Gaussian noise added to the images before the attack ([0, 1] units; 0 for none). */
  noise: number;
  /** Weight of the model's own training loss (default 1). */
  recWeight: number;
  surrogate: Surrogate;
  /** The unrolled surrogate's loop (surrogate 'unrolled'). */
  unrolled?: Omit<UnrolledOptions, 'maskRatio'>;
  /**
   * Where Stage I's results go when they are attacked once and reused (`amrm train robust
   * --adversarial cache`): the first epoch attacks every batch and stores it by its index in the
   * epoch; later epochs train on the stored batch of the same index (its adversarial images and
   * labels; the training-loss term takes the epoch's own clean batch) without attacking. Absent:
   * every batch is attacked afresh, every epoch, against the weights of that moment.
   */
  adversarialStore?: AdversarialStore;
}

/** One attacked batch as Stage I left it. */
export interface AdversarialBatch { images: Float32Array; labels: Int32Array; shape: [number, number, number, number]; fooled: number; }

/** Attacked batches by their index in an epoch (a run folder keeps them on disk, so a resume finds them). */
export interface AdversarialStore {
  get(index: number): AdversarialBatch | undefined;
  set(index: number, batch: AdversarialBatch): void;
}

/**
 * The terms of the last step, for the log: the surrogate's cross-entropy, and the fraction of the
 * batch the attack had fooled at its last check (the iterate before its final step).
 */
export interface RobustTerms { ce: number; attack_fooled: number; }

/**
 * The fine-tuning as a TrainTask: `base` is the model's own training task (its loss on the clean
 * batch is the second term), `model` what the surrogate runs, `recon` what the attack purifies with
 * (the same weights), `classifier` frozen.
 */
export function robustTask(base: TrainTask, model: SurrogateModel, recon: ReconstructionModel, classifier: Classifier, o: RobustOptions): TrainTask & { lastTerms(): Promise<RobustTerms> } {
  if (!(o.recWeight >= 0)) throw new Error(`robust: the training-loss weight ${o.recWeight} must be ≥ 0`);
  if (!(o.eps > 0)) throw new Error(`robust: eps ${o.eps} must be positive`);
  let adversarial: AdversarialBatch | undefined;
  let fooled = 0;
  let ce: Tensor | undefined;
  /** Stage I: the batch plus noise, attacked; the attack's draws (masks, noise, start) follow the step. */
  const attack = async (b: Batch, step: number): Promise<void> => {
    const rng = new Rng(mixSeed(o.seed, step, 5));
    const start = o.noise > 0 ? b.images.map((v) => Math.min(1, Math.max(0, v + o.noise * rng.normal()))) : b.images;
    // The purification's masks (and MaskDiT's noise) are drawn afresh for every step too.
    const target = purifiedTarget(classifier, { model: recon, options: { ...o.purify, seed: mixSeed(o.seed, step, 8) } }, 'exact');
    const r = await pgd(target, start, b.labels, {
      norm: 'linf', eps: o.eps, steps: o.attackSteps, stepSize: o.attackStepSize, seed: mixSeed(o.seed, step, 6), keep: 'last', checkLast: false,
    });
    fooled = r.fooled.reduce((s, v) => s + v, 0) / r.fooled.length;
    adversarial = { images: r.adversarial, labels: b.labels, shape: b.shape, fooled };
    o.adversarialStore?.set(b.index, adversarial);
  };
  return {
    ...base,
    async prepare(b: Batch, step: number): Promise<void> {
      const stored = o.adversarialStore?.get(b.index);
      if (stored) { adversarial = stored; fooled = stored.fooled; return; }
      // The attack's gradients are for the images alone: with θ off the tape meanwhile, they neither
      // cost a weight gradient per purification step nor leave one behind for the optimizer.
      const net = model.family === 'mae' ? model.mae : model.maskdit;
      net.requireGrad(false);
      try { await attack(b, step); } finally { net.requireGrad(true); }
    },
    // Stage II: the classifier's loss on the surrogate of the attacked batch, plus the training loss on the clean one.
    loss(b: Batch, step: number): Tensor {
      if (!adversarial) throw new Error('robust: loss called before prepare');
      const rng = new Rng(mixSeed(o.seed, step, 7));
      const xa = tensor(adversarial.images, adversarial.shape);
      const ya = adversarial.labels === b.labels ? b.y : tensor(adversarial.labels, [adversarial.shape[0]], 'i32');
      adversarial = undefined;
      const picture = o.surrogate === 'paste' ? pasteSurrogate(model, xa, o.purify.maskRatio, rng)
        : unrolledSurrogate(recon, xa, { steps: 3, stepSize: o.purify.stepSize / 255, tau: 0.5, ...o.unrolled, maskRatio: o.purify.maskRatio }, rng);
      const logits = classifier.forward(picture);
      const term = crossEntropy(logits, ya);
      ce?.dispose();
      ce = keep(term.detach()); // outlives the step's scope, for the log
      return o.recWeight > 0 ? add(term, mulScalar(base.loss(b, step), o.recWeight)) : term;
    },
    async lastTerms(): Promise<RobustTerms> {
      return { ce: ce ? (await ce.data())[0] : NaN, attack_fooled: fooled };
    },
  };
}
