// MaskDiT configurations: the shape of a masked diffusion transformer (Anima-Lab/MaskDiT's DiT with
// use_decoder, wrapped in EDMPrecond), and the named ones the project uses.

export interface MaskDitConfig {
  /** Image height and width (the reference takes one square size; any H, W divisible by p works here). */
  imgSize: [number, number];
  patchSize: number;
  inChans: number;
  /** Encoder width (the reference's hidden_size); also the conditioning width. */
  hiddenSize: number;
  depth: number;
  numHeads: number;
  /** The decoder's width, depth and heads (the reference fixes 512, 8 and 16). */
  decoderHiddenSize: number;
  decoderDepth: number;
  decoderNumHeads: number;
  mlpRatio: number;
  /** Classes of the optional label embedding; 0 = unconditional (no y_embedder). */
  numClasses: number;
  /** Learned position tables (the paper's CIFAR model) rather than the fixed sin-cos ones (the reference). */
  learnPosEmbed: boolean;
  /** EDM's σ_data (the data lives in [−1, 1]). */
  sigmaData: number;
  /** Weight of the MAE term of the training loss (the reference's mae_loss_coef). */
  maeLossCoef: number;
  /** Width of the noise level's sinusoid features. */
  freqDim: number;
  /** LayerNorm epsilon (every norm of the reference: 1e-6). */
  eps: number;
}

export type MaskDitConfigInput = Omit<Partial<MaskDitConfig>, 'imgSize'> & { imgSize?: number | [number, number] };

const BASE: MaskDitConfig = {
  imgSize: [32, 32], patchSize: 4, inChans: 3, hiddenSize: 128, depth: 6, numHeads: 4,
  decoderHiddenSize: 128, decoderDepth: 3, decoderNumHeads: 4, mlpRatio: 4, numClasses: 0,
  learnPosEmbed: true, sigmaData: 0.5, maeLossCoef: 0.1, freqDim: 256, eps: 1e-6,
};

/**
 * Named configurations (all unconditional: a purifier never knows the label; project choice).
 * - maskdit-c32: the paper's CIFAR model (its appendix): 32×32, p 4 (64 tokens), width 128, 6
 *   encoder and 3 decoder blocks, learned position tables; heads 4 and decoder width 128 are ours.
 * - maskdit-mnist: project choice for 28×28 digits: p 4 (49 tokens), width 96, 4 encoder blocks
 *   (4 heads), decoder 96 wide, 2 blocks; small enough to train on a CPU adapter.
 * - maskdit-s-c32: DiT-S-sized (width 384, 12 blocks, 6 heads) with a decoder 256 wide, 4 blocks,
 *   8 heads: for a GPU.
 */
export const MASKDIT_CONFIGS: Readonly<Record<string, MaskDitConfig>> = {
  'maskdit-c32': { ...BASE },
  'maskdit-mnist': {
    ...BASE, imgSize: [28, 28], inChans: 1, hiddenSize: 96, depth: 4, numHeads: 4,
    decoderHiddenSize: 96, decoderDepth: 2, decoderNumHeads: 4,
  },
  'maskdit-s-c32': {
    ...BASE, hiddenSize: 384, depth: 12, numHeads: 6, decoderHiddenSize: 256, decoderDepth: 4, decoderNumHeads: 8,
  },
};

export const maskDitConfigNames = (): string[] => Object.keys(MASKDIT_CONFIGS);

/** A named configuration, optionally with fields overridden. */
export function maskDitConfig(name: string, overrides: MaskDitConfigInput = {}): MaskDitConfig {
  const base = MASKDIT_CONFIGS[name];
  if (!base) throw new Error(`maskdit: unknown configuration '${name}' (known: ${maskDitConfigNames().join(', ')})`);
  return resolveMaskDitConfig({ ...base, ...overrides });
}

/** Fills defaults, normalizes imgSize to [H, W] and checks that the pieces fit together. */
export function resolveMaskDitConfig(c: MaskDitConfigInput): MaskDitConfig {
  const img = c.imgSize ?? BASE.imgSize;
  const cfg: MaskDitConfig = { ...BASE, ...c, imgSize: typeof img === 'number' ? [img, img] : [img[0], img[1]] };
  const bad = (what: string): never => { throw new Error(`maskdit config: ${what} (${JSON.stringify(cfg)})`); };
  const posInt = (v: number): boolean => Number.isInteger(v) && v >= 1;
  for (const k of ['patchSize', 'inChans', 'hiddenSize', 'depth', 'numHeads', 'decoderHiddenSize', 'decoderDepth', 'decoderNumHeads', 'freqDim'] as const) {
    if (!posInt(cfg[k])) bad(`${k} ${cfg[k]} must be a positive integer`);
  }
  if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 0) bad(`numClasses ${cfg.numClasses} must be an integer ≥ 0`);
  const [H, W] = cfg.imgSize;
  if (!posInt(H) || !posInt(W)) bad(`imgSize [${H}, ${W}] must hold positive integers`);
  if (H % cfg.patchSize !== 0 || W % cfg.patchSize !== 0) bad(`image ${H}×${W} is not divisible into ${cfg.patchSize}×${cfg.patchSize} patches`);
  // The sin-cos tables (fixed, or the learned ones' initial values) split the width into four.
  if (cfg.hiddenSize % 4 !== 0) bad(`hiddenSize ${cfg.hiddenSize} must be a multiple of 4 for the 2-D sin-cos position table`);
  if (cfg.decoderHiddenSize % 4 !== 0) bad(`decoderHiddenSize ${cfg.decoderHiddenSize} must be a multiple of 4 for the 2-D sin-cos position table`);
  if (cfg.hiddenSize % cfg.numHeads !== 0) bad(`hiddenSize ${cfg.hiddenSize} is not divisible by numHeads ${cfg.numHeads}`);
  if (cfg.decoderHiddenSize % cfg.decoderNumHeads !== 0) bad(`decoderHiddenSize ${cfg.decoderHiddenSize} is not divisible by decoderNumHeads ${cfg.decoderNumHeads}`);
  if (!(cfg.mlpRatio > 0)) bad(`mlpRatio ${cfg.mlpRatio} must be positive`);
  if (!(cfg.sigmaData > 0)) bad(`sigmaData ${cfg.sigmaData} must be positive`);
  if (!(cfg.maeLossCoef >= 0)) bad(`maeLossCoef ${cfg.maeLossCoef} must be ≥ 0`);
  if (!(cfg.eps >= 0)) bad(`eps ${cfg.eps} must be ≥ 0`);
  if (typeof cfg.learnPosEmbed !== 'boolean') bad('learnPosEmbed must be true or false');
  return cfg;
}

export function describeMaskDit(c: MaskDitConfig): string {
  return `MaskDiT ${c.imgSize[0]}×${c.imgSize[1]} p${c.patchSize} C${c.inChans} enc ${c.hiddenSize}×${c.depth} (${c.numHeads} heads) ` +
    `dec ${c.decoderHiddenSize}×${c.decoderDepth} (${c.decoderNumHeads} heads)${c.numClasses ? `, ${c.numClasses} classes` : ''}`;
}
