// A masked reconstruction model as the attention analyses see it: the theorem workbench, the
// figures, the demo's picture and the AMV oracle work on this one interface, which both purifier
// families satisfy through a thin adapter:
//   MaeReconstructor      the MAE itself: its forward, loss and prediction;
//   MaskDitReconstructor  MaskDiT at a fixed noise level σ_pur with a fixed, seeded diffusion-noise
//                         draw: the model sees 2x − 1 + n, so two images (clean and attacked) compared
//                         under the same mask are also compared under the same noise.
// Images are in [0, 1] on both sides of the interface.
import { Tensor, scope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { add, affine } from '../engine/ops/elementwise.js';
import { slice } from '../engine/ops/layout.js';
import { reconstructionLoss, unpatchify } from '../engine/ops/patch.js';
import { noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import { describeMae, type MAE } from './mae.js';
import type { MaeConfig } from './mae_configs.js';
import { toModelRange, type MaskDiT } from './maskdit.js';
import { describeMaskDit, type MaskDitConfig } from './maskdit_configs.js';
import { maskFromHidden, type MaskCountRule, type MaskPlan, type MaskSource } from './masking.js';
import { attentionCollector, type Attention, type ProbeOptions } from './vit.js';

export type ReconstructorFamily = 'mae' | 'maskdit';

/** One attention layer of a reconstructor, in forward order (the encoder's, then the decoder's). */
export interface AttentionLayer {
  stack: 'encoder' | 'decoder';
  /** Its index in the stack (the probe record's `layer`). */
  index: number;
  /** enc0, enc1, …, dec0, …: how figures and reports name it. */
  name: string;
  /** The layer itself, for its weights (`attention.qkWeights()`) and head sizes. */
  attention: Attention;
}

/** The name of a probe record's layer: enc{i} or dec{i}. */
export const attentionLayerName = (stack: string, index: number): string =>
  `${stack === 'encoder' ? 'enc' : stack === 'decoder' ? 'dec' : stack}${index}`;

export interface MaskedForwardOptions extends MaskSource, ProbeOptions {
  /** Also each image's own loss, from the same forward. */
  perImage?: boolean;
}

export interface MaskedForward {
  /** Scalar: the reconstruction loss, the batch mean of the images' own losses. */
  loss: Tensor;
  /** With `perImage`: one scalar per image, its loss alone. */
  perImage?: Tensor[];
  /** The mask the forward ran under (its idsKeep order is the encoder's token order). */
  plan: MaskPlan;
}

export interface MaskedReconstructor {
  readonly family: ReconstructorFamily;
  /** The model's kind in words: 'MAE' or 'MaskDiT' ("the MAE's reconstruction"). */
  readonly label: string;
  /** The model and its fixed setting (MaskDiT: σ_pur and the noise seed), for reports. */
  readonly description: string;
  /** Its configuration, for JSON reports. */
  readonly config: MaeConfig | MaskDitConfig;
  /** [C, H, W] of the images it takes (values in [0, 1]). */
  readonly inputShape: readonly [number, number, number];
  readonly patchSize: number;
  readonly gridH: number;
  readonly gridW: number;
  readonly numPatches: number;
  /** Tokens before the patch tokens in every attention layer: the MAE's cls token (1); MaskDiT has none (0). */
  readonly prefixTokens: number;
  /** Every attention layer in forward order. */
  readonly layers: readonly AttentionLayer[];
  /** Which patches stay visible for a batch (a given mask, or one drawn from a seed or generator at a ratio). */
  maskPlan(batch: number, o: MaskSource): MaskPlan;
  /**
   * A forward of images x [B, C, H, W] in [0, 1] under the mask the options give, reporting every
   * attention layer to the probe; the loss is the model's reconstruction loss (on the tape when x
   * needs a gradient).
   */
  forward(x: Tensor, o: MaskedForwardOptions): MaskedForward;
  /**
   * The model's picture of every patch of x under the mask, as images [B, C, H, W] in [0, 1] units
   * (not clamped; the hidden patches are its prediction from the visible ones), no gradient.
   */
  reconstruct(x: Tensor, o: MaskSource): { images: Tensor; plan: MaskPlan };
  /** The same model under another diffusion-noise draw (the MAE has none: itself). */
  withNoiseSeed(seed: number): MaskedReconstructor;
}

function stackLayers(encoder: readonly { attn: Attention }[], decoder: readonly { attn: Attention }[]): AttentionLayer[] {
  return [
    ...encoder.map((b, index) => ({ stack: 'encoder' as const, index, name: attentionLayerName('encoder', index), attention: b.attn })),
    ...decoder.map((b, index) => ({ stack: 'decoder' as const, index, name: attentionLayerName('decoder', index), attention: b.attn })),
  ];
}

/** Every image's own loss from a batch's forward: `lossOf` applied to image b's slices. */
function perImageLosses(batch: number, lossOf: (b: number) => Tensor): Tensor[] {
  return Array.from({ length: batch }, (_, b) => lossOf(b));
}

const one = (t: Tensor, b: number): Tensor => slice(t, [b], [b + 1]);

/** What both families share: an image grid of patches and two stacks of attention blocks. */
interface PatchTransformer {
  config: { inChans: number; imgSize: [number, number]; patchSize: number };
  gridH: number;
  gridW: number;
  numPatches: number;
  blocks: readonly { attn: Attention }[];
  decoderBlocks: readonly { attn: Attention }[];
}

/** The geometry and the attention layers of a reconstructor, read off its model. */
abstract class ReconstructorBase {
  readonly inputShape: readonly [number, number, number];
  readonly patchSize: number;
  readonly gridH: number;
  readonly gridW: number;
  readonly numPatches: number;
  readonly layers: readonly AttentionLayer[];

  protected constructor(m: PatchTransformer) {
    const c = m.config;
    this.inputShape = [c.inChans, c.imgSize[0], c.imgSize[1]];
    this.patchSize = c.patchSize;
    [this.gridH, this.gridW, this.numPatches] = [m.gridH, m.gridW, m.numPatches];
    this.layers = stackLayers(m.blocks, m.decoderBlocks);
  }
}

// ---------------------------------------------------------------- MAE

export interface MaeReconstructorOptions {
  /** Loss on per-patch normalized targets (default: the model's config). */
  normPix?: boolean;
  /** How a ratio becomes a count of hidden patches (default 'round'). */
  maskCount?: MaskCountRule;
}

/** The MAE as a MaskedReconstructor: its own forward, loss (docs/method.md section 2) and prediction. */
export class MaeReconstructor extends ReconstructorBase implements MaskedReconstructor {
  readonly family = 'mae';
  readonly label = 'MAE';
  readonly prefixTokens = 1;
  readonly description: string;
  readonly config: MaeConfig;

  constructor(readonly mae: MAE, readonly options: MaeReconstructorOptions = {}) {
    super(mae);
    this.config = mae.config;
    this.description = describeMae(mae.config);
  }

  maskPlan(batch: number, o: MaskSource): MaskPlan {
    return this.mae.maskPlan(batch, { maskCount: this.options.maskCount, ...o });
  }

  forward(x: Tensor, o: MaskedForwardOptions): MaskedForward {
    return scope(() => {
      const normPix = this.options.normPix ?? this.config.normPixLoss;
      const out = this.mae.forward(x, { ...o, maskCount: o.maskCount ?? this.options.maskCount, normPix: this.options.normPix });
      const perImage = o.perImage ? perImageLosses(x.shape[0], (b) => reconstructionLoss(
        one(out.pred, b), one(x, b), one(out.mask, b), { p: this.patchSize, normPix },
      )) : undefined;
      return { loss: out.loss, perImage, plan: out.plan };
    });
  }

  reconstruct(x: Tensor, o: MaskSource): { images: Tensor; plan: MaskPlan } {
    const [C, H, W] = this.inputShape;
    return noGrad(() => scope(() => {
      const out = this.mae.forward(x, { maskCount: this.options.maskCount, ...o });
      return { images: unpatchify(out.pred, this.patchSize, C, H, W), plan: out.plan };
    }));
  }

  withNoiseSeed(): MaskedReconstructor { return this; }
}

// ---------------------------------------------------------------- MaskDiT

export interface MaskDitReconstructorOptions {
  /** σ_pur in [−1, 1] units (docs/method.md section 3). */
  sigma: number;
  /** Seed of the diffusion-noise draw (default 0). */
  noiseSeed?: number;
}

/** Kept apart from a mask drawn from the same seed (both generators would start from one state). */
const NOISE_SALT = 0x6e6f6973;

/** The default mask ratio of MaskDiT (the paper's 50%) when a source gives none. */
const MASKDIT_RATIO = 0.5;

/**
 * MaskDiT as a MaskedReconstructor at a fixed σ_pur: the loss is MaskDiT-Pure's L_rec (the model's
 * training loss, docs/method.md section 3) of y = 2x − 1 with the noise n fixed. n is one draw of
 * σ_pur · N(0, I) of a single image's shape from the noise seed, the same for every image of every
 * batch: whatever batch or position an image is measured in, the model sees it under that noise.
 */
export class MaskDitReconstructor extends ReconstructorBase implements MaskedReconstructor {
  readonly family = 'maskdit';
  readonly label = 'MaskDiT';
  readonly prefixTokens = 0;
  readonly description: string;
  readonly config: MaskDitConfig;
  readonly sigma: number;
  readonly noiseSeed: number;
  /** n for one image, [C·H·W]. */
  readonly noise: Float32Array;

  constructor(readonly model: MaskDiT, o: MaskDitReconstructorOptions) {
    super(model);
    const c = (this.config = model.config);
    if (!(o.sigma > 0) || !Number.isFinite(o.sigma)) throw new Error(`MaskDitReconstructor: σ_pur ${o.sigma} must be a positive finite number`);
    this.sigma = o.sigma;
    this.noiseSeed = o.noiseSeed ?? 0;
    this.description = `${describeMaskDit(c)}, σ_pur ${this.sigma}, noise seed ${this.noiseSeed}`;
    const rng = new Rng((this.noiseSeed ^ NOISE_SALT) >>> 0);
    this.noise = Float32Array.from({ length: c.inChans * c.imgSize[0] * c.imgSize[1] }, () => this.sigma * rng.normal());
  }

  maskPlan(batch: number, o: MaskSource): MaskPlan {
    return this.model.maskPlan(batch, { maskRatio: MASKDIT_RATIO, ...o });
  }

  /** y = 2x − 1 and its noisy version y + n, [B, C, H, W]. */
  private inputs(x: Tensor): { y: Tensor; noisy: Tensor } {
    const B = this.model.checkImages('maskdit reconstructor', x);
    const n = new Float32Array(B * this.noise.length);
    for (let b = 0; b < B; b++) n.set(this.noise, b * this.noise.length);
    const y = toModelRange(x);
    return { y, noisy: add(y, tensor(n, x.shape)) };
  }

  /** D(y + n; σ_pur) under the source's mask (every patch visible at ratio 0 without a mask). */
  private denoise(noisy: Tensor, o: MaskSource & ProbeOptions): { patches: Tensor; plan: MaskPlan } {
    const B = noisy.shape[0];
    const { patches, plan } = this.model.denoisePatches(noisy, { ...o, maskRatio: o.maskRatio ?? MASKDIT_RATIO, sigma: this.sigma });
    // Unmasked (ratio 0): the tokens in patch order, as a plan that keeps every patch.
    return { patches, plan: plan ?? maskFromHidden(new Float32Array(B * this.numPatches), B, this.numPatches) };
  }

  forward(x: Tensor, o: MaskedForwardOptions): MaskedForward {
    return scope(() => {
      const B = x.shape[0], L = this.numPatches;
      const { y, noisy } = this.inputs(x);
      const { patches, plan } = this.denoise(noisy, o);
      const { loss } = this.model.lossTerms(patches, y, noisy, Array<number>(B).fill(this.sigma), plan.mask);
      const perImage = o.perImage ? perImageLosses(B, (b) => this.model.lossTerms(
        one(patches, b), one(y, b), one(noisy, b), [this.sigma], plan.mask.subarray(b * L, (b + 1) * L),
      ).loss) : undefined;
      return { loss, perImage, plan };
    });
  }

  /** D(2x − 1 + n; σ_pur) under the mask as MaskDiT.picture shows it, mapped back to [0, 1] by (D + 1) / 2. */
  reconstruct(x: Tensor, o: MaskSource): { images: Tensor; plan: MaskPlan } {
    return noGrad(() => scope(() => {
      const { noisy } = this.inputs(x);
      const { patches, plan } = this.denoise(noisy, o);
      return { images: affine(this.model.picture(patches, noisy, plan), 0.5, 0.5), plan };
    }));
  }

  withNoiseSeed(seed: number): MaskedReconstructor {
    return seed === this.noiseSeed ? this : new MaskDitReconstructor(this.model, { sigma: this.sigma, noiseSeed: seed });
  }
}

// ---------------------------------------------------------------- shared measures

/**
 * The attention probabilities of every layer for images x under the source's mask, no gradient:
 * per stack, [B, H, N, N] per layer (the caller disposes them).
 */
export function attentionMapsOf(r: MaskedReconstructor, x: Tensor, o: MaskSource): { encoder: Tensor[]; decoder: Tensor[] } {
  return noGrad(() => {
    const { probe, maps } = attentionCollector();
    scope(() => { r.forward(x, { ...o, probe, probeProbs: true }); });
    return { encoder: maps.encoder ?? [], decoder: maps.decoder ?? [] };
  });
}
