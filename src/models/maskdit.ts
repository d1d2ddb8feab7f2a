// MaskDiT (Zheng et al., "Fast Training of Diffusion Models with Masked Transformers"; reference
// code Anima-Lab/MaskDiT, models/maskdit.py and train_utils/loss.py) on the engine's ops and the
// shared model parts: a DiT split like an MAE, wrapped in EDM's preconditioning.
//   F(x; c):  x_embedder (patchify + Linear) + pos_embed; the visible tokens only when masked;
//             encoder DiT blocks conditioned on c = t_embedder(c_noise) (+ y_embedder(label));
//             decoder_layer (adaLN + Linear to the decoder width); mask_token at hidden positions;
//             + decoder_pos_embed; decoder DiT blocks; final_layer (adaLN + Linear to p·p·C).
//   D(x; σ) = c_skip·x + c_out·F(c_in·x; ln(σ)/4), σ_data 0.5, images in [−1, 1].
//   loss:    λ(σ)·(D(y + n; σ) − y)² averaged over the visible patches, plus maeLossCoef × the
//            per-patch normalized MSE of D against the noisy y + n over the hidden patches.
// The reference drops tokens only in training mode; purification needs the masked path at test
// time, so this model masks whenever a mask (or a ratio above 0) is given, and never otherwise.
// Keys are the reference's under its EDMPrecond wrapper's `model.` prefix.
import { Tensor, scope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { add, affine, mul, mulScalar, silu } from '../engine/ops/elementwise.js';
import { destandardizePatches, patchify, reconstructionLoss, unpatchify } from '../engine/ops/patch.js';
import { Rng } from '../engine/random.js';
import { fmt } from '../engine/shape.js';
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { entries, loadModel, type StateEntry } from './module.js';
import { PatchModel } from './patch_model.js';
import { PatchEmbed, seededInit, zeroInit } from './layers.js';
import { runBlocks, type ProbeOptions } from './vit.js';
import { DiTBlock, LabelEmbedder, ModulatedLinear, TimestepEmbedder, holdConditioning, releaseConditioning } from './dit.js';
import { sincosPosEmbed2d } from './pos_embed.js';
import { checkPlan, keepVisible, restoreWithMaskTokens, type MaskPlan, type MaskSource } from './masking.js';
import {
  MASKDIT_CONFIGS, describeMaskDit, maskDitConfig, resolveMaskDitConfig, type MaskDitConfig, type MaskDitConfigInput,
} from './maskdit_configs.js';

export interface MaskDitCondition {
  /** Noise level σ (> 0) of each image, or one for the batch. */
  sigma: number | ArrayLike<number>;
  /** Class of each image, −1 for none; absent: unconditional (zero label vectors). */
  labels?: ArrayLike<number>;
}

/** Masked when `mask` or `noise` is given or `maskRatio` > 0; otherwise every token is seen. */
export interface MaskDitForwardOptions extends MaskDitCondition, MaskSource, ProbeOptions {}

export interface MaskDitLossOptions extends MaskDitForwardOptions {
  /** EDM's n: the noise added to the clean images, already scaled by σ, [B, C, H, W] values. */
  diffusionNoise: ArrayLike<number> | Tensor;
}

export interface MaskDitDenoised {
  /** D(x; σ) in patch layout [B, L, p·p·C] (patchify's order). */
  patches: Tensor;
  /** The mask plan, when masked. */
  plan?: MaskPlan;
}

export interface MaskDitLoss {
  /** Scalar: the batch mean of each image's denoising term plus maeLossCoef × its MAE term. */
  loss: Tensor;
  /** The denoising term alone (batch mean). */
  denoising: Tensor;
  /** The MAE term alone (batch mean; absent when nothing is masked or maeLossCoef is 0). */
  mae?: Tensor;
  /** D(y + n; σ) in patch layout. */
  patches: Tensor;
  plan?: MaskPlan;
}

export interface MaskDitCreateOptions {
  /** Seed of the random initialization (default 0). */
  seed?: number;
  /** Seed of the model's own masking generator (default 0). */
  maskSeed?: number;
  /** false: every weight zero (a model about to load a checkpoint skips the host-side draws). */
  randomInit?: boolean;
}

interface MaskDitParts {
  xEmbedder: PatchEmbed;
  tEmbedder: TimestepEmbedder;
  yEmbedder?: LabelEmbedder;
  posEmbed: Tensor;
  blocks: DiTBlock[];
  decoderLayer: ModulatedLinear;
  maskToken: Tensor;
  decoderPosEmbed: Tensor;
  decoderBlocks: DiTBlock[];
  finalLayer: ModulatedLinear;
}

/** The EDM preconditioning coefficients of one noise level. */
export function edmCoefficients(sigma: number, sigmaData: number): { cSkip: number; cOut: number; cIn: number; cNoise: number; weight: number } {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`maskdit: noise level σ ${sigma} must be a positive finite number`);
  const s2 = sigma * sigma, d2 = sigmaData * sigmaData;
  return {
    cSkip: d2 / (s2 + d2), cOut: (sigma * sigmaData) / Math.sqrt(s2 + d2), cIn: 1 / Math.sqrt(s2 + d2), cNoise: Math.log(sigma) / 4,
    // The loss weight λ(σ) = (σ² + σ_d²) / (σ·σ_d)².
    weight: (s2 + d2) / (s2 * d2),
  };
}

export class MaskDiT extends PatchModel {
  override readonly modelName = 'maskdit';
  readonly config: MaskDitConfig;
  readonly xEmbedder: PatchEmbed;
  readonly tEmbedder: TimestepEmbedder;
  readonly yEmbedder?: LabelEmbedder;
  readonly posEmbed: Tensor;
  readonly blocks: DiTBlock[];
  readonly decoderLayer: ModulatedLinear;
  readonly maskToken: Tensor;
  readonly decoderPosEmbed: Tensor;
  readonly decoderBlocks: DiTBlock[];
  readonly finalLayer: ModulatedLinear;

  private constructor(config: MaskDitConfig, maskSeed: number, parts: MaskDitParts) {
    // The reference's default mask ratio: 0.5.
    super(config, maskSeed, 0.5);
    this.config = config;
    ({
      xEmbedder: this.xEmbedder, tEmbedder: this.tEmbedder, yEmbedder: this.yEmbedder, posEmbed: this.posEmbed, blocks: this.blocks,
      decoderLayer: this.decoderLayer, maskToken: this.maskToken, decoderPosEmbed: this.decoderPosEmbed,
      decoderBlocks: this.decoderBlocks, finalLayer: this.finalLayer,
    } = parts);
    this.own();
  }

  /** A randomly initialized model, as the reference's initialize_weights (seeded). */
  static create(config: string | MaskDitConfigInput, options: MaskDitCreateOptions = {}): MaskDiT {
    const c = typeof config === 'string' ? maskDitConfig(config) : resolveMaskDitConfig(config);
    const init = options.randomInit === false ? zeroInit : seededInit(new Rng(options.seed ?? 0));
    const { patchSize: p, inChans: C, hiddenSize: D, decoderHiddenSize: Dd, eps, mlpRatio } = c;
    const [gh, gw] = [c.imgSize[0] / p, c.imgSize[1] / p];
    const L = gh * gw;
    return new MaskDiT(c, options.maskSeed ?? 0, {
      xEmbedder: PatchEmbed.init(init, C, D, p, { zeroBias: true }),
      tEmbedder: TimestepEmbedder.init(init, D, c.freqDim),
      yEmbedder: c.numClasses ? LabelEmbedder.init(init, c.numClasses, D) : undefined,
      // Learned tables start from the fixed sin-cos values.
      posEmbed: tensor(sincosPosEmbed2d(D, gh, gw, false), [1, L, D]),
      blocks: Array.from({ length: c.depth }, () => DiTBlock.init(init, D, D, c.numHeads, { mlpRatio, eps })),
      decoderLayer: ModulatedLinear.init(init, D, D, Dd, eps),
      maskToken: init.normal([1, 1, Dd], 0.02),
      decoderPosEmbed: tensor(sincosPosEmbed2d(Dd, gh, gw, false), [1, L, Dd]),
      decoderBlocks: Array.from({ length: c.decoderDepth }, () => DiTBlock.init(init, Dd, D, c.decoderNumHeads, { mlpRatio, eps })),
      finalLayer: ModulatedLinear.init(init, Dd, D, p * p * C, eps),
    });
  }

  /**
   * A model with a checkpoint's weights (strict). The configuration is the argument, else the one
   * `stateDict()` wrote into the metadata (`amrm.maskdit.config`).
   */
  static load(sd: StateDict | Map<string, HostTensor>, config?: string | MaskDitConfigInput, options: Omit<MaskDitCreateOptions, 'randomInit' | 'seed'> = {}): MaskDiT {
    return loadModel(sd, config, {
      metaKey: 'amrm.maskdit.config', what: 'maskdit', named: Object.keys(MASKDIT_CONFIGS),
      build: (c) => MaskDiT.create(c, { ...options, randomInit: false }),
    });
  }

  // ---------------------------------------------------------------- state
  stateEntries(): StateEntry[] {
    const pos = this.config.learnPosEmbed ? 'param' : 'fixed';
    return entries([
      ...this.xEmbedder.parameters('x_embedder.proj.'),
      ...this.tEmbedder.parameters('t_embedder.'),
      ...(this.yEmbedder?.parameters('y_embedder.') ?? []),
      ...this.blocks.flatMap((b, i) => b.parameters(`blocks.${i}.`)),
      ...this.decoderLayer.parameters('decoder_layer.'),
      ['mask_token', this.maskToken],
      ...this.decoderBlocks.flatMap((b, i) => b.parameters(`decoder_blocks.${i}.`)),
      ...this.finalLayer.parameters('final_layer.'),
    ]).concat(entries([['pos_embed', this.posEmbed], ['decoder_pos_embed', this.decoderPosEmbed]], pos))
      .map((e) => ({ ...e, key: `model.${e.key}` }));
  }

  protected override stateMetadata(): Record<string, string> {
    return { 'amrm.model': 'maskdit', 'amrm.maskdit.config': JSON.stringify(this.config) };
  }

  // ---------------------------------------------------------------- forward
  private planFor(batch: number, o: MaskSource): MaskPlan | undefined {
    return o.mask || o.noise || (o.maskRatio ?? 0) > 0 ? this.maskPlan(batch, o) : undefined;
  }

  checkImages(op: string, img: Tensor): number {
    const [H, W] = this.config.imgSize, C = this.config.inChans;
    if (img.dtype !== 'f32' || img.rank !== 4 || img.shape[1] !== C || img.shape[2] !== H || img.shape[3] !== W) {
      throw new Error(`${op}: images must be f32 [B, ${C}, ${H}, ${W}] for ${describeMaskDit(this.config)}, got ${img.dtype} ${fmt(img.shape)}`);
    }
    return img.shape[0];
  }

  private sigmas(op: string, sigma: number | ArrayLike<number>, batch: number): number[] {
    const s = typeof sigma === 'number' ? Array<number>(batch).fill(sigma) : Array.from(sigma);
    if (s.length !== batch) throw new Error(`${op}: ${s.length} noise levels for ${batch} images`);
    return s;
  }

  /**
   * SiLU of the conditioning c = t_embedder(ln σ / 4) (+ y_embedder(labels)), [B, D]. While the
   * model is frozen (a purification's loop) each conditioning, per noise levels and labels, and its
   * adaLN chunks are made once, off the tape, and reused by every forward until the loop ends.
   */
  conditioning(cNoise: number[], labels?: ArrayLike<number>): Tensor {
    const key = `conditioning ${cNoise.join(',')}|${labels ? Array.from(labels).join(',') : ''}`;
    return this.weightConstant(key, () => this.makeConditioning(cNoise, labels), { hold: holdConditioning, release: releaseConditioning });
  }

  private makeConditioning(cNoise: number[], labels?: ArrayLike<number>): Tensor {
    const B = cNoise.length;
    let c = this.tEmbedder.forward(cNoise);
    if (this.yEmbedder) c = add(c, this.yEmbedder.forward(labels ?? Array<number>(B).fill(-1)));
    else if (labels && Array.from(labels).some((y) => y !== -1)) throw new Error('maskdit: labels given to an unconditional model (numClasses 0)');
    return silu(c);
  }

  /** F(x_in; c): the network's raw output [B, L, p·p·C] for preconditioned inputs x_in. */
  network(xIn: Tensor, cAct: Tensor, plan: MaskPlan | undefined, o: ProbeOptions = {}): Tensor {
    const B = this.checkImages('maskdit.network', xIn);
    let h = add(this.xEmbedder.forward(xIn), this.posEmbed);
    if (plan) { checkPlan(plan, B, this.numPatches); h = keepVisible(h, plan); }
    h = runBlocks(this.blocks.map((b) => b.bind(cAct)), h, 'encoder', o);
    let z = this.decoderLayer.forward(h, cAct);
    if (plan) z = restoreWithMaskTokens(z, this.maskToken, plan);
    z = runBlocks(this.decoderBlocks.map((b) => b.bind(cAct)), add(z, this.decoderPosEmbed), 'decoder', o);
    return this.finalLayer.forward(z, cAct);
  }

  /** D(x; σ) for noisy images x [B, C, H, W] in [−1, 1] units, in patch layout. */
  denoisePatches(x: Tensor, o: MaskDitForwardOptions): MaskDitDenoised {
    const B = this.checkImages('maskdit.denoise', x);
    const sig = this.sigmas('maskdit.denoise', o.sigma, B);
    const k = sig.map((s) => edmCoefficients(s, this.config.sigmaData));
    const plan = this.planFor(B, o);
    const patches = scope(() => {
      const perImage = (v: (c: typeof k[number]) => number, shape: number[]): Tensor => tensor(k.map(v), shape);
      const F = this.network(mul(x, perImage((c) => c.cIn, [B, 1, 1, 1])), this.conditioning(k.map((c) => c.cNoise), o.labels), plan, o);
      return add(mul(patchify(x, this.config.patchSize), perImage((c) => c.cSkip, [B, 1, 1])), mul(F, perImage((c) => c.cOut, [B, 1, 1])));
    });
    return { patches, plan };
  }

  /** D(x; σ) as images [B, C, H, W]. */
  denoise(x: Tensor, o: MaskDitForwardOptions): { images: Tensor; plan?: MaskPlan } {
    const { patches, plan } = this.denoisePatches(x, o);
    const [H, W] = this.config.imgSize;
    const images = unpatchify(patches, this.config.patchSize, this.config.inChans, H, W);
    patches.dispose();
    return { images, plan };
  }

  /**
   * D's patches (from denoisePatches of noisy images x under plan) as a picture [B, C, H, W] in
   * [−1, 1] units. Visible patches are D itself; the hidden ones were trained against the noisy
   * patch standardized per patch (the loss's MAE term), so they are shown at x's own per-patch mean
   * and spread.
   */
  picture(patches: Tensor, x: Tensor, plan?: MaskPlan): Tensor {
    const [H, W] = this.config.imgSize, p = this.config.patchSize, C = this.config.inChans;
    return scope(() => {
      if (!plan) return unpatchify(patches, p, C, H, W);
      const B = x.shape[0], L = plan.mask.length / B;
      const hidden = tensor(plan.mask, [B, L, 1]), shown = tensor(plan.mask.map((m) => 1 - m), [B, L, 1]);
      return unpatchify(add(mul(patches, shown), mul(destandardizePatches(patches, x, p), hidden)), p, C, H, W);
    });
  }

  /**
   * The training loss (train_utils/loss.py's EDMLoss with σ, n and the mask given) for clean images
   * y [B, C, H, W] in [−1, 1]; gradients reach y through both D's input y + n and the targets.
   */
  loss(y: Tensor, o: MaskDitLossOptions): MaskDitLoss {
    const B = this.checkImages('maskdit.loss', y);
    const sig = this.sigmas('maskdit.loss', o.sigma, B);
    return scope(() => {
      const n = o.diffusionNoise instanceof Tensor ? o.diffusionNoise : tensor(o.diffusionNoise, y.shape);
      if (n.size !== y.size) throw new Error(`maskdit.loss: diffusion noise ${fmt(n.shape)} must match the images ${fmt(y.shape)}`);
      const x = add(y, n);
      const { patches, plan } = this.denoisePatches(x, o);
      return { ...this.lossTerms(patches, y, x, sig, plan?.mask), patches, plan };
    });
  }

  /**
   * The training loss of D's output `patches` (patch layout) for clean images y and their noisy
   * versions x = y + n, [B, C, H, W] in [−1, 1]: what `loss` adds up. `hidden` [B, L] (1 = hidden)
   * is the mask D ran under, absent when nothing was masked. Every image keeps the same number of
   * patches, so applied to one image's slices it gives that image's own loss.
   */
  lossTerms(patches: Tensor, y: Tensor, x: Tensor, sigmas: readonly number[], hidden?: ArrayLike<number>): Pick<MaskDitLoss, 'loss' | 'denoising' | 'mae'> {
    const B = this.checkImages('maskdit.lossTerms', y);
    if (sigmas.length !== B) throw new Error(`maskdit.lossTerms: ${sigmas.length} noise levels for ${B} images`);
    const L = this.numPatches, p = this.config.patchSize;
    if (hidden && hidden.length !== B * L) throw new Error(`maskdit.lossTerms: mask of ${hidden.length} values for ${B} images of ${L} patches`);
    return scope(() => {
      // λ(σ) per image, applied as √λ to both sides of the squared error.
      const root = sigmas.map((s) => Math.sqrt(edmCoefficients(s, this.config.sigmaData).weight));
      const visible = new Float32Array(B * L).fill(1);
      let anyHidden = false;
      if (hidden) for (let i = 0; i < visible.length; i++) { visible[i] = 1 - hidden[i]; anyHidden ||= hidden[i] !== 0; }
      // Every image keeps the same number of patches, so the mean over all visible patches of the
      // batch is the batch mean of each image's mean.
      const denoising = reconstructionLoss(mul(patches, tensor(root, [B, 1, 1])), mul(y, tensor(root, [B, 1, 1, 1])), tensor(visible, [B, L]), { p, normPix: false });
      let mae: Tensor | undefined;
      let loss = denoising;
      if (hidden && anyHidden && this.config.maeLossCoef > 0) {
        mae = reconstructionLoss(patches, x, tensor(hidden, [B, L]), { p, normPix: true });
        loss = add(denoising, mulScalar(mae, this.config.maeLossCoef));
      }
      return { loss, denoising, mae };
    });
  }
}

/** EDM's n for a batch: per image σ_b times standard normal values, `per` values per image. */
export function diffusionNoise(rng: Rng, sigmas: readonly number[], per: number): Float32Array {
  const n = new Float32Array(sigmas.length * per);
  for (let b = 0; b < sigmas.length; b++) for (let i = 0; i < per; i++) n[b * per + i] = sigmas[b] * rng.normal();
  return n;
}

/** Training's noise levels: σ = exp(P_mean + P_std·N(0, 1)) per image (EDM's log-normal, −1.2 and 1.2). */
export function trainingSigmas(rng: Rng, batch: number, pMean = -1.2, pStd = 1.2): number[] {
  return Array.from({ length: batch }, () => Math.exp(pMean + pStd * rng.normal()));
}

/** Images in [0, 1] (the data and the classifiers) to MaskDiT's [−1, 1]: 2x − 1 (differentiable). */
export const toModelRange = (x01: Tensor): Tensor => affine(x01, 2, -1);

/** Every state-dict key with its shape for a configuration, without allocating anything. */
export function maskDitStateShapes(config: string | MaskDitConfigInput): [string, number[]][] {
  const c = typeof config === 'string' ? maskDitConfig(config) : resolveMaskDitConfig(config);
  const { patchSize: p, inChans: C, hiddenSize: D, decoderHiddenSize: Dd } = c;
  const L = (c.imgSize[0] / p) * (c.imgSize[1] / p);
  const lin = (prefix: string, out: number, inp: number, bias = true): [string, number[]][] =>
    bias ? [[`${prefix}.weight`, [out, inp]], [`${prefix}.bias`, [out]]] : [[`${prefix}.weight`, [out, inp]]];
  const block = (prefix: string, d: number): [string, number[]][] => {
    const hidden = Math.floor(d * c.mlpRatio);
    return [...lin(`${prefix}.attn.qkv`, 3 * d, d), ...lin(`${prefix}.attn.proj`, d, d), ...lin(`${prefix}.mlp.fc1`, hidden, d),
      ...lin(`${prefix}.mlp.fc2`, d, hidden), ...lin(`${prefix}.adaLN_modulation.1`, 6 * d, D)];
  };
  const shapes: [string, number[]][] = [
    ['x_embedder.proj.weight', [D, C, p, p]], ['x_embedder.proj.bias', [D]],
    ...lin('t_embedder.mlp.0', D, c.freqDim), ...lin('t_embedder.mlp.2', D, D),
    ...(c.numClasses ? lin('y_embedder.embedding_table', D, c.numClasses, false) : []),
    ...Array.from({ length: c.depth }, (_, i) => block(`blocks.${i}`, D)).flat(),
    ...lin('decoder_layer.linear', Dd, D), ...lin('decoder_layer.adaLN_modulation.1', 2 * D, D),
    ['mask_token', [1, 1, Dd]],
    ...Array.from({ length: c.decoderDepth }, (_, i) => block(`decoder_blocks.${i}`, Dd)).flat(),
    ...lin('final_layer.linear', p * p * C, Dd), ...lin('final_layer.adaLN_modulation.1', 2 * Dd, D),
    ['pos_embed', [1, L, D]], ['decoder_pos_embed', [1, L, Dd]],
  ];
  return shapes.map(([k, s]) => [`model.${k}`, s]);
}
