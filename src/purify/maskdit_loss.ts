// MaskDiT-Pure's loss (docs/method.md section 3): L_rec(x) = MaskDiT's training loss at a fixed noise
// level σ_pur, for the image in [−1, 1] units: the λ(σ)-weighted denoising error over the visible
// patches plus maeLossCoef × the normalized MSE over the hidden ones. Every call draws fresh masks
// and fresh noise from the loop's generator; the loss and its gradient share them (one forward).
import type { Tensor } from '../engine/tensor.js';
import { describeMaskDit } from '../models/maskdit_configs.js';
import { MaskDitReconstructor, attentionMapsOf } from '../models/reconstructor.js';
import { diffusionNoise, toModelRange, type MaskDiT } from '../models/maskdit.js';
import { checkPurifierInput, repeatForMasks, type AttentionMaps, type PurifierLossOptions, type ReconstructionModel } from './loss.js';

/** docs/method.md section 3's default σ_pur, in [−1, 1] units (project choice). */
export const DEFAULT_PURIFY_SIGMA = 0.1;

export interface MaskDitLossOptions {
  /** σ_pur (default 0.1). */
  sigma?: number;
}

export class MaskDitReconstruction implements ReconstructionModel {
  readonly name: string;
  readonly inputShape: readonly [number, number, number];
  readonly sigma: number;

  constructor(readonly model: MaskDiT, options: MaskDitLossOptions = {}) {
    const c = model.config;
    this.inputShape = [c.inChans, c.imgSize[0], c.imgSize[1]];
    this.sigma = options.sigma ?? DEFAULT_PURIFY_SIGMA;
    if (!(this.sigma > 0) || !Number.isFinite(this.sigma)) throw new Error(`MaskDiT-Pure: σ_pur ${this.sigma} must be a positive finite number`);
    this.name = `maskdit ${c.imgSize[0]}x${c.imgSize[1]} p${c.patchSize} d${c.hiddenSize}x${c.depth} σ ${this.sigma}`;
  }

  describe(): string { return `${describeMaskDit(this.model.config)}, σ_pur ${this.sigma}`; }

  /** The conditioning at σ_pur is made once for the loop's steps (MaskDiT.frozen). */
  frozen<T>(fn: () => Promise<T>): Promise<T> { return this.model.frozen(fn); }

  reconstructionLoss(x: Tensor, o: PurifierLossOptions): Tensor {
    checkPurifierInput(this, x);
    const xr = repeatForMasks(x, o.masks);
    const [C, H, W] = this.inputShape;
    const n = diffusionNoise(o.rng, Array<number>(xr.shape[0]).fill(this.sigma), C * H * W);
    const out = this.model.loss(toModelRange(xr), { sigma: this.sigma, diffusionNoise: n, maskRatio: o.maskRatio, rng: o.rng, mask: o.mask });
    for (const t of new Set([out.patches, out.denoising, out.mae])) if (t && t !== out.loss) t.dispose();
    if (xr !== x) xr.dispose();
    return out.loss;
  }

  /**
   * The maps under the mask that `seed` draws and the noise the MaskDiT reconstructor draws from the
   * same seed (one σ_pur draw shared by every image): the same seed gives the same maps.
   */
  attentionMaps(x: Tensor, o: { maskRatio: number; seed: number }): AttentionMaps {
    return attentionMapsOf(new MaskDitReconstructor(this.model, { sigma: this.sigma, noiseSeed: o.seed }), x, { maskRatio: o.maskRatio, seed: o.seed });
  }
}
