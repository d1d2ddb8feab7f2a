// The AMRM loop of src/purify/amrm.ts (its plain mode), one image, stepped here so that the page can
// show every iterate and its loss as it comes: purify() reports only the step number while it runs,
// and its trajectory arrives at the end. The arithmetic and the order of the mask draws are the
// same as purify()'s (one Rng seeded with options.seed, one reconstructionLoss call per step, the
// fused purifyStep update), so the final image is the one `amrm purify` would give for that seed.
import { Tensor, asyncScope, scope } from '../../src/engine/tensor.js';
import { grad } from '../../src/engine/autograd.js';
import { Rng } from '../../src/engine/random.js';
import { copyData, tensor } from '../../src/engine/ops/creation.js';
import { purifyStep } from '../../src/engine/ops/purify_step.js';
import { stepSizeAt, type PurifyOptions } from '../../src/purify/amrm.js';
import type { ReconstructionModel } from '../../src/purify/loss.js';

export interface LiveStep {
  /** 1-based step. */
  step: number;
  steps: number;
  /** x_s on the host, [C·H·W]. */
  image: Float32Array;
  /** L_rec at x_{s-1}, the loss this step descended (as purify()'s trackLoss reports it). */
  loss: number;
}

export interface LiveResult { image: Float32Array; losses: number[]; seconds: number; }

/** The loss and its gradient at x, both owned by the caller (x itself is left as it was). */
function lossGradient(model: ReconstructionModel, x: Tensor, o: PurifyOptions, rng: Rng): { g: Tensor; loss: Tensor } {
  return scope(() => {
    const xi = x.detach().requireGrad();
    const loss = model.reconstructionLoss(xi, { maskRatio: o.maskRatio, masks: o.masks, rng });
    const [g] = grad(loss, [xi]);
    return { g, loss: loss.detach() };
  });
}

/**
 * Purifies one image x0 ([C·H·W] in [0, 1]) and calls onStep after every step with the new iterate.
 * onStep may be async (the page repaints there); the next step waits for it. The caller must not
 * run two of these at once: the engine's tensor scopes are one stack.
 */
export async function purifyLive(model: ReconstructionModel, x0: Float32Array, o: PurifyOptions,
  onStep: (s: LiveStep) => void | Promise<void>): Promise<LiveResult> {
  const [C, H, W] = model.inputShape;
  if (x0.length !== C * H * W) throw new Error(`purifyLive: the image has ${x0.length} values, ${model.name} takes [${C}, ${H}, ${W}] = ${C * H * W}`);
  const t0 = performance.now();
  const rng = new Rng(o.seed);
  const losses: number[] = [];
  const image = await asyncScope(async () => {
    const start = tensor(x0, [1, C, H, W]);
    let x = copyData(start);
    for (let s = 1; s <= o.steps; s++) {
      const { g, loss } = lossGradient(model, x, o, rng);
      const next = purifyStep(x, g, start, stepSizeAt(o, s), o.eta);
      g.dispose();
      x.dispose();
      x = next;
      // Two small readbacks per step (784 values and a scalar): they also keep the queue short.
      const [l] = await loss.data();
      loss.dispose();
      losses.push(l);
      await onStep({ step: s, steps: o.steps, image: await x.data(), loss: l });
    }
    return x.data();
  });
  return { image, losses, seconds: (performance.now() - t0) / 1000 };
}
