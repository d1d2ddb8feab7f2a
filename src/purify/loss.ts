// The reconstruction-loss interface the AMRM loop optimizes against, and its MAE implementation.
// Any model that scores how well it reconstructs masked parts of an image can be plugged in
// (MaskDiT's training loss at a fixed noise level: maskdit_loss.ts).
import type { Tensor } from '../engine/tensor.js';
import type { Rng } from '../engine/random.js';
import { concat } from '../engine/ops/layout.js';
import { fmt } from '../engine/shape.js';
import type { MAE } from '../models/mae.js';
import type { MaskCountRule } from '../models/masking.js';
import { MaeReconstructor, attentionMapsOf } from '../models/reconstructor.js';

export interface PurifierLossOptions {
  /** Fraction of patches each mask hides. */
  maskRatio: number;
  /** Masks drawn per image; the loss is their mean (docs/method.md section 2, `masks`). */
  masks: number;
  /** The generator the masks come from: every call draws fresh ones. */
  rng: Rng;
  /**
   * Or explicit masks, [masks·B, L] of 0/1 (1 = hidden), copy-major: mask m of image b is row
   * m·B + b. Overrides `rng` (tests and analyses that need the same masks twice).
   */
  mask?: ArrayLike<number>;
}

/** A frozen model with a masked reconstruction loss: what the AMRM loop descends. */
export interface ReconstructionModel {
  /** A short description for reports. */
  readonly name: string;
  /** [C, H, W] of the images it takes (values in [0, 1]). */
  readonly inputShape: readonly [number, number, number];
  /**
   * Scalar loss of images x [B, C, H, W], the mean over images and masks, recorded on the autograd
   * tape when x requires a gradient (the loop differentiates it with respect to x).
   */
  reconstructionLoss(x: Tensor, o: PurifierLossOptions): Tensor;
  /**
   * Optional: the attention probabilities of every layer for images x, under the mask that `seed`
   * draws (the same seed and batch size give the same mask), with no gradient: what the AMV
   * (docs/method.md section 1) compares. Encoder maps cover the visible tokens, decoder maps all of them.
   */
  attentionMaps?(x: Tensor, o: { maskRatio: number; seed: number }): AttentionMaps;
  /**
   * Optional: runs fn with the weights promised unchanged until it ends, so the model may compute
   * what depends on them alone once (MaskDiT: its noise-level conditioning) instead of every step.
   * purify() runs its loop inside it.
   */
  frozen?<T>(fn: () => Promise<T>): Promise<T>;
}

/** Per layer, [B, H, N, N] attention probabilities. */
export interface AttentionMaps { encoder: Tensor[]; decoder: Tensor[]; }

export interface MaeLossOptions {
  /** Loss on per-patch normalized targets (default: the model's config). */
  normPix?: boolean;
  /** How a ratio becomes a count of hidden patches (default 'round', docs/method.md section 1). */
  maskCount?: MaskCountRule;
}

/** Throws unless x is [B, C, H, W] of the model's input shape. */
export function checkPurifierInput(model: ReconstructionModel, x: Tensor): void {
  const [C, H, W] = model.inputShape;
  if (x.rank !== 4 || x.shape[1] !== C || x.shape[2] !== H || x.shape[3] !== W) {
    throw new Error(`reconstructionLoss: images must be [B, ${C}, ${H}, ${W}], got ${fmt(x.shape)}`);
  }
}

/**
 * Several masks in one forward pass: the batch repeated `masks` times, each copy to get its own
 * masks (copy-major, as PurifierLossOptions.mask). Every image hides the same number of patches, so
 * the mean over the long batch is the mean of the per-mask losses (and gradients from the copies
 * add up through concat's backward). The input itself when masks is 1.
 */
export function repeatForMasks(x: Tensor, masks: number): Tensor {
  if (!Number.isInteger(masks) || masks < 1) throw new Error(`reconstructionLoss: masks must be a positive integer, got ${masks}`);
  return masks === 1 ? x : concat(Array.from({ length: masks }, () => x), 0);
}

/** The MAE's masked reconstruction loss (docs/method.md section 2) as a ReconstructionModel. */
export class MaeReconstruction implements ReconstructionModel {
  readonly name: string;
  readonly inputShape: readonly [number, number, number];
  /** The same model as the attention analyses see it. */
  readonly reconstructor: MaeReconstructor;

  constructor(readonly mae: MAE, readonly options: MaeLossOptions = {}) {
    const c = mae.config;
    this.inputShape = [c.inChans, c.imgSize[0], c.imgSize[1]];
    this.name = `mae ${c.imgSize[0]}x${c.imgSize[1]} p${c.patchSize} d${c.embedDim}x${c.depth}`;
    this.reconstructor = new MaeReconstructor(mae, options);
  }

  /** The weights' matmul textures are filled once for the loop's steps (StatefulModule.frozen). */
  frozen<T>(fn: () => Promise<T>): Promise<T> { return this.mae.frozen(fn); }

  reconstructionLoss(x: Tensor, o: PurifierLossOptions): Tensor {
    checkPurifierInput(this, x);
    const xr = repeatForMasks(x, o.masks);
    const out = this.mae.forward(xr, {
      maskRatio: o.maskRatio, rng: o.rng, mask: o.mask, normPix: this.options.normPix, maskCount: this.options.maskCount,
    });
    // The loss's backward holds what it needs; the rest of the output is not wanted here.
    out.pred.dispose();
    out.mask.dispose();
    if (xr !== x) xr.dispose();
    return out.loss;
  }

  attentionMaps(x: Tensor, o: { maskRatio: number; seed: number }): AttentionMaps {
    return attentionMapsOf(this.reconstructor, x, { maskRatio: o.maskRatio, seed: o.seed });
  }
}
