// Purification of one image with every iterate and its loss handed to the page as they come:
// purify() itself (the same loop as `amrm purify`, so the same image for a seed), with its onStep
// hook reading x_s and L_rec back after each step.
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { purify, type PurifyOptions } from '../../src/purify/amrm.js';
import type { ReconstructionModel } from '../../src/purify/loss.js';
import type { MaskedReconstructor } from '../../src/models/reconstructor.js';
import { noGrad } from '../../src/engine/autograd.js';

export interface LiveStep {
  /** 1-based step. */
  step: number;
  steps: number;
  /** x_s on the host, [C·H·W]. */
  image: Float32Array;
  /** L_rec at x_{s-1}, the loss this step descended (as purify()'s trackLoss reports it). */
  loss: number;
  /** The model's picture of x_s under one fixed mask (hidden patches predicted), [C·H·W], when a reconstructor is given. */
  reconstruction?: Float32Array;
}

export interface LiveResult { image: Float32Array; losses: number[]; seconds: number; }

/**
 * Purifies one image x0 ([C·H·W] in [0, 1]) and calls onStep after every step with the new iterate
 * (and, given a reconstructor of the same model, its reconstruction).
 * onStep may be async (the page repaints there); the next step waits for it.
 */
export async function purifyLive(model: ReconstructionModel, x0: Float32Array, o: PurifyOptions,
  onStep: (s: LiveStep) => void | Promise<void>, reconstructor?: MaskedReconstructor): Promise<LiveResult> {
  const [C, H, W] = model.inputShape;
  if (x0.length !== C * H * W) throw new Error(`purifyLive: the image has ${x0.length} values, ${model.name} takes [${C}, ${H}, ${W}] = ${C * H * W}`);
  const losses: number[] = [];
  return asyncScope(async () => {
    const r = await purify(model, tensor(x0, [1, C, H, W]), o, {
      // Two small readbacks per step (the image and a scalar); they also keep the queue short.
      onStep: async ({ step, steps, x, loss }) => {
        const [l] = await loss.data();
        losses.push(l);
        // One mask for every step (seeded like the loop), so the pictures differ only by x_s.
        const reconstruction = reconstructor
          ? new Float32Array(await noGrad(() => reconstructor.reconstruct(x, { maskRatio: o.maskRatio, seed: o.seed }).images).data())
          : undefined;
        await onStep({ step, steps, image: await x.data(), loss: l, reconstruction });
      },
    });
    return { image: await r.images.data(), losses, seconds: r.seconds };
  });
}
