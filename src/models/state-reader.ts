// Reading a model's weights out of a state dict with PyTorch's strict rules: every expected key
// present with its exact shape, and no key left over. Problems are collected while the model is
// built and reported together, so one error lists every missing, unexpected and misshapen key.
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { fmt } from '../engine/shape.js';

/** How many of each kind of problem an error message lists before it says "and N more". */
const LIST_AT_MOST = 12;

/** Per-channel scale and shift of an inference-mode BatchNorm: y = x·scale + shift (float64). */
export interface ChannelAffine { scale: Float64Array; shift: Float64Array; }

export class StateReader {
  private readonly tensors: Map<string, HostTensor>;
  private readonly used = new Set<string>();
  private readonly missing: string[] = [];
  private readonly misshapen: string[] = [];
  /** Every key the model reads, with its shape, in reading order. */
  readonly expected = new Map<string, number[]>();
  private dry = false;

  constructor(readonly model: string, sd: StateDict | Map<string, HostTensor>) {
    this.tensors = sd instanceof Map ? sd : sd.tensors;
  }

  /**
   * A reader over no data that only records the keys and shapes a model reads (`expected`), without
   * allocating them: how the key layout of a model too large to fill is listed.
   */
  static listing(model: string): StateReader {
    const r = new StateReader(model, new Map());
    r.dry = true;
    return r;
  }

  /**
   * The f32 data of `key`, which must have exactly `shape`. A missing or misshapen key is noted and
   * an empty array returned (building goes on to find every problem; `finish` then throws).
   */
  take(key: string, shape: readonly number[]): Float32Array {
    this.used.add(key);
    this.expected.set(key, [...shape]);
    if (this.dry) return new Float32Array(0);
    const t = this.tensors.get(key);
    if (!t) { this.missing.push(`${key} ${fmt(shape)}`); return new Float32Array(0); }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.dtype !== 'f32') {
      this.misshapen.push(`${key}: expected f32${fmt(shape)}, got ${t.dtype}${fmt(t.shape)}`);
      return new Float32Array(0);
    }
    return t.data as Float32Array;
  }

  /** Marks a key the model ignores but accepts (BatchNorm's num_batches_tracked), present or not. */
  allow(key: string): void { this.used.add(key); }

  /**
   * BatchNorm `prefix` with `c` channels in eval mode, as the per-channel affine map it computes:
   * scale = weight / sqrt(running_var + eps), shift = bias − running_mean·scale.
   */
  batchNorm(prefix: string, c: number, eps = 1e-5): ChannelAffine {
    const gamma = this.take(`${prefix}.weight`, [c]), beta = this.take(`${prefix}.bias`, [c]);
    const mean = this.take(`${prefix}.running_mean`, [c]), variance = this.take(`${prefix}.running_var`, [c]);
    this.allow(`${prefix}.num_batches_tracked`);
    const scale = new Float64Array(c), shift = new Float64Array(c);
    for (let i = 0; i < c; i++) {
      scale[i] = gamma[i] / Math.sqrt(variance[i] + eps);
      shift[i] = beta[i] - mean[i] * scale[i];
    }
    return { scale, shift };
  }

  /** Throws one error listing every missing, misshapen and unexpected key, if there are any. */
  finish(): void {
    const unexpected = [...this.tensors.keys()].filter((k) => !this.used.has(k));
    if (!this.missing.length && !this.misshapen.length && !unexpected.length) return;
    const list = (what: string, items: string[]): string => {
      if (!items.length) return '';
      const more = items.length > LIST_AT_MOST ? `, and ${items.length - LIST_AT_MOST} more` : '';
      return `\n  ${what} (${items.length}): ${items.slice(0, LIST_AT_MOST).join('; ')}${more}`;
    };
    throw new Error(`${this.model}: the state dict does not fit the model (${this.tensors.size} keys given)` +
      list('missing', this.missing) + list('wrong shape or dtype', this.misshapen) + list('unexpected', unexpected));
  }
}
