// Masking on the host and on the tokens: which patches each image keeps (the MAE reference's
// random_masking from noise, or a given 0/1 mask), and the two token moves every masked model makes:
// keep the visible tokens (the encoder's input) and restore the full sequence with a mask token at
// each hidden position (the decoder's input).
import type { Tensor } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { broadcastTo } from '../engine/ops/elementwise.js';
import { gatherRows, scatterRows } from '../engine/ops/layout.js';
import { fmt } from '../engine/shape.js';
import { Rng } from '../engine/random.js';

/** Which patches each image keeps: the encoder's input order, its inverse, and the 0/1 mask. */
export interface MaskPlan {
  batch: number;
  /** Patches per image (L). */
  patches: number;
  /** Visible patches per image. */
  lenKeep: number;
  /** [B, lenKeep]: the visible patches, in the order the encoder sees them. */
  idsKeep: Int32Array;
  /** [B, L]: position of each patch in the shuffled order (the reference's ids_restore). */
  idsRestore: Int32Array;
  /** [B, L]: 1 = hidden (counted by the loss), 0 = visible. */
  mask: Float32Array;
}

/**
 * How many patches stay visible at a mask ratio. 'round' (default, docs/method.md section 1: a mask hides
 * round(ratio·L) patches) or 'reference' (models_mae.py: len_keep = int(L·(1 − ratio))). They differ
 * only when ratio·L is not an integer (e.g. L 64, ratio 0.3: 19 hidden by 'round', 20 by 'reference').
 */
export type MaskCountRule = 'round' | 'reference';

export function visibleCount(patches: number, ratio: number, rule: MaskCountRule = 'round'): number {
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`mae: mask ratio ${ratio} must be in [0, 1) (at least one patch must stay visible)`);
  if (rule !== 'round' && rule !== 'reference') throw new Error(`mae: unknown mask count rule '${rule}' (round or reference)`);
  const keepN = rule === 'reference' ? Math.floor(patches * (1 - ratio)) : patches - Math.round(ratio * patches);
  if (keepN < 1) throw new Error(`mae: mask ratio ${ratio} leaves no visible patch of ${patches}`);
  return keepN;
}

/**
 * The reference's random_masking from given noise [B, L]: ids_shuffle = argsort(noise) per row (ties
 * by index), keep the first lenKeep, ids_restore = argsort(ids_shuffle).
 */
export function maskFromNoise(noise: ArrayLike<number>, batch: number, patches: number, lenKeep: number): MaskPlan {
  if (noise.length !== batch * patches) throw new Error(`mae: noise has ${noise.length} values, expected B·L = ${batch}·${patches}`);
  if (!Number.isInteger(lenKeep) || lenKeep < 1 || lenKeep > patches) throw new Error(`mae: ${lenKeep} visible patches of ${patches}`);
  const idsKeep = new Int32Array(batch * lenKeep);
  const idsRestore = new Int32Array(batch * patches);
  const mask = new Float32Array(batch * patches);
  const order = new Array<number>(patches);
  for (let b = 0; b < batch; b++) {
    const row = b * patches;
    for (let l = 0; l < patches; l++) order[l] = l;
    order.sort((u, v) => (noise[row + u] - noise[row + v]) || (u - v));
    for (let s = 0; s < patches; s++) {
      const l = order[s];
      idsRestore[row + l] = s;
      if (s < lenKeep) idsKeep[b * lenKeep + s] = l;
      else mask[row + l] = 1;
    }
  }
  return { batch, patches, lenKeep, idsKeep, idsRestore, mask };
}

/** A plan from a given 0/1 mask [B, L] (1 = hidden); every image must hide the same number of patches. */
export function maskFromHidden(hidden: ArrayLike<number>, batch: number, patches: number): MaskPlan {
  if (hidden.length !== batch * patches) throw new Error(`mae: mask has ${hidden.length} values, expected B·L = ${batch}·${patches}`);
  // Visible patches first, in ascending order, then hidden ones: as if the noise were 0 on visible and 1 on hidden.
  const noise = new Float32Array(batch * patches);
  let lenKeep = -1;
  for (let b = 0; b < batch; b++) {
    let visible = 0;
    for (let l = 0; l < patches; l++) {
      const v = hidden[b * patches + l];
      if (v !== 0 && v !== 1) throw new Error(`mae: mask values must be 0 (visible) or 1 (hidden), got ${v} at [${b}, ${l}]`);
      noise[b * patches + l] = v;
      if (v === 0) visible++;
    }
    if (lenKeep >= 0 && visible !== lenKeep) throw new Error(`mae: every image must keep the same number of patches, image 0 keeps ${lenKeep} and image ${b} ${visible}`);
    lenKeep = visible;
  }
  if (lenKeep < 1) throw new Error('mae: the mask hides every patch (at least one must stay visible)');
  return maskFromNoise(noise, batch, patches, lenKeep);
}

/** Throws unless the plan was made for this batch and patch count. */
export function checkPlan(plan: MaskPlan, batch: number, patches: number): void {
  if (plan.batch !== batch || plan.patches !== patches || plan.idsKeep.length !== batch * plan.lenKeep) {
    throw new Error(`mae: mask plan for B ${plan.batch}, L ${plan.patches} does not fit B ${batch}, L ${patches}`);
  }
}

/** The visible tokens of x [B, L, D] in the plan's order: [B, lenKeep, D]. */
export function keepVisible(x: Tensor, plan: MaskPlan): Tensor {
  if (x.rank !== 3) throw new Error(`keepVisible: tokens must be [B, L, D], got ${fmt(x.shape)}`);
  checkPlan(plan, x.shape[0], x.shape[1]);
  return gatherRows(x, tensor(plan.idsKeep, [plan.batch, plan.lenKeep], 'i32'));
}

/**
 * The full sequence [B, lead + L, D] from the visible tokens [B, lead + lenKeep, D] (in the plan's
 * order, after `lead` tokens that are no patch, like the MAE's cls token, which stay in front): each
 * goes back to its patch, every hidden patch gets `maskToken` [1, 1, D]. (The reference appends mask
 * tokens and unshuffles by ids_restore; this is the same sequence.) One scatter, with no slice or
 * concat around it for the lead tokens.
 */
export function restoreWithMaskTokens(visible: Tensor, maskToken: Tensor, plan: MaskPlan, lead = 0): Tensor {
  const D = visible.shape[2];
  if (visible.rank !== 3 || visible.shape[0] !== plan.batch || visible.shape[1] !== lead + plan.lenKeep) {
    throw new Error(`restoreWithMaskTokens: visible tokens ${fmt(visible.shape)} must be [${plan.batch}, ${lead + plan.lenKeep}, D]`);
  }
  if (maskToken.size !== D) throw new Error(`restoreWithMaskTokens: mask token ${fmt(maskToken.shape)} must hold ${D} values`);
  const tokens = broadcastTo(maskToken, [plan.batch, lead + plan.patches, D]);
  const k = lead + plan.lenKeep;
  const ids = new Int32Array(plan.batch * k);
  for (let b = 0; b < plan.batch; b++) {
    for (let j = 0; j < lead; j++) ids[b * k + j] = j;
    for (let j = 0; j < plan.lenKeep; j++) ids[b * k + lead + j] = lead + plan.idsKeep[b * plan.lenKeep + j];
  }
  return scatterRows(tokens, tensor(ids, [plan.batch, k], 'i32'), visible);
}

/** How a forward chooses its masks: the first of `mask`, `noise`, `seed`/`rng` given wins. */
export interface MaskSource {
  /** Fraction of patches hidden. */
  maskRatio?: number;
  maskCount?: MaskCountRule;
  /** The masking noise comes from this generator (fresh masks per call). */
  rng?: Rng;
  /** Or from a new generator with this seed. */
  seed?: number;
  /** Or this noise [B, L] (the references' torch.rand(N, L)). */
  noise?: ArrayLike<number>;
  /** Or this mask [B, L] (1 = hidden), which overrides everything above. */
  mask?: ArrayLike<number>;
}

/**
 * The plan for a batch from a MaskSource; `fallback` is the generator used when the source names
 * none (a model's own), `defaultRatio` the ratio when it gives none.
 */
export function planMasks(batch: number, patches: number, o: MaskSource, fallback: Rng, defaultRatio: number): MaskPlan {
  if (o.mask) return maskFromHidden(o.mask, batch, patches);
  const lenKeep = visibleCount(patches, o.maskRatio ?? defaultRatio, o.maskCount);
  if (o.noise) return maskFromNoise(o.noise, batch, patches, lenKeep);
  const rng = o.rng ?? (o.seed !== undefined ? new Rng(o.seed) : fallback);
  const noise = new Float64Array(batch * patches);
  for (let i = 0; i < noise.length; i++) noise[i] = rng.next();
  return maskFromNoise(noise, batch, patches, lenKeep);
}
