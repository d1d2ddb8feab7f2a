// MAE configurations: the shape of a MaskedAutoencoderViT, and the named ones the project uses.
// Field meanings follow the reference constructor (models_mae.py); every LayerNorm uses eps 1e-6 as
// the reference's partial(nn.LayerNorm, eps=1e-6).

export interface MaeConfig {
  /** Image height and width (the reference takes one square size; any H, W divisible by p works here). */
  imgSize: [number, number];
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  decoderEmbedDim: number;
  decoderDepth: number;
  decoderNumHeads: number;
  mlpRatio: number;
  /** Whether the model was trained on per-patch normalized targets (the loss's default normPix). */
  normPixLoss: boolean;
  /** LayerNorm epsilon. */
  eps: number;
}

export type MaeConfigInput = Omit<Partial<MaeConfig>, 'imgSize'> & { imgSize?: number | [number, number] };

const BASE: MaeConfig = {
  imgSize: [224, 224], patchSize: 16, inChans: 3,
  embedDim: 1024, depth: 24, numHeads: 16,
  decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16,
  mlpRatio: 4, normPixLoss: false, eps: 1e-6,
};

/**
 * Named configurations.
 * - mae-tiny-c32: project choice, small enough to train on a CPU adapter (32×32, p 4, 64 patches;
 *   width 96, 4 blocks, 3 heads; decoder width 64, 2 blocks, 2 heads; head dimension 32).
 * - mae-small-c32: project choice, ViT-Small encoder (384, 12 blocks, 6 heads) with a decoder of
 *   width 256, 4 blocks, 8 heads.
 * - mae-base-c32: the paper's model for 32×32 data (docs/method.md section 6): ViT-Base (768, 12 blocks,
 *   12 heads), decoder 512 wide, 8 blocks (16 heads, as the reference's base decoder), p 4.
 * - mae-base-p16-224: the reference's mae_vit_base_patch16_dec512d8b (ImageNet, 224×224, p 16).
 */
export const MAE_CONFIGS: Readonly<Record<string, MaeConfig>> = {
  'mae-tiny-c32': {
    ...BASE, imgSize: [32, 32], patchSize: 4, embedDim: 96, depth: 4, numHeads: 3,
    decoderEmbedDim: 64, decoderDepth: 2, decoderNumHeads: 2,
  },
  'mae-small-c32': {
    ...BASE, imgSize: [32, 32], patchSize: 4, embedDim: 384, depth: 12, numHeads: 6,
    decoderEmbedDim: 256, decoderDepth: 4, decoderNumHeads: 8,
  },
  'mae-base-c32': {
    ...BASE, imgSize: [32, 32], patchSize: 4, embedDim: 768, depth: 12, numHeads: 12,
    decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16,
  },
  'mae-base-p16-224': {
    ...BASE, imgSize: [224, 224], patchSize: 16, embedDim: 768, depth: 12, numHeads: 12,
    decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16,
  },
};

export const maeConfigNames = (): string[] => Object.keys(MAE_CONFIGS);

/** A named configuration, optionally with fields overridden. */
export function maeConfig(name: string, overrides: MaeConfigInput = {}): MaeConfig {
  const base = MAE_CONFIGS[name];
  if (!base) throw new Error(`mae: unknown configuration '${name}' (known: ${maeConfigNames().join(', ')})`);
  return resolveMaeConfig({ ...base, ...overrides });
}

/** Fills defaults, normalizes imgSize to [H, W] and checks that the pieces fit together. */
export function resolveMaeConfig(c: MaeConfigInput): MaeConfig {
  const img = c.imgSize ?? BASE.imgSize;
  const cfg: MaeConfig = { ...BASE, ...c, imgSize: typeof img === 'number' ? [img, img] : [img[0], img[1]] };
  const bad = (what: string): never => { throw new Error(`mae config: ${what} (${JSON.stringify(cfg)})`); };
  const posInt = (v: number): boolean => Number.isInteger(v) && v >= 1;
  for (const k of ['patchSize', 'inChans', 'embedDim', 'depth', 'numHeads', 'decoderEmbedDim', 'decoderDepth', 'decoderNumHeads'] as const) {
    if (!posInt(cfg[k])) bad(`${k} ${cfg[k]} must be a positive integer`);
  }
  const [H, W] = cfg.imgSize;
  if (!posInt(H) || !posInt(W)) bad(`imgSize [${H}, ${W}] must hold positive integers`);
  if (H % cfg.patchSize !== 0 || W % cfg.patchSize !== 0) bad(`image ${H}×${W} is not divisible into ${cfg.patchSize}×${cfg.patchSize} patches`);
  // The 2-D sin-cos table gives each of the two axes half the width, as sin and cos pairs.
  if (cfg.embedDim % 4 !== 0) bad(`embedDim ${cfg.embedDim} must be a multiple of 4 for the 2-D sin-cos position table`);
  if (cfg.decoderEmbedDim % 4 !== 0) bad(`decoderEmbedDim ${cfg.decoderEmbedDim} must be a multiple of 4 for the 2-D sin-cos position table`);
  if (cfg.embedDim % cfg.numHeads !== 0) bad(`embedDim ${cfg.embedDim} is not divisible by numHeads ${cfg.numHeads}`);
  if (cfg.decoderEmbedDim % cfg.decoderNumHeads !== 0) bad(`decoderEmbedDim ${cfg.decoderEmbedDim} is not divisible by decoderNumHeads ${cfg.decoderNumHeads}`);
  if (!(cfg.mlpRatio > 0) || !posInt(Math.floor(cfg.embedDim * cfg.mlpRatio))) bad(`mlpRatio ${cfg.mlpRatio} must be positive`);
  if (!(cfg.eps >= 0)) bad(`eps ${cfg.eps} must be >= 0`);
  return cfg;
}
