// What every model that owns its tensors shares: a list of named state entries, from which the
// state dict, strict loading, the parameter and buffer lists, the gradient switch and disposal are
// all derived. The MAE, the trainable classifiers and training use this one base; the folded
// inference classifiers (resnet_cifar.ts, wideresnet.ts) transform their checkpoint while building
// and read it with the same StateReader.
import { Tensor, keep, scope } from '../engine/tensor.js';
import { noGrad } from '../engine/autograd.js';
import { assign } from '../engine/ops/creation.js';
import { holdOperandTextures } from '../engine/ops/matmul.js';
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { StateReader } from './state-reader.js';

/** A tensor under its state-dict key. */
export type NamedTensor = [string, Tensor];

/** A part of a model (Linear, LayerNorm, Block, ...) that lists its parameters under a key prefix. */
export interface Module {
  /** Every parameter as [prefix + key, tensor], in PyTorch's state_dict order. */
  parameters(prefix?: string): NamedTensor[];
}

/**
 * What a state entry is: a `param` trains; a `buffer` is saved and loaded but no optimizer touches
 * it (BatchNorm running statistics); a `fixed` tensor is saved but computed by the model and may be
 * absent from a checkpoint (the MAE's sin-cos position tables).
 */
export type EntryKind = 'param' | 'buffer' | 'fixed';

export interface StateEntry { key: string; tensor: Tensor; kind: EntryKind; }

/** Entries of one kind from a part's parameter list. */
export const entries = (named: NamedTensor[], kind: EntryKind = 'param'): StateEntry[] => named.map(([key, tensor]) => ({ key, tensor, kind }));

export interface LoadOptions {
  /** Default true: every non-fixed key present, no other key. false: missing and unexpected keys are skipped. */
  strict?: boolean;
}

export abstract class StatefulModule implements Module {
  /** Names the model in errors (`mae`, `resnet20`, ...). */
  abstract readonly modelName: string;

  /** Every tensor the model saves, under its reference key, in the reference's state_dict order. */
  abstract stateEntries(): StateEntry[];

  /** Metadata written with the weights (architecture, configuration). */
  protected stateMetadata(): Record<string, string> { return {}; }

  /** Keys a checkpoint may hold that this model accepts and ignores (BatchNorm's num_batches_tracked). */
  protected ignoredKey(_key: string): boolean { return false; }

  /** The model owns its tensors: no enclosing scope frees them. Call once the entries exist. */
  protected own(): void { keep(this.stateEntries().map((e) => e.tensor)); }

  /**
   * Runs fn with the weights promised unchanged until it ends (a purification's loop), so what
   * depends on them alone is prepared once: their matmul textures (holdOperandTextures) and the
   * weightConstant values.
   */
  async frozen<T>(fn: () => Promise<T>): Promise<T> {
    this.frozenState ??= { depth: 0, constants: new Map() };
    const state = this.frozenState;
    state.depth++;
    try {
      return await holdOperandTextures(this.stateEntries().map((e) => e.tensor), fn);
    } finally {
      if (--state.depth === 0) {
        for (const { t, release } of state.constants.values()) { release?.(t); t.dispose(); }
        this.frozenState = undefined;
      }
    }
  }

  private frozenState?: { depth: number; constants: Map<string, { t: Tensor; release?: (t: Tensor) => void }> };

  /**
   * What `make` computes from the weights (and arguments named by `key`) alone: a position table's
   * slice, a token plus its position, MaskDiT's conditioning at σ_pur. While the model is frozen it
   * is computed once, off the tape, and kept until the outermost `frozen` call ends (`hold` runs
   * when it is made, `release` before it is freed); otherwise it is `make()` itself, on the tape
   * like any op.
   */
  protected weightConstant(key: string, make: () => Tensor, hooks: { hold?: (t: Tensor) => void; release?: (t: Tensor) => void } = {}): Tensor {
    const state = this.frozenState;
    if (!state) return make();
    let c = state.constants.get(key);
    if (!c) {
      const t = keep(noGrad(() => scope(() => make())));
      hooks.hold?.(t);
      state.constants.set(key, (c = { t, release: hooks.release }));
    }
    return c.t;
  }

  /** The trainable tensors, under their keys. */
  parameters(prefix = ''): NamedTensor[] {
    return this.stateEntries().filter((e) => e.kind === 'param').map((e) => [prefix + e.key, e.tensor]);
  }

  /** Saved state that no optimizer touches. */
  buffers(): NamedTensor[] {
    return this.stateEntries().filter((e) => e.kind === 'buffer').map((e) => [e.key, e.tensor]);
  }

  /** Turns gradients for the trainable tensors on (training) or off (frozen). */
  requireGrad(on = true): this {
    for (const [, t] of this.parameters()) t.requireGrad(on);
    return this;
  }

  /** The state on the host, with the model's metadata (for writeSafetensors and checkpoints). */
  async stateDict(metadata: Record<string, string> = {}): Promise<StateDict> {
    const tensors = new Map<string, HostTensor>();
    for (const e of this.stateEntries()) tensors.set(e.key, { shape: [...e.tensor.shape], dtype: 'f32', data: await e.tensor.data() });
    return { tensors, metadata: { ...this.stateMetadata(), ...metadata } };
  }

  /**
   * Copies a checkpoint's state in; the model keeps its tensors, so references to them stay valid.
   * Every problem (missing, misshapen, unexpected key, each with the shapes) is reported in one
   * error before anything is written, so a failed load leaves the model as it was.
   */
  loadStateDict(sd: StateDict | Map<string, HostTensor>, options: LoadOptions = {}): void {
    const strict = options.strict ?? true;
    const given = sd instanceof Map ? sd : sd.tensors;
    const reader = new StateReader(this.modelName, given);
    const writes: [Tensor, Float32Array][] = [];
    for (const e of this.stateEntries()) {
      if (!given.has(e.key) && (e.kind === 'fixed' || !strict)) { reader.allow(e.key); continue; }
      const data = reader.take(e.key, e.tensor.shape);
      if (data.length === e.tensor.size) writes.push([e.tensor, data]);
    }
    for (const k of given.keys()) if (!strict || this.ignoredKey(k)) reader.allow(k);
    reader.finish();
    for (const [t, data] of writes) assign(t, data);
  }

  dispose(): void {
    for (const e of this.stateEntries()) e.tensor.dispose();
  }
}

/**
 * A model with a checkpoint's weights, loaded strictly: its configuration is `config`, else the
 * JSON the model's `stateDict()` wrote under `metaKey`. `build` makes the model with zero weights
 * (strict loading overwrites every one, so none is drawn); a failed load frees it.
 */
export function loadModel<C, M extends StatefulModule>(sd: StateDict | Map<string, HostTensor>, config: C | undefined,
  o: { metaKey: string; what: string; named: string[]; build: (config: C) => M }): M {
  let cfg = config;
  if (cfg === undefined) {
    const meta = sd instanceof Map ? undefined : sd.metadata?.[o.metaKey];
    if (!meta) throw new Error(`${o.what}.load: no configuration given and none in the checkpoint's metadata (named ones: ${o.named.join(', ')})`);
    cfg = JSON.parse(meta) as C;
  }
  const model = o.build(cfg);
  try {
    model.loadStateDict(sd);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
