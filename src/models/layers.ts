// The small parts transformer models are built from, with PyTorch's (timm's) structure and
// state-dict key names: initializers, Linear, LayerNorm (with or without its affine), Mlp (with a
// chosen activation), PatchEmbed. Each part owns engine tensors and lists them under its keys with
// `parameters(prefix)`, in PyTorch's state_dict order.
import { Tensor } from '../engine/tensor.js';
import { tensor, zeros } from '../engine/ops/creation.js';
import { matmul, type Activation } from '../engine/ops/matmul.js';
import { layerNorm } from '../engine/ops/layernorm.js';
import { permute, reshape } from '../engine/ops/layout.js';
import { patchify } from '../engine/ops/patch.js';
import type { Rng } from '../engine/random.js';
import { fmt } from '../engine/shape.js';
import type { Module, NamedTensor } from './module.js';

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

// ---------------------------------------------------------------- parts
/**
 * y = x·Wᵀ + b with W stored [out, in] as PyTorch does; an activation, and a residual added last,
 * can be fused into the matmul.
 */
export class Linear implements Module {
  constructor(readonly weight: Tensor, readonly bias: Tensor | undefined) {}

  /** The MAE reference's init: xavier_uniform weight, zero bias. */
  static init(init: Initializer, inFeatures: number, outFeatures: number, bias = true): Linear {
    return new Linear(init.xavierUniform([outFeatures, inFeatures], inFeatures, outFeatures), bias ? init.constant([outFeatures], 0) : undefined);
  }

  get inFeatures(): number { return this.weight.shape[1]; }
  get outFeatures(): number { return this.weight.shape[0]; }

  forward(x: Tensor, activation: Activation = 'none', residual?: Tensor): Tensor {
    return matmul(x, this.weight, { transB: true, bias: this.bias, activation, residual });
  }

  parameters(prefix = ''): NamedTensor[] {
    return this.bias ? [[`${prefix}weight`, this.weight], [`${prefix}bias`, this.bias]] : [[`${prefix}weight`, this.weight]];
  }
}

export interface LayerNormOptions {
  eps: number;
  /** Learned scale and shift (default true); DiT's adaLN blocks normalize without them. */
  affine?: boolean;
}

export class LayerNorm implements Module {
  constructor(readonly weight: Tensor | undefined, readonly bias: Tensor | undefined, readonly eps: number) {
    if ((weight === undefined) !== (bias === undefined)) throw new Error('LayerNorm: weight and bias must both be given or both absent');
  }

  static init(init: Initializer, dim: number, o: LayerNormOptions): LayerNorm {
    return o.affine === false ? new LayerNorm(undefined, undefined, o.eps) : new LayerNorm(init.constant([dim], 1), init.constant([dim], 0), o.eps);
  }

  get affine(): boolean { return this.weight !== undefined; }

  forward(x: Tensor): Tensor { return layerNorm(x, this.weight, this.bias, this.eps); }

  parameters(prefix = ''): NamedTensor[] {
    return this.weight && this.bias ? [[`${prefix}weight`, this.weight], [`${prefix}bias`, this.bias]] : [];
  }
}

export interface MlpOptions {
  /** The hidden activation, fused into fc1's matmul (default 'gelu': exact, erf, as nn.GELU). */
  activation?: Activation;
}

/** fc2(act(fc1(x))), as timm's Mlp. */
export class Mlp implements Module {
  readonly activation: Activation;
  constructor(readonly fc1: Linear, readonly fc2: Linear, o: MlpOptions = {}) {
    this.activation = o.activation ?? 'gelu';
    if (fc2.inFeatures !== fc1.outFeatures) throw new Error(`Mlp: fc2 takes ${fc2.inFeatures} features, fc1 gives ${fc1.outFeatures}`);
  }

  static init(init: Initializer, dim: number, hidden: number, o: MlpOptions = {}): Mlp {
    return new Mlp(Linear.init(init, dim, hidden), Linear.init(init, hidden, dim), o);
  }

  /** fc2(act(fc1(x))), plus `residual` when given (fused into fc2's matmul). */
  forward(x: Tensor, residual?: Tensor): Tensor { return this.fc2.forward(this.fc1.forward(x, this.activation), 'none', residual); }

  parameters(prefix = ''): NamedTensor[] {
    return [...this.fc1.parameters(`${prefix}fc1.`), ...this.fc2.parameters(`${prefix}fc2.`)];
  }
}

/**
 * A p×p convolution with stride p (timm's PatchEmbed, keys `proj.weight` [D, C, p, p] and
 * `proj.bias`), computed as patchify followed by a Linear on patchify's (row, col, channel) order:
 * images [B, C, H, W] to tokens [B, L, D], L = (H/p)·(W/p) row-major over the patch grid.
 */
export class PatchEmbed implements Module {
  constructor(readonly weight: Tensor, readonly bias: Tensor, readonly patchSize: number) {
    const [D, , p, q] = weight.shape;
    if (weight.rank !== 4 || p !== patchSize || q !== patchSize || bias.rank !== 1 || bias.shape[0] !== D) {
      throw new Error(`PatchEmbed: weight ${fmt(weight.shape)} and bias ${fmt(bias.shape)} must be [D, C, ${patchSize}, ${patchSize}] and [D]`);
    }
  }

  /**
   * xavier_uniform on the weight viewed as [D, C·p·p]; the bias keeps PyTorch's Conv2d default,
   * U(±1/sqrt(fan_in)) (the MAE reference's _init_weights does not touch convolutions), or is zero
   * (`zeroBias`, as DiT's initialize_weights sets it).
   */
  static init(init: Initializer, inChans: number, dim: number, p: number, o: { zeroBias?: boolean } = {}): PatchEmbed {
    const fanIn = inChans * p * p;
    const bias = o.zeroBias ? init.constant([dim], 0) : init.uniform([dim], 1 / Math.sqrt(fanIn));
    return new PatchEmbed(init.xavierUniform([dim, inChans, p, p], fanIn, dim), bias, p);
  }

  get dim(): number { return this.weight.shape[0]; }

  forward(img: Tensor): Tensor {
    const [D, C, p] = this.weight.shape;
    // The conv weight [D, C, p, p] as a Linear [D, p·p·C] in patchify's order.
    const w = reshape(permute(this.weight, [0, 2, 3, 1]), [D, p * p * C]);
    return matmul(patchify(img, p), w, { transB: true, bias: this.bias });
  }

  parameters(prefix = ''): NamedTensor[] { return [[`${prefix}weight`, this.weight], [`${prefix}bias`, this.bias]]; }
}
