// What `amrm train` trains: a classifier (cross-entropy on labels), an MAE (masked reconstruction
// loss) and a MaskDiT (EDM's denoising loss on the visible patches plus the MAE term); the masks,
// noise levels and noise of a step come from a generator seeded by (seed, step).
import { Tensor } from '../engine/tensor.js';
import { crossEntropy } from '../engine/ops/loss.js';
import { Rng } from '../engine/random.js';
import type { StateDict } from '../engine/io/host-tensor.js';
import type { MAE } from '../models/mae.js';
import { diffusionNoise, toModelRange, trainingSigmas, type MaskDiT } from '../models/maskdit.js';
import type { TrainableClassifierModel } from '../models/trainable.js';
import { mixSeed, type Batch } from './loader.js';
import type { TrainTask } from './trainer.js';

export function classifierTask(model: TrainableClassifierModel): TrainTask {
  return {
    parameters: () => model.parameters(),
    setTraining: (on) => { model.training = on; },
    loss: (b: Batch): Tensor => crossEntropy(model.forward(b.x), b.y),
    stateDict: () => model.stateDict(),
    loadStateDict: (sd: StateDict) => model.loadStateDict(sd),
  };
}

export interface MaeTaskOptions { seed: number; maskRatio?: number; }

export function maeTask(model: MAE, o: MaeTaskOptions): TrainTask {
  model.requireGrad(true);
  return {
    parameters: () => model.parameters(),
    setTraining: () => { /* no layer of the MAE behaves differently in training */ },
    loss: (b: Batch, step: number): Tensor => {
      const out = model.forward(b.x, { maskRatio: o.maskRatio ?? 0.75, rng: new Rng(mixSeed(o.seed, step, 3)) });
      // Only the loss is needed; the prediction and mask go with the caller's scope.
      return out.loss;
    },
    stateDict: () => model.stateDict(),
    loadStateDict: (sd: StateDict) => model.loadStateDict(sd),
  };
}

export interface MaskDitTaskOptions {
  seed: number;
  /** Default 0.5 (the paper's). */
  maskRatio?: number;
  /** EDM's log-normal noise levels (defaults −1.2 and 1.2). */
  pMean?: number;
  pStd?: number;
  /** Chance that a label is dropped to "none" (conditional models; default 0.1, the reference's). */
  classDropout?: number;
}

export function maskditTask(model: MaskDiT, o: MaskDitTaskOptions): TrainTask {
  model.requireGrad(true);
  const [, C, H, W] = [0, model.config.inChans, ...model.config.imgSize];
  return {
    parameters: () => model.parameters(),
    setTraining: () => { /* no layer behaves differently in training */ },
    loss: (b: Batch, step: number): Tensor => {
      const B = b.shape[0];
      const rng = new Rng(mixSeed(o.seed, step, 4));
      const sigma = trainingSigmas(rng, B, o.pMean, o.pStd);
      const diffusion = diffusionNoise(rng, sigma, C * H * W);
      const drop = o.classDropout ?? 0.1;
      const labels = model.yEmbedder ? Array.from(b.labels, (y) => (rng.next() < drop ? -1 : y)) : undefined;
      return model.loss(toModelRange(b.x), { sigma, diffusionNoise: diffusion, labels, maskRatio: o.maskRatio ?? 0.5, rng }).loss;
    },
    stateDict: () => model.stateDict(),
    loadStateDict: (sd: StateDict) => model.loadStateDict(sd),
  };
}
