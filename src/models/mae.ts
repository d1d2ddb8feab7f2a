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
import { Tensor, scope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { add, broadcastTo } from '../engine/ops/elementwise.js';
import { concat, reshape, slice } from '../engine/ops/layout.js';
import { reconstructionLoss, type PatchLossImpl } from '../engine/ops/patch.js';
import { Rng } from '../engine/random.js';
import { fmt } from '../engine/shape.js';
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { entries, loadModel, type StateEntry } from './module.js';
import { PatchModel } from './patch_model.js';
import { LayerNorm, Linear, PatchEmbed, seededInit, zeroInit } from './layers.js';
import { Block, runBlocks, type ProbeOptions } from './vit.js';
import { sincosPosEmbed2d } from './pos_embed.js';
import { checkPlan, keepVisible, restoreWithMaskTokens, type MaskPlan, type MaskSource } from './masking.js';
import { MAE_CONFIGS, maeConfig, resolveMaeConfig, type MaeConfig, type MaeConfigInput } from './mae_configs.js';

// ---------------------------------------------------------------- the model
export interface MaeForwardOptions extends ProbeOptions, MaskSource {
  /** Loss on per-patch normalized targets (default: the config's normPixLoss). */
  normPix?: boolean;
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
}

export interface MaeCreateOptions {
  /** Seed of the random initialization (default 0). */
  seed?: number;
  /** Seed of the model's own masking generator (default 0). */
  maskSeed?: number;
  /** false: every weight zero (a model about to load a checkpoint skips the host-side draws). */
  randomInit?: boolean;
}

/** The MAE's parts, as `MAE.create` builds them. */
interface MaeParts {
  patchEmbed: PatchEmbed;
  clsToken: Tensor;
  posEmbed: Tensor;
  blocks: Block[];
  norm: LayerNorm;
  decoderEmbed: Linear;
  maskToken: Tensor;
  decoderPosEmbed: Tensor;
  decoderBlocks: Block[];
  decoderNorm: LayerNorm;
  decoderPred: Linear;
}

export class MAE extends PatchModel {
  override readonly modelName = 'mae';
  readonly config: MaeConfig;
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: Tensor;
  readonly posEmbed: Tensor;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  readonly decoderEmbed: Linear;
  readonly maskToken: Tensor;
  readonly decoderPosEmbed: Tensor;
  readonly decoderBlocks: Block[];
  readonly decoderNorm: LayerNorm;
  readonly decoderPred: Linear;

  private constructor(config: MaeConfig, maskSeed: number, parts: MaeParts) {
    // The reference's default mask ratio: 0.75.
    super(config, maskSeed, 0.75);
    this.config = config;
    ({
      patchEmbed: this.patchEmbed, clsToken: this.clsToken, posEmbed: this.posEmbed, blocks: this.blocks, norm: this.norm,
      decoderEmbed: this.decoderEmbed, maskToken: this.maskToken, decoderPosEmbed: this.decoderPosEmbed,
      decoderBlocks: this.decoderBlocks, decoderNorm: this.decoderNorm, decoderPred: this.decoderPred,
    } = parts);
    this.own();
  }

  /** A randomly initialized model, as the reference's initialize_weights (seeded). */
  static create(config: string | MaeConfigInput, options: MaeCreateOptions = {}): MAE {
    const c = typeof config === 'string' ? maeConfig(config) : resolveMaeConfig(config);
    const init = options.randomInit === false ? zeroInit : seededInit(new Rng(options.seed ?? 0));
    const { patchSize: p, inChans: C, embedDim: D, decoderEmbedDim: Dd, eps, mlpRatio } = c;
    const [gh, gw] = [c.imgSize[0] / p, c.imgSize[1] / p];
    const L = gh * gw;
    // Draw order: the reference's initialize_weights (patch embedding, tokens, then modules in order).
    const patchEmbed = PatchEmbed.init(init, C, D, p);
    const clsToken = init.normal([1, 1, D], 0.02);
    const maskToken = init.normal([1, 1, Dd], 0.02);
    return new MAE(c, options.maskSeed ?? 0, {
      patchEmbed, clsToken, maskToken,
      posEmbed: tensor(sincosPosEmbed2d(D, gh, gw), [1, L + 1, D]),
      decoderPosEmbed: tensor(sincosPosEmbed2d(Dd, gh, gw), [1, L + 1, Dd]),
      blocks: Array.from({ length: c.depth }, () => Block.init(init, D, c.numHeads, { eps, mlpRatio })),
      norm: LayerNorm.init(init, D, { eps }),
      decoderEmbed: Linear.init(init, D, Dd),
      decoderBlocks: Array.from({ length: c.decoderDepth }, () => Block.init(init, Dd, c.decoderNumHeads, { eps, mlpRatio })),
      decoderNorm: LayerNorm.init(init, Dd, { eps }),
      decoderPred: Linear.init(init, Dd, p * p * C),
    });
  }

  /**
   * A model with a checkpoint's weights (strict). The configuration is the argument, else the one
   * `stateDict()` wrote into the metadata (`amrm.mae.config`).
   */
  static load(sd: StateDict | Map<string, HostTensor>, config?: string | MaeConfigInput, options: Omit<MaeCreateOptions, 'randomInit' | 'seed'> = {}): MAE {
    return loadModel(sd, config, {
      metaKey: 'amrm.mae.config', what: 'mae', named: Object.keys(MAE_CONFIGS),
      build: (c) => MAE.create(c, { ...options, randomInit: false }),
    });
  }

  // ---------------------------------------------------------------- state
  /**
   * Every tensor under its reference key, in the order of the reference's state_dict; the position
   * tables are fixed (computed, not trained, and may be absent from a checkpoint).
   */
  stateEntries(): StateEntry[] {
    return [
      ...entries([['cls_token', this.clsToken]]), ...entries([['pos_embed', this.posEmbed]], 'fixed'),
      ...entries([['mask_token', this.maskToken]]), ...entries([['decoder_pos_embed', this.decoderPosEmbed]], 'fixed'),
      ...entries(this.patchEmbed.parameters('patch_embed.proj.')),
      ...entries(this.blocks.flatMap((b, i) => b.parameters(`blocks.${i}.`))),
      ...entries(this.norm.parameters('norm.')),
      ...entries(this.decoderEmbed.parameters('decoder_embed.')),
      ...entries(this.decoderBlocks.flatMap((b, i) => b.parameters(`decoder_blocks.${i}.`))),
      ...entries(this.decoderNorm.parameters('decoder_norm.')),
      ...entries(this.decoderPred.parameters('decoder_pred.')),
    ];
  }

  protected override stateMetadata(): Record<string, string> {
    return { 'amrm.model': 'mae', 'amrm.mae.config': JSON.stringify(this.config) };
  }

  // ---------------------------------------------------------------- forward
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
    const D = this.config.embedDim;
    const pos = this.weightConstant('patch positions', () => reshape(slice(this.posEmbed, [0, 1], [1, this.numPatches + 1]), [this.numPatches, D]));
    return add(this.patchEmbed.forward(img), pos);
  }

  /** forward_encoder after masking: the latent [B, 1 + lenKeep, D] (cls first). */
  forwardEncoder(img: Tensor, plan: MaskPlan, o: ProbeOptions = {}): Tensor {
    const B = this.checkImage('mae.forwardEncoder', img);
    checkPlan(plan, B, this.numPatches);
    const D = this.config.embedDim;
    const visible = keepVisible(this.embedPatches(img), plan);
    const cls = broadcastTo(this.weightConstant('cls with position', () => add(this.clsToken, slice(this.posEmbed, [0, 0], [1, 1]))), [B, 1, D]);
    return this.norm.forward(runBlocks(this.blocks, concat([cls, visible], 1), 'encoder', o));
  }

  /** forward_decoder: a prediction for every patch, [B, L, p·p·C]. */
  forwardDecoder(latent: Tensor, plan: MaskPlan, o: ProbeOptions = {}): Tensor {
    const B = latent.shape[0], K = plan.lenKeep, L = this.numPatches;
    if (latent.rank !== 3 || latent.shape[1] !== K + 1 || latent.shape[2] !== this.config.embedDim) {
      throw new Error(`mae.forwardDecoder: latent ${fmt(latent.shape)} must be [B, ${K + 1}, ${this.config.embedDim}] for ${K} visible patches`);
    }
    checkPlan(plan, B, L);
    // The cls token stays in front of the restored patches.
    const h = add(restoreWithMaskTokens(this.decoderEmbed.forward(latent), this.maskToken, plan, 1), this.decoderPosEmbed);
    const pred = this.decoderPred.forward(this.decoderNorm.forward(runBlocks(this.decoderBlocks, h, 'decoder', o)));
    return slice(pred, [0, 1], [B, L + 1]);
  }

  /** The reference's forward: loss, pred and mask; a probe sees every attention layer on the way. */
  forward(img: Tensor, o: MaeForwardOptions = {}): MaeOutput {
    const B = this.checkImage('mae.forward', img);
    const plan = this.maskPlan(B, o);
    return scope(() => {
      const pred = this.forwardDecoder(this.forwardEncoder(img, plan, o), plan, o);
      const mask = tensor(plan.mask, [B, this.numPatches]);
      const loss = reconstructionLoss(pred, img, mask, {
        p: this.config.patchSize, normPix: o.normPix ?? this.config.normPixLoss, impl: o.lossImpl,
      });
      return { loss, pred, mask, plan };
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


export function describeMae(c: MaeConfig): string {
  return `MAE ${c.imgSize[0]}×${c.imgSize[1]} p${c.patchSize} C${c.inChans} enc ${c.embedDim}×${c.depth} (${c.numHeads} heads) ` +
    `dec ${c.decoderEmbedDim}×${c.decoderDepth} (${c.decoderNumHeads} heads)`;
}
