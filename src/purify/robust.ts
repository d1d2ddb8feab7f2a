// Robust fine-tuning of a purifier (RAMRM, docs/method.md section 5): per training batch,
//   Stage I:  x_adv = PGD on the whole pipeline (purifier, then the frozen classifier), with exact
//             gradients through the purification, from the images plus Gaussian noise;
//   Stage II: θ ← θ − lr·∇_θ [ CE(classifier(surrogate_θ(x_adv)), y) + w · the model's own training loss ].
// The purified image x_S does not depend on θ to first order (the loop moves x by sign(g), whose
// derivative is zero), so θ learns through a surrogate of the purifier's output:
//   'paste' (default): the model's picture of every patch, each predicted once from complementary
//     masks: the MAE's prediction of the patches a mask hides (one pass per group of hidden
//     patches), MaskDiT's denoised output D(2x − 1 + n; σ_pur) of the patches a mask keeps.
import { Tensor, keep, scope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { add, affine, clamp, mul, mulScalar } from '../engine/ops/elementwise.js';
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

export const SURROGATES = ['paste'] as const;
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
      const { mae } = m, c = mae.config, L = mae.numPatches;
      let picture: Tensor | undefined;
      for (const mask of complementaryMasks(B, L, pasteGroups('mae', maskRatio), rng)) {
        let pred = mae.forward(x, { mask }).pred;
        if (c.normPixLoss) pred = destandardizePatches(pred, x, c.patchSize);
        const part = mul(pred, tensor(mask, [B, L, 1]));
        picture = picture ? add(picture, part) : part;
      }
      return clamp(unpatchify(picture!, c.patchSize, c.inChans, c.imgSize[0], c.imgSize[1]), 0, 1);
    }
    const { maskdit, sigma } = m, c = maskdit.config, L = (c.imgSize[0] / c.patchSize) * (c.imgSize[1] / c.patchSize);
    const per = c.inChans * c.imgSize[0] * c.imgSize[1];
    const noisy = add(toModelRange(x), tensor(diffusionNoise(rng, Array<number>(B).fill(sigma), per), x.shape));
    let picture: Tensor | undefined;
    for (const kept of complementaryMasks(B, L, pasteGroups('maskdit', maskRatio), rng)) {
      const hidden = kept.map((v) => 1 - v);
      const { patches } = maskdit.denoisePatches(noisy, { sigma, mask: hidden });
      const part = mul(patches, tensor(kept, [B, L, 1]));
      picture = picture ? add(picture, part) : part;
    }
    return clamp(affine(unpatchify(picture!, c.patchSize, c.inChans, c.imgSize[0], c.imgSize[1]), 0.5, 0.5), 0, 1);
  });
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
}

/** The terms of the last step, for the log. */
export interface RobustTerms { ce: number; attack_fooled: number; }

/**
 * The fine-tuning as a TrainTask: `base` is the model's own training task (its loss on the clean
 * batch is the second term), `model` what the surrogate runs, `recon` what the attack purifies with
 * (the same weights), `classifier` frozen.
 */
export function robustTask(base: TrainTask, model: SurrogateModel, recon: ReconstructionModel, classifier: Classifier, o: RobustOptions): TrainTask & { lastTerms(): Promise<RobustTerms> } {
  if (!(o.recWeight >= 0)) throw new Error(`robust: the training-loss weight ${o.recWeight} must be ≥ 0`);
  if (!(o.eps > 0)) throw new Error(`robust: eps ${o.eps} must be positive`);
  let adversarial: Float32Array | undefined;
  let fooled = 0;
  let ce: Tensor | undefined;
  /** Stage I: the batch plus noise, attacked; the attack's draws (masks, noise, start) follow the step. */
  const attack = async (b: Batch, step: number): Promise<void> => {
    const rng = new Rng(mixSeed(o.seed, step, 5));
    const start = o.noise > 0 ? b.images.map((v) => Math.min(1, Math.max(0, v + o.noise * rng.normal()))) : b.images;
    // The purification's masks (and MaskDiT's noise) are drawn afresh for every step too.
    const target = purifiedTarget(classifier, { model: recon, options: { ...o.purify, seed: mixSeed(o.seed, step, 8) } }, 'exact');
    const r = await pgd(target, start, b.labels, {
      norm: 'linf', eps: o.eps, steps: o.attackSteps, stepSize: o.attackStepSize, seed: mixSeed(o.seed, step, 6), keep: 'last',
    });
    adversarial = r.adversarial;
    fooled = r.fooled.reduce((s, v) => s + v, 0) / r.fooled.length;
  };
  return {
    ...base,
    async prepare(b: Batch, step: number): Promise<void> {
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
      const xa = tensor(adversarial, b.shape);
      adversarial = undefined;
      const logits = classifier.forward(pasteSurrogate(model, xa, o.purify.maskRatio, rng));
      const term = crossEntropy(logits, b.y);
      ce?.dispose();
      ce = keep(term.detach()); // outlives the step's scope, for the log
      return o.recWeight > 0 ? add(term, mulScalar(base.loss(b, step), o.recWeight)) : term;
    },
    async lastTerms(): Promise<RobustTerms> {
      return { ce: ce ? (await ce.data())[0] : NaN, attack_fooled: fooled };
    },
  };
}
