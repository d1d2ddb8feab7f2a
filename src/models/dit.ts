// The parts of a diffusion transformer (DiT, as Anima-Lab/MaskDiT's models/maskdit.py builds it)
// that a plain ViT lacks: conditioning on the noise level (and optionally a class) through
// adaptive LayerNorm. Every norm here has no affine of its own; the conditioning vector c gives
// each block a shift, a scale and (adaLN-Zero) a gate per residual branch:
//   x += gate_msa · attn(modulate(norm1(x), shift_msa, scale_msa))
//   x += gate_mlp · mlp(modulate(norm2(x), shift_mlp, scale_mlp)),   modulate(x) = x·(1 + scale) + shift.
// The reference applies SiLU to c inside every adaLN_modulation (Sequential(SiLU, Linear)); SiLU(c)
// is the same for every layer, so the model computes it once and the parts take it ready-made.
import { keep, scope, type Tensor } from '../engine/tensor.js';
import { noGrad } from '../engine/autograd.js';
import { tensor } from '../engine/ops/creation.js';
import { silu } from '../engine/ops/elementwise.js';
import { gatedResidual, modulate } from '../engine/ops/modulate.js';
import { reshape, slice } from '../engine/ops/layout.js';
import type { Module, NamedTensor } from './module.js';
import { LayerNorm, Linear, Mlp, type Initializer } from './layers.js';
import { Attention, type BlockSite, type StackBlock } from './vit.js';

/**
 * adaLN_modulation's Linear (index 1 of the reference's Sequential(SiLU, Linear)): SiLU(c) [B, Dc]
 * to `chunks` vectors [B, 1, D], in the reference's chunk order.
 */
export class AdaLnModulation implements Module {
  constructor(readonly linear: Linear, readonly chunks: number) {
    if (linear.outFeatures % chunks !== 0) throw new Error(`AdaLnModulation: ${linear.outFeatures} outputs do not split into ${chunks} chunks`);
  }

  /** The reference zero-initializes the last adaLN Linear: every block starts as the identity. */
  static init(init: Initializer, condDim: number, dim: number, chunks: number): AdaLnModulation {
    return new AdaLnModulation(new Linear(init.constant([chunks * dim, condDim], 0), init.constant([chunks * dim], 0)), chunks);
  }

  forward(cAct: Tensor): Tensor[] {
    const held = heldChunks.get(cAct);
    const kept = held?.get(this);
    if (kept) return kept;
    const make = (): Tensor[] => {
      const B = cAct.shape[0], D = this.linear.outFeatures / this.chunks;
      const m = this.linear.forward(cAct);
      return Array.from({ length: this.chunks }, (_, i) => reshape(slice(m, [0, i * D], [B, (i + 1) * D]), [B, 1, D]));
    };
    if (!held) return make();
    // A held conditioning: the chunks are made once, off the tape, and kept until it is released.
    const chunks = keep(noGrad(() => scope(make)));
    held.set(this, chunks);
    return chunks;
  }

  parameters(prefix = ''): NamedTensor[] { return this.linear.parameters(`${prefix}1.`); }
}

/**
 * Conditionings whose modulation chunks are kept while they are held: what depends on the weights
 * and c alone is made once for many forwards that share them (a purification's steps, at one σ,
 * with the weights frozen). The chunks are made off the tape, so no weight gradient reaches them.
 */
const heldChunks = new WeakMap<Tensor, Map<AdaLnModulation, Tensor[]>>();

/** From now on the adaLN chunks of `cAct` are computed once per module and kept (see releaseConditioning). */
export function holdConditioning(cAct: Tensor): void {
  if (!heldChunks.has(cAct)) heldChunks.set(cAct, new Map());
}

/** Frees the chunks kept for `cAct` (a saved view on the tape keeps its own buffer alive). */
export function releaseConditioning(cAct: Tensor): void {
  for (const chunks of heldChunks.get(cAct)?.values() ?? []) for (const t of chunks) t.dispose();
  heldChunks.delete(cAct);
}

/** A DiT block with adaLN-Zero conditioning (DiTBlock); `bind(cAct)` makes it a stack block. */
export class DiTBlock implements Module {
  constructor(readonly norm1: LayerNorm, readonly attn: Attention, readonly norm2: LayerNorm, readonly mlp: Mlp, readonly adaLN: AdaLnModulation) {
    if (adaLN.chunks !== 6) throw new Error('DiTBlock: adaLN_modulation must give 6 chunks');
  }

  /** The reference's init: xavier Linears with zero biases, tanh-GELU MLP, zero adaLN; norms eps 1e-6 without affine. */
  static init(init: Initializer, dim: number, condDim: number, heads: number, o: { mlpRatio: number; eps: number }): DiTBlock {
    const norm = (): LayerNorm => LayerNorm.init(init, dim, { eps: o.eps, affine: false });
    const attn = Attention.init(init, dim, heads);
    const mlp = Mlp.init(init, dim, Math.floor(dim * o.mlpRatio), { activation: 'gelu_tanh' });
    return new DiTBlock(norm(), attn, norm(), mlp, AdaLnModulation.init(init, condDim, dim, 6));
  }

  forward(x: Tensor, cAct: Tensor, site?: BlockSite): Tensor {
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = this.adaLN.forward(cAct);
    const h = gatedResidual(x, gateMsa, this.attn.forward(modulate(this.norm1.forward(x), shiftMsa, scaleMsa), site && { ...site, input: x }));
    return gatedResidual(h, gateMlp, this.mlp.forward(modulate(this.norm2.forward(h), shiftMlp, scaleMlp)));
  }

  /** This block with its conditioning fixed, for `runBlocks`. */
  bind(cAct: Tensor): StackBlock {
    return { forward: (x, site) => this.forward(x, cAct, site) };
  }

  parameters(prefix = ''): NamedTensor[] {
    // No norm parameters (no affine); the reference's key order: attn, mlp, adaLN_modulation.
    return [...this.attn.parameters(`${prefix}attn.`), ...this.mlp.parameters(`${prefix}mlp.`), ...this.adaLN.parameters(`${prefix}adaLN_modulation.`)];
  }
}

/**
 * A norm without affine, modulated by c (shift, scale), then a Linear: the reference's
 * DecoderLayer (encoder width to decoder width) and FinalLayer (to p·p·C values per patch); both
 * are zero-initialized there.
 */
export class ModulatedLinear implements Module {
  constructor(readonly norm: LayerNorm, readonly adaLN: AdaLnModulation, readonly linear: Linear) {
    if (adaLN.chunks !== 2) throw new Error('ModulatedLinear: adaLN_modulation must give 2 chunks');
  }

  static init(init: Initializer, dim: number, condDim: number, outDim: number, eps: number): ModulatedLinear {
    return new ModulatedLinear(LayerNorm.init(init, dim, { eps, affine: false }), AdaLnModulation.init(init, condDim, dim, 2),
      new Linear(init.constant([outDim, dim], 0), init.constant([outDim], 0)));
  }

  forward(x: Tensor, cAct: Tensor): Tensor {
    const [shift, scale] = this.adaLN.forward(cAct);
    return this.linear.forward(modulate(this.norm.forward(x), shift, scale));
  }

  parameters(prefix = ''): NamedTensor[] {
    return [...this.linear.parameters(`${prefix}linear.`), ...this.adaLN.parameters(`${prefix}adaLN_modulation.`)];
  }
}

/**
 * The reference's sinusoidal timestep features of t [B] (here c_noise = ln σ / 4), [B, dim]:
 * [cos(t·f_k) | sin(t·f_k)], f_k = maxPeriod^(−k/half), k < half = dim/2 (a zero column if dim is odd).
 * Computed on the host: t carries no gradient.
 */
export function timestepFeatures(t: ArrayLike<number>, dim: number, maxPeriod = 10000): Float32Array {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(t.length * dim);
  for (let b = 0; b < t.length; b++) {
    for (let k = 0; k < half; k++) {
      // The reference computes the frequencies in float32; so does this.
      const f = Math.fround(Math.exp(Math.fround((-Math.log(maxPeriod) * k) / half)));
      const arg = Math.fround(Math.fround(t[b]) * f);
      out[b * dim + k] = Math.cos(arg);
      out[b * dim + half + k] = Math.sin(arg);
    }
  }
  return out;
}

/** TimestepEmbedder: the sinusoid features of c_noise, then Linear, SiLU, Linear (keys mlp.0, mlp.2). */
export class TimestepEmbedder implements Module {
  constructor(readonly fc1: Linear, readonly fc2: Linear, readonly freqDim: number) {
    if (fc1.inFeatures !== freqDim) throw new Error(`TimestepEmbedder: mlp.0 takes ${fc1.inFeatures} features, the sinusoid has ${freqDim}`);
  }

  /** The reference's init: both weights N(0, 0.02²), zero biases. */
  static init(init: Initializer, dim: number, freqDim = 256): TimestepEmbedder {
    return new TimestepEmbedder(new Linear(init.normal([dim, freqDim], 0.02), init.constant([dim], 0)),
      new Linear(init.normal([dim, dim], 0.02), init.constant([dim], 0)), freqDim);
  }

  forward(t: ArrayLike<number>): Tensor {
    const feats = tensor(timestepFeatures(t, this.freqDim), [t.length, this.freqDim]);
    return this.fc2.forward(silu(this.fc1.forward(feats)));
  }

  parameters(prefix = ''): NamedTensor[] { return [...this.fc1.parameters(`${prefix}mlp.0.`), ...this.fc2.parameters(`${prefix}mlp.2.`)]; }
}

/**
 * LabelEmbedder: a bias-free Linear on one-hot labels (key embedding_table.weight [D, classes]).
 * A label of −1 is "no label": a zero row, which is also what class dropout feeds in training.
 */
export class LabelEmbedder implements Module {
  constructor(readonly table: Linear) {
    if (table.bias) throw new Error('LabelEmbedder: the embedding table has no bias');
  }

  static init(init: Initializer, classes: number, dim: number): LabelEmbedder {
    return new LabelEmbedder(new Linear(init.normal([dim, classes], 0.02), undefined));
  }

  get classes(): number { return this.table.inFeatures; }

  forward(labels: ArrayLike<number>): Tensor {
    const K = this.classes;
    const onehot = new Float32Array(labels.length * K);
    for (let b = 0; b < labels.length; b++) {
      const y = labels[b];
      if (y === -1) continue;
      if (!Number.isInteger(y) || y < 0 || y >= K) throw new Error(`LabelEmbedder: label ${y} of image ${b} is not in 0..${K - 1} (or −1 for none)`);
      onehot[b * K + y] = 1;
    }
    return this.table.forward(tensor(onehot, [labels.length, K]));
  }

  parameters(prefix = ''): NamedTensor[] { return this.table.parameters(`${prefix}embedding_table.`); }
}
