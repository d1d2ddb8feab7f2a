// Vision-transformer pieces with timm's structure and state-dict key names (Linear, LayerNorm, Mlp,
// Attention with one qkv Linear, pre-norm Block), as the MAE reference builds them. Parameters are
// engine tensors owned by the module; `parameters(prefix)` lists them under their PyTorch keys, in
// PyTorch's state_dict order.
import { Tensor } from '../engine/tensor.js';
import { tensor, zeros } from '../engine/ops/creation.js';
import { add } from '../engine/ops/elementwise.js';
import { matmul, type Activation } from '../engine/ops/matmul.js';
import { layerNorm } from '../engine/ops/layernorm.js';
import { permute, reshape, slice } from '../engine/ops/layout.js';
import { attention, ATTENTION_MAX_D } from '../engine/ops/attention.js';
import type { Rng } from '../engine/random.js';
import { fmt } from '../engine/shape.js';

/** A parameter under its state-dict key. */
export type NamedTensor = [string, Tensor];

export interface Module {
  /** Every parameter as [prefix + key, tensor], in PyTorch's state_dict order. */
  parameters(prefix?: string): NamedTensor[];
}

// ---------------------------------------------------------------- initializers
/** How new parameters get their values (the reference's init schemes). */
export interface Initializer {
  /** U(-a, a) with a = sqrt(6 / (fanIn + fanOut)): torch.nn.init.xavier_uniform_. */
  xavierUniform(shape: number[], fanIn: number, fanOut: number): Tensor;
  /** N(0, std²): torch.nn.init.normal_. */
  normal(shape: number[], std: number): Tensor;
  uniform(shape: number[], bound: number): Tensor;
  constant(shape: number[], value: number): Tensor;
}

/** Random values drawn on the host from a seeded generator, in call order. */
export function seededInit(rng: Rng): Initializer {
  const fromHost = (shape: number[], gen: () => number): Tensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = gen();
    return tensor(data, shape);
  };
  return {
    xavierUniform: (shape, fanIn, fanOut) => {
      const a = Math.sqrt(6 / (fanIn + fanOut));
      return fromHost(shape, () => rng.uniform(-a, a));
    },
    normal: (shape, std) => fromHost(shape, () => std * rng.normal()),
    uniform: (shape, bound) => fromHost(shape, () => rng.uniform(-bound, bound)),
    constant: (shape, value) => fromHost(shape, () => value),
  };
}

/** Zeros filled on the GPU, no host work: for a model whose weights are about to be loaded. */
export const zeroInit: Initializer = {
  xavierUniform: (shape) => zeros(shape),
  normal: (shape) => zeros(shape),
  uniform: (shape) => zeros(shape),
  constant: (shape) => zeros(shape),
};

// ---------------------------------------------------------------- modules
/** y = x·Wᵀ + b with W stored [out, in] as PyTorch does; an activation can be fused into the matmul. */
export class Linear implements Module {
  constructor(readonly weight: Tensor, readonly bias: Tensor | undefined) {}

  /** The MAE reference's init: xavier_uniform weight, zero bias. */
  static init(init: Initializer, inFeatures: number, outFeatures: number, bias = true): Linear {
    return new Linear(init.xavierUniform([outFeatures, inFeatures], inFeatures, outFeatures), bias ? init.constant([outFeatures], 0) : undefined);
  }

  get inFeatures(): number { return this.weight.shape[1]; }
  get outFeatures(): number { return this.weight.shape[0]; }

  forward(x: Tensor, activation: Activation = 'none'): Tensor {
    return matmul(x, this.weight, { transB: true, bias: this.bias, activation });
  }

  parameters(prefix = ''): NamedTensor[] {
    return this.bias ? [[`${prefix}weight`, this.weight], [`${prefix}bias`, this.bias]] : [[`${prefix}weight`, this.weight]];
  }
}

export class LayerNorm implements Module {
  constructor(readonly weight: Tensor, readonly bias: Tensor, readonly eps: number) {}

  static init(init: Initializer, dim: number, eps: number): LayerNorm {
    return new LayerNorm(init.constant([dim], 1), init.constant([dim], 0), eps);
  }

  forward(x: Tensor): Tensor { return layerNorm(x, this.weight, this.bias, this.eps); }

  parameters(prefix = ''): NamedTensor[] { return [[`${prefix}weight`, this.weight], [`${prefix}bias`, this.bias]]; }
}

/** fc2(gelu(fc1(x))), GELU exact (erf), as timm's Mlp with nn.GELU. */
export class Mlp implements Module {
  constructor(readonly fc1: Linear, readonly fc2: Linear) {}

  static init(init: Initializer, dim: number, hidden: number): Mlp {
    return new Mlp(Linear.init(init, dim, hidden), Linear.init(init, hidden, dim));
  }

  forward(x: Tensor): Tensor { return this.fc2.forward(this.fc1.forward(x, 'gelu')); }

  parameters(prefix = ''): NamedTensor[] {
    return [...this.fc1.parameters(`${prefix}fc1.`), ...this.fc2.parameters(`${prefix}fc2.`)];
  }
}

export interface AttentionOut {
  out: Tensor;
  /** [B, H, N, N] softmax probabilities when asked for (no gradient). */
  probs?: Tensor;
}

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

  forward(x: Tensor, returnProbs = false): AttentionOut {
    const [B, N, D] = x.shape;
    const H = this.heads, hd = D / H;
    // [B, N, 3D] -> [3, B, H, N, hd]: one copy, then q, k, v are contiguous slices of axis 0.
    const qkv = permute(reshape(this.qkv.forward(x), [B, N, 3, H, hd]), [2, 0, 3, 1, 4]);
    const part = (i: number): Tensor => reshape(slice(qkv, [i], [i + 1]), [B, H, N, hd]);
    const impl = hd % 4 === 0 && hd <= ATTENTION_MAX_D ? undefined : 'composed';
    const r = attention(part(0), part(1), part(2), { returnProbs, impl });
    const merged = reshape(permute(r.out, [0, 2, 1, 3]), [B, N, D]);
    const out = this.proj.forward(merged);
    return r.probs ? { out, probs: r.probs } : { out };
  }

  parameters(prefix = ''): NamedTensor[] {
    return [...this.qkv.parameters(`${prefix}qkv.`), ...this.proj.parameters(`${prefix}proj.`)];
  }
}

/** Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)). */
export class Block implements Module {
  constructor(readonly norm1: LayerNorm, readonly attn: Attention, readonly norm2: LayerNorm, readonly mlp: Mlp) {}

  static init(init: Initializer, dim: number, heads: number, mlpRatio: number, eps: number): Block {
    // Draw order follows PyTorch's module registration order (norm1, attn, norm2, mlp).
    const norm1 = LayerNorm.init(init, dim, eps);
    const attn = Attention.init(init, dim, heads);
    const norm2 = LayerNorm.init(init, dim, eps);
    return new Block(norm1, attn, norm2, Mlp.init(init, dim, Math.floor(dim * mlpRatio)));
  }

  forward(x: Tensor, returnProbs = false): AttentionOut {
    const a = this.attn.forward(this.norm1.forward(x), returnProbs);
    const h = add(x, a.out);
    const out = add(h, this.mlp.forward(this.norm2.forward(h)));
    return a.probs ? { out, probs: a.probs } : { out };
  }

  parameters(prefix = ''): NamedTensor[] {
    return [
      ...this.norm1.parameters(`${prefix}norm1.`), ...this.attn.parameters(`${prefix}attn.`),
      ...this.norm2.parameters(`${prefix}norm2.`), ...this.mlp.parameters(`${prefix}mlp.`),
    ];
  }
}
