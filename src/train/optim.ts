// Optimizers on the GPU: AdamW and SGD (momentum, Nesterov), each one fused kernel dispatch per
// parameter tensor (kernels/optim.wgsl), with gradient clipping by global norm that never reads
// back (the clipping scale is computed into a small per-step buffer that the updates read), the
// weight-decay rule, and the learning-rate schedule (linear warm-up, then cosine).
// Mixed precision is not implemented: parameters, gradients and moments are f32 throughout.
import { Tensor, keep } from '../engine/tensor.js';
import { assign, zeros } from '../engine/ops/creation.js';
import { adamwUpdate, clipScaleInto, sgdUpdate, sumSquaresInto, STEP_WORDS, SUMSQ_CHUNK } from '../engine/ops/optim.js';
import { fmt } from '../engine/shape.js';
import type { NamedTensor } from '../models/module.js';

// ---------------------------------------------------------------- weight decay rule
/** Names that never decay whatever their rank (the MAE reference's no_weight_decay list). */
const NO_DECAY_NAMES = new Set(['cls_token', 'mask_token', 'pos_embed', 'decoder_pos_embed']);

/**
 * Whether a parameter gets weight decay. Rank ≤ 1 tensors (biases, LayerNorm and BatchNorm scales
 * and shifts) do not, nor any name ending in `.bias` or listed in NO_DECAY_NAMES (the tokens and
 * position tables): timm's add_weight_decay, which the MAE reference trains with.
 */
export function decays(name: string, shape: readonly number[]): boolean {
  if (shape.length <= 1) return false;
  if (name.endsWith('.bias') || name === 'bias') return false;
  const last = name.split('.').pop()!;
  return !NO_DECAY_NAMES.has(name) && !NO_DECAY_NAMES.has(last);
}

// ---------------------------------------------------------------- schedule
export interface ScheduleOptions {
  /** Peak learning rate (reached at the end of the warm-up). */
  lr: number;
  /** Total optimizer steps. */
  totalSteps: number;
  /** Linear warm-up steps from 0 (default 0). */
  warmupSteps?: number;
  /** The floor the cosine decays to (default 0). */
  minLr?: number;
}

/**
 * The learning rate of 0-based step `step`: lr·(step + 1)/warmup during the warm-up, then a half
 * cosine from lr down to minLr at totalSteps (constant at minLr after it).
 */
export function cosineLr(step: number, o: ScheduleOptions): number {
  const warm = o.warmupSteps ?? 0, min = o.minLr ?? 0;
  if (step < warm) return (o.lr * (step + 1)) / warm;
  const span = Math.max(1, o.totalSteps - warm);
  const t = Math.min(1, (step - warm) / span);
  return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * t));
}

// ---------------------------------------------------------------- optimizers
export interface AdamWOptions { kind: 'adamw'; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; }
export interface SgdOptions { kind: 'sgd'; momentum?: number; nesterov?: boolean; weightDecay?: number; }
export type OptimizerOptions = (AdamWOptions | SgdOptions) & {
  /** Clip the gradients to this global L2 norm (PyTorch's clip_grad_norm_); off when absent. */
  clipNorm?: number;
};

interface Slot {
  name: string;
  param: Tensor;
  /** AdamW: [2n] (m then v); SGD: [n] momentum buffer. */
  state: Tensor;
  decay: boolean;
  /** Offset of this tensor's partial sums in the clipping buffer. */
  partialOffset: number;
}

/**
 * An optimizer over named parameters. Usage per step: compute the loss, `backward`, then
 * `step(lr)`, which updates every parameter that has a `.grad` and disposes the gradients.
 */
export class Optimizer {
  readonly options: Required<Omit<AdamWOptions, 'kind'>> & Required<Omit<SgdOptions, 'kind'>> & { kind: 'adamw' | 'sgd'; clipNorm: number | undefined };
  /** Optimizer steps taken (AdamW's bias corrections use it). */
  stepCount = 0;
  private readonly slots: Slot[];
  /** lr, bias corrections, clip scale, norm (kernels/optim.wgsl's S). */
  private readonly stepBuf: Tensor;
  private readonly partials: Tensor | undefined;
  private readonly totalPartials: number;

  constructor(params: NamedTensor[], options: OptimizerOptions) {
    const o = options;
    this.options = {
      kind: o.kind,
      beta1: o.kind === 'adamw' ? o.beta1 ?? 0.9 : 0.9,
      beta2: o.kind === 'adamw' ? o.beta2 ?? 0.999 : 0.999,
      eps: o.kind === 'adamw' ? o.eps ?? 1e-8 : 1e-8,
      weightDecay: o.weightDecay ?? (o.kind === 'adamw' ? 0.01 : 0),
      momentum: o.kind === 'sgd' ? o.momentum ?? 0.9 : 0,
      nesterov: o.kind === 'sgd' ? o.nesterov ?? false : false,
      clipNorm: o.clipNorm,
    };
    const op = this.options;
    if (!(op.beta1 >= 0 && op.beta1 < 1 && op.beta2 >= 0 && op.beta2 < 1)) throw new Error(`optimizer: betas (${op.beta1}, ${op.beta2}) must lie in [0, 1)`);
    if (!(op.eps > 0)) throw new Error(`optimizer: eps ${op.eps} must be positive`);
    if (!(op.weightDecay >= 0)) throw new Error(`optimizer: weight decay ${op.weightDecay} must be ≥ 0`);
    if (!(op.momentum >= 0 && op.momentum < 1)) throw new Error(`optimizer: momentum ${op.momentum} must lie in [0, 1)`);
    if (op.nesterov && op.momentum === 0) throw new Error('optimizer: Nesterov needs a momentum > 0');
    if (op.clipNorm !== undefined && !(op.clipNorm > 0)) throw new Error(`optimizer: clipNorm ${op.clipNorm} must be positive`);
    const seen = new Set<string>();
    let offset = 0;
    this.slots = params.map(([name, param]) => {
      if (seen.has(name)) throw new Error(`optimizer: parameter '${name}' is listed twice`);
      seen.add(name);
      if (param.dtype !== 'f32') throw new Error(`optimizer: parameter '${name}' ${fmt(param.shape)} is ${param.dtype}, not f32`);
      const state = keep(zeros([op.kind === 'adamw' ? 2 * param.size : param.size]));
      const slot: Slot = { name, param, state, decay: decays(name, param.shape), partialOffset: offset };
      offset += Math.ceil(param.size / SUMSQ_CHUNK);
      return slot;
    });
    this.totalPartials = offset;
    this.stepBuf = keep(zeros([STEP_WORDS]));
    this.partials = op.clipNorm !== undefined && offset > 0 ? keep(zeros([offset])) : undefined;
  }

  /** The parameters with the weight-decay decision for each (for logs and tests). */
  describe(): { name: string; shape: number[]; decay: boolean }[] {
    return this.slots.map((s) => ({ name: s.name, shape: [...s.param.shape], decay: s.decay }));
  }

  /**
   * One update of every parameter that has a gradient, with learning rate `lr`; the gradients are
   * disposed (zeroed for the next step). Records GPU work only: nothing is awaited.
   */
  step(lr: number): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`optimizer.step: learning rate ${lr} must be a finite number ≥ 0`);
    const op = this.options;
    const t = ++this.stepCount;
    const bc1 = op.kind === 'adamw' ? 1 / (1 - op.beta1 ** t) : 1;
    const bc2 = op.kind === 'adamw' ? 1 / (1 - op.beta2 ** t) : 1;
    assign(this.stepBuf, new Float32Array([lr, bc1, bc2, 1, 0, 0, 0, 0]));
    const live = this.slots.filter((s) => s.param.grad);
    for (const s of live) {
      const g = s.param.grad!;
      if (g.shape.join() !== s.param.shape.join()) throw new Error(`optimizer: gradient ${fmt(g.shape)} of '${s.name}' does not match ${fmt(s.param.shape)}`);
    }
    if (this.partials) {
      // Parameters without a gradient contribute zero to the norm.
      if (live.length < this.slots.length) assign(this.partials, new Float32Array(this.totalPartials));
      for (const s of live) sumSquaresInto(s.param.grad!, this.partials, s.partialOffset);
      clipScaleInto(this.partials, this.stepBuf, op.clipNorm!);
    }
    for (const s of live) {
      const weightDecay = s.decay ? op.weightDecay : 0;
      if (op.kind === 'adamw') adamwUpdate(s.param, s.param.grad!, s.state, this.stepBuf, { beta1: op.beta1, beta2: op.beta2, eps: op.eps, weightDecay });
      else sgdUpdate(s.param, s.param.grad!, s.state, this.stepBuf, { momentum: op.momentum, weightDecay, nesterov: op.nesterov });
    }
    this.zeroGrad();
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const s of this.slots) { s.param.grad?.dispose(); s.param.grad = undefined; }
  }

  /** The global gradient norm of the last step (before clipping); needs clipNorm (else 0). A readback. */
  async lastGradNorm(): Promise<number> {
    return (await this.stepBuf.data())[4];
  }

  /** The state to checkpoint: step count and each parameter's moments under `<name>.<kind>`. */
  async stateDict(): Promise<{ step: number; tensors: Map<string, Float32Array> }> {
    const tensors = new Map<string, Float32Array>();
    for (const s of this.slots) tensors.set(`${s.name}.${this.options.kind === 'adamw' ? 'moments' : 'momentum'}`, await s.state.data());
    return { step: this.stepCount, tensors };
  }

  /** Restores `stateDict()`'s output (strict: every parameter's state must be there, with its size). */
  loadStateDict(st: { step: number; tensors: Map<string, Float32Array | Int32Array> }): void {
    const problems: string[] = [];
    const suffix = this.options.kind === 'adamw' ? 'moments' : 'momentum';
    for (const s of this.slots) {
      const h = st.tensors.get(`${s.name}.${suffix}`);
      if (!h) problems.push(`missing '${s.name}.${suffix}'`);
      else if (h.length !== s.state.size || !(h instanceof Float32Array)) problems.push(`'${s.name}.${suffix}' has ${h.length} values, expected ${s.state.size} f32`);
    }
    if (problems.length) throw new Error(`optimizer.loadStateDict: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? ` (${problems.length} problems)` : ''}`);
    for (const s of this.slots) assign(s.state, st.tensors.get(`${s.name}.${suffix}`) as Float32Array);
    this.stepCount = st.step;
  }

  dispose(): void {
    for (const s of this.slots) s.state.dispose();
    this.stepBuf.dispose();
    this.partials?.dispose();
  }
}
