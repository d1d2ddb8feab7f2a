// MaskDiT's training loss on held-out images at a fixed noise level, as training reports it after
// each epoch and the model card's check reproduces it: the mean over images of the loss with masks
// and noise drawn in order from one seeded generator, batch by batch (the same seed, batch, σ and
// ratio give the same number).
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import type { ImageSet } from '../data/dataset.js';
import { diffusionNoise, edmCoefficients, toModelRange, type MaskDiT } from '../models/maskdit.js';

export interface MaskDitEvalOptions { batch: number; seed: number; maskRatio: number; sigma: number; }

export interface MaskDitHeldOut {
  /** The training loss (denoising + maeLossCoef × MAE term). */
  loss: number;
  /** Its denoising term alone: λ(σ)-weighted MSE of D over the visible patches, [−1, 1] units. */
  denoising: number;
  /** The same unweighted: plain MSE of the denoised visible patches against the clean ones. */
  denoisingMse: number;
  n: number;
}

/** Means over the whole batches of `set` (a remainder smaller than `batch` is left out). */
export async function maskDitHeldOutLoss(model: MaskDiT, set: ImageSet, o: MaskDitEvalOptions): Promise<MaskDitHeldOut> {
  const [, C, H, W] = set.shape, per = C * H * W;
  const { weight } = edmCoefficients(o.sigma, model.config.sigmaData);
  let loss = 0, denoising = 0, count = 0;
  const rng = new Rng(o.seed);
  for (let s = 0; s + o.batch <= set.n; s += o.batch) {
    const [l, d] = await asyncScope(async () => {
      const x = tensor(set.images.subarray(s * per, (s + o.batch) * per), [o.batch, C, H, W]);
      const n = diffusionNoise(rng, Array<number>(o.batch).fill(o.sigma), per);
      const out = noGrad(() => model.loss(toModelRange(x), { sigma: o.sigma, diffusionNoise: n, maskRatio: o.maskRatio, rng }));
      return [(await out.loss.data())[0], (await out.denoising.data())[0]];
    });
    loss += l * o.batch;
    denoising += d * o.batch;
    count += o.batch;
  }
  return count ? { loss: loss / count, denoising: denoising / count, denoisingMse: denoising / count / weight, n: count } : { loss: NaN, denoising: NaN, denoisingMse: NaN, n: 0 };
}
