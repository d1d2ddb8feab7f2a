// Vision-transformer attention and the pre-norm block, with timm's structure and state-dict keys
// (Attention with one qkv Linear, Block = x + attn(norm1(x)), then x + mlp(norm2(x))), as the MAE
// reference builds them; and the forward probe through which analyses see inside attention.
import { Tensor, keep } from '../engine/tensor.js';
import { permute, reshape, slice } from '../engine/ops/layout.js';
import { attentionPacked, ATTENTION_MAX_D } from '../engine/ops/attention.js';
import { fmt } from '../engine/shape.js';
import type { Module, NamedTensor } from './module.js';
import { LayerNorm, Linear, Mlp, type Initializer, type MlpOptions } from './layers.js';

// ---------------------------------------------------------------- the forward probe
/** What one attention layer used in a forward pass, as a probe receives it. */
export interface AttentionRecord {
  /** Which stack of the model ('encoder', 'decoder'). */
  stack: string;
  /** The layer's index in its stack. */
  layer: number;
  /** Z: the block's input [B, N, D] (the residual stream). */
  input: Tensor;
  /** The attention's input after the block's norm, [B, N, D]: what W_Q and W_K multiply. */
  normed: Tensor;
  /** Per head, before the score scale: Q and K [B, H, N, d_h] (biases included). */
  q: Tensor;
  k: Tensor;
  /** The score scale, d_h^(-1/2): A = softmax(scale · Q Kᵀ). */
  scale: number;
  /** [B, H, N, N] attention probabilities (no gradient), when the probe asks for them. */
  probs?: Tensor;
  /** The layer, for its weights: `attention.qkWeights()`. */
  attention: Attention;
}

/**
 * A callback a model's forward calls once per attention layer, in order. The tensors it receives
 * belong to the forward's scope and are freed with it: `keep()` what must outlive the forward.
 * Recorded tensors are on the autograd tape like any other, so a probe can build a loss from them.
 */
export interface ForwardProbe {
  (record: AttentionRecord): void;
}

/** A probe and whether the forward should also compute the attention probabilities for it. */
export interface ProbeOptions {
  probe?: ForwardProbe;
  /** Default false: the fused attention kernel never stores the probabilities. */
  probeProbs?: boolean;
}

/** Where in a model a block sits, for its probe records. */
export interface BlockSite extends ProbeOptions { stack: string; layer: number; }

// ---------------------------------------------------------------- attention
/**
 * timm's Attention: one qkv Linear [3D, D] whose output splits as (3, heads, head_dim), scaled
 * dot-product attention per head (scale head_dim^-0.5), heads concatenated and projected.
 * The attention itself is the engine's fused kernel (or its composed path where the fused one does
 * not apply: a head dimension that is not a multiple of 4 or exceeds the kernel's maximum).
 */
export class Attention implements Module {
  constructor(readonly qkv: Linear, readonly proj: Linear, readonly heads: number) {
    const dim = proj.outFeatures;
    if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) throw new Error(`Attention: width ${dim} is not divisible by ${heads} heads`);
    if (qkv.outFeatures !== 3 * dim || qkv.inFeatures !== dim) {
      throw new Error(`Attention: qkv weight ${fmt(qkv.weight.shape)} must be [${3 * dim}, ${dim}] for width ${dim}`);
    }
  }

  static init(init: Initializer, dim: number, heads: number): Attention {
    return new Attention(Linear.init(init, dim, 3 * dim), Linear.init(init, dim, dim), heads);
  }

  get dim(): number { return this.proj.outFeatures; }
  get headDim(): number { return this.dim / this.heads; }

  /**
   * W_Q and W_K as PyTorch stores them, [D, D] (out, in): Q = Z·W_Qᵀ + b_Q. New tensors (slices of
   * the qkv weight) that the caller disposes.
   */
  qkWeights(): { wQ: Tensor; wK: Tensor } {
    const D = this.dim;
    return { wQ: slice(this.qkv.weight, [0, 0], [D, D]), wK: slice(this.qkv.weight, [D, 0], [2 * D, D]) };
  }

  /** x [B, N, D] (already normalized) to [B, N, D], plus `residual` when given (fused into the projection); `site` reports to a probe. */
  forward(x: Tensor, site?: BlockSite & { input: Tensor }, residual?: Tensor): Tensor {
    const [B, N, D] = x.shape;
    const H = this.heads, hd = D / H;
    // [B, N, 3D] viewed as [B, N, 3, H, hd]: the attention kernels read it in place and write
    // [B, N, H, hd], which views as [B, N, D]: no copies.
    const qkv = reshape(this.qkv.forward(x), [B, N, 3, H, hd]);
    const impl = hd % 4 === 0 && hd <= ATTENTION_MAX_D ? undefined : 'composed';
    const returnProbs = !!(site?.probe && site.probeProbs);
    const r = attentionPacked(qkv, { returnProbs, impl });
    if (site?.probe) {
      // A probe gets Q and K of its own, [B, H, N, hd]: copies of parts of qkv, on the tape like the rest.
      const part = (i: number): Tensor => reshape(permute(slice(qkv, [0, 0, i], [B, N, i + 1]), [0, 2, 3, 1, 4]), [B, H, N, hd]);
      site.probe({ stack: site.stack, layer: site.layer, input: site.input, normed: x, q: part(0), k: part(1), scale: 1 / Math.sqrt(hd), probs: r.probs, attention: this });
    }
    const merged = reshape(r.out, [B, N, D]);
    return this.proj.forward(merged, 'none', residual);
  }

  parameters(prefix = ''): NamedTensor[] {
    return [...this.qkv.parameters(`${prefix}qkv.`), ...this.proj.parameters(`${prefix}proj.`)];
  }
}

// ---------------------------------------------------------------- the pre-norm block
export interface BlockOptions extends MlpOptions {
  eps: number;
  mlpRatio: number;
}

/** Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)). */
export class Block implements Module {
  constructor(readonly norm1: LayerNorm, readonly attn: Attention, readonly norm2: LayerNorm, readonly mlp: Mlp) {}

  static init(init: Initializer, dim: number, heads: number, o: BlockOptions): Block {
    // Draw order follows PyTorch's module registration order (norm1, attn, norm2, mlp).
    const norm1 = LayerNorm.init(init, dim, o);
    const attn = Attention.init(init, dim, heads);
    const norm2 = LayerNorm.init(init, dim, o);
    return new Block(norm1, attn, norm2, Mlp.init(init, dim, Math.floor(dim * o.mlpRatio), o));
  }

  forward(x: Tensor, site?: BlockSite): Tensor {
    // The residual adds are fused into the attention's projection and fc2.
    const h = this.attn.forward(this.norm1.forward(x), site && { ...site, input: x }, x);
    return this.mlp.forward(this.norm2.forward(h), h);
  }

  parameters(prefix = ''): NamedTensor[] {
    return [
      ...this.norm1.parameters(`${prefix}norm1.`), ...this.attn.parameters(`${prefix}attn.`),
      ...this.norm2.parameters(`${prefix}norm2.`), ...this.mlp.parameters(`${prefix}mlp.`),
    ];
  }
}

/** A block of a transformer stack: what `runBlocks` runs (a DiT block binds its conditioning first). */
export interface StackBlock { forward(x: Tensor, site?: BlockSite): Tensor; }

/** Runs a stack of blocks, reporting each to the probe as `stack` layer i. */
export function runBlocks(blocks: readonly StackBlock[], x: Tensor, stack: string, o: ProbeOptions = {}): Tensor {
  let h = x;
  blocks.forEach((blk, layer) => { h = blk.forward(h, o.probe ? { stack, layer, probe: o.probe, probeProbs: o.probeProbs } : undefined); });
  return h;
}

/**
 * A probe that collects every layer's attention probabilities (kept, so they outlive the forward:
 * the caller disposes them), per stack in layer order; pass `probe` with probeProbs true.
 */
export function attentionCollector(): { probe: ForwardProbe; maps: Record<string, Tensor[]> } {
  const maps: Record<string, Tensor[]> = {};
  const probe: ForwardProbe = (r) => {
    if (!r.probs) throw new Error('attentionCollector: the forward did not compute probabilities (pass probeProbs: true)');
    (maps[r.stack] ??= [])[r.layer] = keep(r.probs);
  };
  return { probe, maps };
}
