// The two things `amrm train` trains: a classifier (cross-entropy on labels) and an MAE (masked
// reconstruction loss, a fresh mask per step drawn from a generator seeded by (seed, step)).
import { Tensor } from '../engine/tensor.js';
import { crossEntropy } from '../engine/ops/loss.js';
import { Rng } from '../engine/random.js';
import type { StateDict } from '../engine/io/host-tensor.js';
import type { MAE } from '../models/mae.js';
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
