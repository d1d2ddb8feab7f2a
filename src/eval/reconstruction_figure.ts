// Pictures of what a masked reconstruction model sees and makes (the paper's Figure 1 rows, `amrm
// demo`, `amrm eval-mae --png`): the input with its hidden patches painted grey, and the
// reconstruction as the MAE reference shows it: the model's prediction on hidden patches, the input
// on visible ones (which the MAE's loss never trains). The prediction is the MAE's output, or
// MaskDiT's D(2x − 1 + n; σ_pur) mapped back by (D + 1) / 2 (models/reconstructor.ts).
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import type { MaskedReconstructor } from '../models/reconstructor.js';

export interface ReconstructionView {
  /** The images with hidden patches mid-grey. */
  masked: Float32Array;
  /** Prediction on hidden patches, input elsewhere. */
  rec: Float32Array;
  /** [n, L], 1 = hidden: pass it back to show other images under the same mask. */
  mask: Float32Array;
}

/** The masked input and the reconstruction of n images x [n, C, H, W] under `mask`, or a mask drawn from `seed`. */
export async function reconstructionView(model: MaskedReconstructor, x: Float32Array, n: number, o: { maskRatio: number; seed: number; mask?: Float32Array }): Promise<ReconstructionView> {
  const [C, H, W] = model.inputShape, p = model.patchSize;
  if (x.length !== n * C * H * W) throw new Error(`reconstructionView: ${x.length} values are not ${n} images of [${C}, ${H}, ${W}]`);
  return asyncScope(async () => {
    const out = model.reconstruct(tensor(x, [n, C, H, W]), o.mask ? { mask: o.mask } : { maskRatio: o.maskRatio, seed: o.seed });
    const mask = o.mask ?? out.plan.mask;
    return { rec: pasteVisible(await out.images.data(), x, mask, C, H, W, p), masked: maskedView(x, mask, C, H, W, p), mask };
  });
}

/**
 * Stages (each n images [n, C, H, W]) tiled one stage per row and one image per column, clamped
 * to [0, 1]: the values for writePngGrid with cols = n.
 */
export function stageGrid(stages: Float32Array[], n: number, per: number): Float32Array {
  const grid = new Float32Array(stages.length * n * per);
  stages.forEach((t, r) => { for (let i = 0; i < n; i++) grid.set(t.subarray(i * per, (i + 1) * per).map(clamp01), (r * n + i) * per); });
  return grid;
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

/** Images x [n, C, H, W] with the hidden patches of mask [n, L] (1 = hidden) mid-grey (a copy). */
export function maskedView(x: Float32Array, mask: Float32Array, C: number, H: number, W: number, p: number): Float32Array {
  return forHidden(Float32Array.from(x), mask, C, H, W, p, (out, from, to) => out.fill(0.5, from, to));
}

function pasteVisible(rec: Float32Array, x: Float32Array, mask: Float32Array, C: number, H: number, W: number, p: number): Float32Array {
  const hidden = forHidden(new Float32Array(x.length), mask, C, H, W, p, (out, from, to) => out.fill(1, from, to));
  return x.map((v, i) => (hidden[i] ? rec[i] : v));
}

/** Calls `fill(out, from, to)` for every row segment of every hidden patch; returns `out`. */
function forHidden(out: Float32Array, mask: Float32Array, C: number, H: number, W: number, p: number,
  fill: (out: Float32Array, from: number, to: number) => void): Float32Array {
  const gw = W / p, n = (H / p) * gw, per = C * H * W;
  for (let b = 0; b < out.length / per; b++) {
    for (let j = 0; j < n; j++) {
      if (!mask[b * n + j]) continue;
      const y0 = Math.floor(j / gw) * p, x0 = (j % gw) * p;
      for (let ch = 0; ch < C; ch++) for (let y = y0; y < y0 + p; y++) fill(out, b * per + (ch * H + y) * W + x0, b * per + (ch * H + y) * W + x0 + p);
    }
  }
  return out;
}
