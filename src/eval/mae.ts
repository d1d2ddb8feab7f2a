// The MAE's reconstruction loss on held-out images, as training reports it after each epoch and
// `amrm eval-mae` reproduces it: mean over images of the masked loss, masks drawn in order from one
// seeded generator, batch by batch (so the same seed, batch and ratio give the same number).
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import type { ImageSet } from '../data/dataset.js';
import type { MAE } from '../models/mae.js';

export interface MaeEvalOptions { batch: number; seed: number; maskRatio: number; }

/** Mean reconstruction loss over the whole batches of `set` (a remainder smaller than `batch` is left out). */
export async function maeHeldOutLoss(model: MAE, set: ImageSet, o: MaeEvalOptions): Promise<{ loss: number; n: number }> {
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  let total = 0, count = 0;
  const rng = new Rng(o.seed);
  for (let s = 0; s + o.batch <= set.n; s += o.batch) {
    total += await asyncScope(async () => {
      const x = tensor(set.images.subarray(s * per, (s + o.batch) * per), [o.batch, set.shape[1], set.shape[2], set.shape[3]]);
      const out = noGrad(() => model.forward(x, { maskRatio: o.maskRatio, rng }));
      return (await out.loss.data())[0] * o.batch;
    });
    count += o.batch;
  }
  return { loss: count ? total / count : NaN, n: count };
}
