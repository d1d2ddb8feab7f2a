// The masked autoencoder of facebookresearch/mae (models_mae.py, MaskedAutoencoderViT) on the
// engine's ops, with the reference's state-dict keys, initialization, masking and loss:
//   encoder: patch_embed (a p×p conv with stride p = patchify + Linear) + fixed sin-cos pos_embed,
//            keep a per-sample random subset of patches, prepend cls_token, blocks, norm;
//   decoder: decoder_embed, a mask_token at each hidden position (unshuffle), decoder_pos_embed,
//            decoder_blocks, decoder_norm, decoder_pred -> a prediction for every patch;
//   loss:    the masked reconstruction loss over hidden patches (optionally on normalized pixels),
//            the engine's fused patch loss.
// Gradients reach the image through both paths (the encoder's input and the loss's target), which is
// what purification differentiates; parameters take gradients after `requireGrad()` (training).
import { Tensor, keep, scope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { add, broadcastTo } from '../engine/ops/elementwise.js';
import { matmul } from '../engine/ops/matmul.js';
import { concat, gatherRows, permute, reshape, scatterRows, slice } from '../engine/ops/layout.js';
import { patchify, reconstructionLoss, type PatchLossImpl } from '../engine/ops/patch.js';
import { engine } from '../engine/engine.js';
import { Rng } from '../engine/random.js';
import { fmt } from '../engine/shape.js';
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { Block, LayerNorm, Linear, seededInit, zeroInit, type Module, type NamedTensor } from './vit.js';
import { MAE_CONFIGS, maeConfig, resolveMaeConfig, type MaeConfig, type MaeConfigInput } from './mae_configs.js';

// ---------------------------------------------------------------- fixed position embedding
/**
 * The reference's 2-D sin-cos table, [(cls ? 1 : 0) + gh·gw, dim] row-major: for patch (i, j) the
 * first dim/2 channels encode the column j and the last dim/2 the row i (the reference's
 * meshgrid(w, h) puts w first), each half as [sin(pos·ω_k), cos(pos·ω_k)] with ω_k = 10000^(-k/(dim/4)).
 * The cls row is zeros. The reference is square (gh = gw); the same rule serves any grid.
 */
export function sincosPosEmbed2d(dim: number, gh: number, gw: number, clsToken = true): Float32Array {
  if (dim % 4 !== 0) throw new Error(`sincosPosEmbed2d: dim ${dim} must be a multiple of 4`);
  const quarter = dim / 4;
  const lead = clsToken ? 1 : 0;
  const out = new Float32Array((lead + gh * gw) * dim);
  for (let i = 0; i < gh; i++) {
    for (let j = 0; j < gw; j++) {
      const row = (lead + i * gw + j) * dim;
      for (let k = 0; k < quarter; k++) {
        const omega = 1 / 10000 ** (k / quarter);
        out[row + k] = Math.sin(j * omega);
        out[row + quarter + k] = Math.cos(j * omega);
        out[row + 2 * quarter + k] = Math.sin(i * omega);
        out[row + 3 * quarter + k] = Math.cos(i * omega);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- masking (host side)
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
 * How many patches stay visible at a mask ratio. 'round' (default, METHOD.md section 1: a mask hides
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

// ---------------------------------------------------------------- the model
export interface MaeForwardOptions {
  /** Fraction of patches hidden (default 0.75, the reference's forward default). */
  maskRatio?: number;
  maskCount?: MaskCountRule;
  /** The masking noise comes from this generator (fresh masks per call); default the model's own. */
  rng?: Rng;
  /** Or from a new generator with this seed. */
  seed?: number;
  /** Or this noise [B, L] (the reference's torch.rand(N, L)). */
  noise?: ArrayLike<number>;
  /** Or this mask [B, L] (1 = hidden), which overrides everything above. */
  mask?: ArrayLike<number>;
  /** Loss on per-patch normalized targets (default: the config's normPixLoss). */
  normPix?: boolean;
  /** Also return every block's attention probabilities [B, H, N, N] (no gradient). */
  returnProbs?: boolean;
  lossImpl?: PatchLossImpl;
}

export interface MaeOutput {
  /** Scalar reconstruction loss over hidden patches. */
  loss: Tensor;
  /** [B, L, p·p·C]: the decoder's prediction for every patch (patchify layout). */
  pred: Tensor;
  /** [B, L] f32, 1 = hidden. */
  mask: Tensor;
  plan: MaskPlan;
  /** Per block, encoder ([B, H, 1 + lenKeep, 1 + lenKeep]) and decoder ([B, Hd, 1 + L, 1 + L]). */
  probs?: { encoder: Tensor[]; decoder: Tensor[] };
}

export interface MaeCreateOptions {
  /** Seed of the random initialization (default 0). */
  seed?: number;
  /** Seed of the model's own masking generator (default 0). */
  maskSeed?: number;
  /** false: every weight zero (a model about to load a checkpoint skips the host-side draws). */
  randomInit?: boolean;
}

const POS_KEYS = new Set(['pos_embed', 'decoder_pos_embed']);

export class MAE implements Module {
  readonly config: MaeConfig;
  readonly gridH: number;
  readonly gridW: number;
  readonly numPatches: number;
  /** Values per patch, p·p·C. */
  readonly patchDim: number;
  /** The generator masks come from when a forward names none. */
  readonly maskRng: Rng;

  private constructor(
    config: MaeConfig, maskSeed: number,
    readonly patchEmbed: Linear, // weight [D, C, p, p] as the conv stores it; used as [D, p·p·C]
    readonly clsToken: Tensor,
    readonly posEmbed: Tensor,
    readonly blocks: Block[],
    readonly norm: LayerNorm,
    readonly decoderEmbed: Linear,
    readonly maskToken: Tensor,
    readonly decoderPosEmbed: Tensor,
    readonly decoderBlocks: Block[],
    readonly decoderNorm: LayerNorm,
    readonly decoderPred: Linear,
  ) {
    this.config = config;
    const p = config.patchSize;
    this.gridH = config.imgSize[0] / p;
    this.gridW = config.imgSize[1] / p;
    this.numPatches = this.gridH * this.gridW;
    this.patchDim = p * p * config.inChans;
    this.maskRng = new Rng(maskSeed);
    // The model owns its tensors: no enclosing scope frees them.
    keep(this.stateEntries().map(([, t]) => t));
  }

  /** A randomly initialized model, as the reference's initialize_weights (seeded). */
  static create(config: string | MaeConfigInput, options: MaeCreateOptions = {}): MAE {
    const c = typeof config === 'string' ? maeConfig(config) : resolveMaeConfig(config);
    const init = options.randomInit === false ? zeroInit : seededInit(new Rng(options.seed ?? 0));
    const { patchSize: p, inChans: C, embedDim: D, decoderEmbedDim: Dd, eps } = c;
    const L = (c.imgSize[0] / p) * (c.imgSize[1] / p);
    const fanIn = C * p * p;
    // patch_embed.proj: xavier_uniform on the weight viewed as [D, C·p·p]; the bias keeps PyTorch's
    // Conv2d default, U(±1/sqrt(fan_in)) (the reference's _init_weights does not touch convolutions).
    const patchEmbed = new Linear(init.xavierUniform([D, C, p, p], fanIn, D), init.uniform([D], 1 / Math.sqrt(fanIn)));
    const clsToken = init.normal([1, 1, D], 0.02);
    const maskToken = init.normal([1, 1, Dd], 0.02);
    const posEmbed = tensor(sincosPosEmbed2d(D, c.imgSize[0] / p, c.imgSize[1] / p), [1, L + 1, D]);
    const decoderPosEmbed = tensor(sincosPosEmbed2d(Dd, c.imgSize[0] / p, c.imgSize[1] / p), [1, L + 1, Dd]);
    const blocks = Array.from({ length: c.depth }, () => Block.init(init, D, c.numHeads, c.mlpRatio, eps));
    const norm = LayerNorm.init(init, D, eps);
    const decoderEmbed = Linear.init(init, D, Dd);
    const decoderBlocks = Array.from({ length: c.decoderDepth }, () => Block.init(init, Dd, c.decoderNumHeads, c.mlpRatio, eps));
    const decoderNorm = LayerNorm.init(init, Dd, eps);
    const decoderPred = Linear.init(init, Dd, p * p * C);
    return new MAE(c, options.maskSeed ?? 0, patchEmbed, clsToken, posEmbed, blocks, norm, decoderEmbed, maskToken,
      decoderPosEmbed, decoderBlocks, decoderNorm, decoderPred);
  }

  /**
   * A model with a checkpoint's weights (strict). The configuration is the argument, else the one
   * `stateDict()` wrote into the metadata (`amrm.mae.config`).
   */
  static load(sd: StateDict | Map<string, HostTensor>, config?: string | MaeConfigInput, options: Omit<MaeCreateOptions, 'randomInit' | 'seed'> = {}): MAE {
    let cfg = config;
    if (cfg === undefined) {
      const meta = sd instanceof Map ? undefined : sd.metadata?.['amrm.mae.config'];
      if (!meta) throw new Error(`mae.load: no configuration given and none in the checkpoint's metadata (named ones: ${Object.keys(MAE_CONFIGS).join(', ')})`);
      cfg = JSON.parse(meta) as MaeConfigInput;
    }
    // Strict loading overwrites every weight, so none is drawn.
    const model = MAE.create(cfg, { ...options, randomInit: false });
    try {
      model.loadStateDict(sd);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  // ---------------------------------------------------------------- parameters
  /** Every tensor under its reference key, in the order of the reference's state_dict. */
  stateEntries(): NamedTensor[] {
    return [
      ['cls_token', this.clsToken], ['pos_embed', this.posEmbed],
      ['mask_token', this.maskToken], ['decoder_pos_embed', this.decoderPosEmbed],
      ...this.patchEmbed.parameters('patch_embed.proj.'),
      ...this.blocks.flatMap((b, i) => b.parameters(`blocks.${i}.`)),
      ...this.norm.parameters('norm.'),
      ...this.decoderEmbed.parameters('decoder_embed.'),
      ...this.decoderBlocks.flatMap((b, i) => b.parameters(`decoder_blocks.${i}.`)),
      ...this.decoderNorm.parameters('decoder_norm.'),
      ...this.decoderPred.parameters('decoder_pred.'),
    ];
  }

  /** The trainable parameters (everything but the fixed position tables). */
  parameters(prefix = ''): NamedTensor[] {
    return this.stateEntries().filter(([k]) => !POS_KEYS.has(k)).map(([k, t]) => [prefix + k, t]);
  }

  /** Turns gradients for the trainable parameters on (training) or off (frozen, the default). */
  requireGrad(on = true): this {
    for (const [, t] of this.parameters()) t.requireGrad(on);
    return this;
  }

  /** The weights on the host, with the configuration in the metadata (for writeSafetensors). */
  async stateDict(): Promise<StateDict> {
    const tensors = new Map<string, HostTensor>();
    for (const [k, t] of this.stateEntries()) tensors.set(k, { shape: [...t.shape], dtype: 'f32', data: await t.data() });
    return { tensors, metadata: { 'amrm.model': 'mae', 'amrm.mae.config': JSON.stringify(this.config) } };
  }

  /**
   * Copies a checkpoint's weights in (the model keeps its tensors, so references to them stay valid).
   * Strict by default: every key must be present with the model's shape, and no other key may be;
   * the position tables may be absent (they are fixed; the computed ones stay). With strict false,
   * missing and unexpected keys are skipped, but a shape mismatch is still an error.
   */
  loadStateDict(sd: StateDict | Map<string, HostTensor>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const given = sd instanceof Map ? sd : sd.tensors;
    const entries = this.stateEntries();
    const known = new Set(entries.map(([k]) => k));
    const problems: string[] = [];
    for (const [k, t] of entries) {
      const h = given.get(k);
      if (!h) {
        if (strict && !POS_KEYS.has(k)) problems.push(`missing key '${k}' ${fmt(t.shape)}`);
        continue;
      }
      if (h.dtype !== 'f32') problems.push(`'${k}' has dtype ${h.dtype}, expected floating point`);
      else if (h.shape.length !== t.shape.length || h.shape.some((d, i) => d !== t.shape[i])) {
        problems.push(`'${k}' has shape ${fmt(h.shape)}, the model expects ${fmt(t.shape)}`);
      }
    }
    if (strict) for (const k of given.keys()) if (!known.has(k)) problems.push(`unexpected key '${k}'`);
    if (problems.length) {
      const shown = problems.slice(0, 12).join('; ');
      throw new Error(`mae.loadStateDict: ${problems.length} problem${problems.length > 1 ? 's' : ''} with the checkpoint for ` +
        `${describeMae(this.config)}: ${shown}${problems.length > 12 ? `; ... (${problems.length - 12} more)` : ''}`);
    }
    // Upload to a fresh tensor and copy on the GPU: the copy is ordered after work already recorded
    // that reads the old values (a direct queue write would land before it).
    const rt = engine().runtime;
    scope(() => {
      for (const [k, t] of entries) {
        const h = given.get(k);
        if (!h) continue;
        const staged = tensor(h.data as Float32Array, t.shape);
        rt.copy(staged.buffer, t.buffer, t.size * 4);
      }
    });
  }

  dispose(): void {
    for (const [, t] of this.stateEntries()) t.dispose();
  }

  // ---------------------------------------------------------------- forward
  /** Which patches stay visible for a batch, from the options (see MaeForwardOptions). */
  maskPlan(batch: number, o: MaeForwardOptions = {}): MaskPlan {
    const L = this.numPatches;
    if (o.mask) return maskFromHidden(o.mask, batch, L);
    const lenKeep = visibleCount(L, o.maskRatio ?? 0.75, o.maskCount);
    if (o.noise) return maskFromNoise(o.noise, batch, L, lenKeep);
    const rng = o.rng ?? (o.seed !== undefined ? new Rng(o.seed) : this.maskRng);
    const noise = new Float64Array(batch * L);
    for (let i = 0; i < noise.length; i++) noise[i] = rng.next();
    return maskFromNoise(noise, batch, L, lenKeep);
  }

  private checkImage(op: string, img: Tensor): number {
    const [H, W] = this.config.imgSize;
    const C = this.config.inChans;
    if (img.dtype !== 'f32' || img.rank !== 4 || img.shape[1] !== C || img.shape[2] !== H || img.shape[3] !== W) {
      throw new Error(`${op}: images must be f32 [B, ${C}, ${H}, ${W}] for ${describeMae(this.config)}, got ${img.dtype} ${fmt(img.shape)}`);
    }
    return img.shape[0];
  }

  /** Patch embedding of every patch plus its position: [B, L, D]. */
  embedPatches(img: Tensor): Tensor {
    this.checkImage('mae.embedPatches', img);
    const { patchSize: p, embedDim: D } = this.config;
    // The conv weight [D, C, p, p] as a Linear on patchify's (row, col, channel) order.
    const w = reshape(permute(this.patchEmbed.weight, [0, 2, 3, 1]), [D, this.patchDim]);
    const x = matmul(patchify(img, p), w, { transB: true, bias: this.patchEmbed.bias });
    return add(x, reshape(slice(this.posEmbed, [0, 1], [1, this.numPatches + 1]), [this.numPatches, D]));
  }

  /** forward_encoder after masking: the latent [B, 1 + lenKeep, D] (cls first). */
  forwardEncoder(img: Tensor, plan: MaskPlan, returnProbs = false): { latent: Tensor; probs: Tensor[] } {
    const B = this.checkImage('mae.forwardEncoder', img);
    checkPlan(plan, B, this.numPatches);
    const D = this.config.embedDim;
    const idsKeep = tensor(plan.idsKeep, [B, plan.lenKeep], 'i32');
    const visible = gatherRows(this.embedPatches(img), idsKeep);
    const cls = broadcastTo(add(this.clsToken, slice(this.posEmbed, [0, 0], [1, 1])), [B, 1, D]);
    let x = concat([cls, visible], 1);
    const probs: Tensor[] = [];
    for (const blk of this.blocks) {
      const r = blk.forward(x, returnProbs);
      x = r.out;
      if (r.probs) probs.push(r.probs);
    }
    return { latent: this.norm.forward(x), probs };
  }

  /** forward_decoder: a prediction for every patch, [B, L, p·p·C]. */
  forwardDecoder(latent: Tensor, plan: MaskPlan, returnProbs = false): { pred: Tensor; probs: Tensor[] } {
    const B = latent.shape[0], K = plan.lenKeep, L = this.numPatches, Dd = this.config.decoderEmbedDim;
    if (latent.rank !== 3 || latent.shape[1] !== K + 1 || latent.shape[2] !== this.config.embedDim) {
      throw new Error(`mae.forwardDecoder: latent ${fmt(latent.shape)} must be [B, ${K + 1}, ${this.config.embedDim}] for ${K} visible patches`);
    }
    checkPlan(plan, B, L);
    const x = this.decoderEmbed.forward(latent);
    const idsKeep = tensor(plan.idsKeep, [B, K], 'i32');
    // The reference appends mask tokens and unshuffles by ids_restore; equivalently each visible
    // token goes back to its patch and every other patch gets the mask token.
    const tokens = broadcastTo(this.maskToken, [B, L, Dd]);
    const full = scatterRows(tokens, idsKeep, slice(x, [0, 1], [B, K + 1]));
    let h = add(concat([slice(x, [0, 0], [B, 1]), full], 1), this.decoderPosEmbed);
    const probs: Tensor[] = [];
    for (const blk of this.decoderBlocks) {
      const r = blk.forward(h, returnProbs);
      h = r.out;
      if (r.probs) probs.push(r.probs);
    }
    const pred = this.decoderPred.forward(this.decoderNorm.forward(h));
    return { pred: slice(pred, [0, 1], [B, L + 1]), probs };
  }

  /** The reference's forward: loss, pred and mask (and the attention probabilities on request). */
  forward(img: Tensor, o: MaeForwardOptions = {}): MaeOutput {
    const B = this.checkImage('mae.forward', img);
    const plan = this.maskPlan(B, o);
    return scope(() => {
      const enc = this.forwardEncoder(img, plan, o.returnProbs);
      const dec = this.forwardDecoder(enc.latent, plan, o.returnProbs);
      const mask = tensor(plan.mask, [B, this.numPatches]);
      const loss = reconstructionLoss(dec.pred, img, mask, {
        p: this.config.patchSize, normPix: o.normPix ?? this.config.normPixLoss, impl: o.lossImpl,
      });
      const out: MaeOutput = { loss, pred: dec.pred, mask, plan };
      if (o.returnProbs) out.probs = { encoder: enc.probs, decoder: dec.probs };
      return out;
    });
  }
}

/**
 * Every state-dict key with its shape for a configuration, in the reference's order, without
 * allocating anything (parameter counts, checkpoint checks).
 */
export function maeStateShapes(config: string | MaeConfigInput): [string, number[]][] {
  const c = typeof config === 'string' ? maeConfig(config) : resolveMaeConfig(config);
  const { patchSize: p, inChans: C, embedDim: D, decoderEmbedDim: Dd } = c;
  const L = (c.imgSize[0] / p) * (c.imgSize[1] / p);
  const lin = (prefix: string, out: number, inp: number): [string, number[]][] => [[`${prefix}.weight`, [out, inp]], [`${prefix}.bias`, [out]]];
  const ln = (prefix: string, d: number): [string, number[]][] => [[`${prefix}.weight`, [d]], [`${prefix}.bias`, [d]]];
  const block = (prefix: string, d: number): [string, number[]][] => {
    const hidden = Math.floor(d * c.mlpRatio);
    return [...ln(`${prefix}.norm1`, d), ...lin(`${prefix}.attn.qkv`, 3 * d, d), ...lin(`${prefix}.attn.proj`, d, d),
      ...ln(`${prefix}.norm2`, d), ...lin(`${prefix}.mlp.fc1`, hidden, d), ...lin(`${prefix}.mlp.fc2`, d, hidden)];
  };
  return [
    ['cls_token', [1, 1, D]], ['pos_embed', [1, L + 1, D]], ['mask_token', [1, 1, Dd]], ['decoder_pos_embed', [1, L + 1, Dd]],
    ['patch_embed.proj.weight', [D, C, p, p]], ['patch_embed.proj.bias', [D]],
    ...Array.from({ length: c.depth }, (_, i) => block(`blocks.${i}`, D)).flat(),
    ...ln('norm', D), ...lin('decoder_embed', Dd, D),
    ...Array.from({ length: c.decoderDepth }, (_, i) => block(`decoder_blocks.${i}`, Dd)).flat(),
    ...ln('decoder_norm', Dd), ...lin('decoder_pred', p * p * C, Dd),
  ];
}

function checkPlan(plan: MaskPlan, batch: number, patches: number): void {
  if (plan.batch !== batch || plan.patches !== patches || plan.idsKeep.length !== batch * plan.lenKeep) {
    throw new Error(`mae: mask plan for B ${plan.batch}, L ${plan.patches} does not fit B ${batch}, L ${patches}`);
  }
}

export function describeMae(c: MaeConfig): string {
  return `MAE ${c.imgSize[0]}×${c.imgSize[1]} p${c.patchSize} C${c.inChans} enc ${c.embedDim}×${c.depth} (${c.numHeads} heads) ` +
    `dec ${c.decoderEmbedDim}×${c.decoderDepth} (${c.decoderNumHeads} heads)`;
}
