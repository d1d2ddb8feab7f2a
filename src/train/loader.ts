// Training batches: a seeded shuffle per epoch, CIFAR augmentation (random crop with 4 pixels of
// zero padding, horizontal flip), and one batch prepared and uploaded ahead. Every batch is a pure
// function of (seed, epoch, batch index): resuming at a position gives the same batches as a run
// that never stopped, with no generator state to save.
import { Tensor, keep } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { Rng } from '../engine/random.js';
import type { ImageSet } from '../data/dataset.js';

export type Augment = 'none' | 'crop' | 'crop-flip';

export interface LoaderOptions {
  batch: number;
  seed: number;
  /**
   * 'crop-flip': random crop with `pad` pixels of zero padding and a horizontal flip (p = 0.5), for
   * CIFAR; 'crop': the crop alone (small shifts), for digits, which a mirror would turn into others.
   */
  augment?: Augment;
  /** Padding of the random crop (default 4). */
  pad?: number;
}

/** Where the loader is: the epoch and the index of the next batch within it. */
export interface LoaderPosition { epoch: number; index: number; }

export interface HostBatch { images: Float32Array; labels: Int32Array; shape: [number, number, number, number]; }

/** An uploaded batch; the caller disposes it after the step. */
export interface Batch extends HostBatch {
  x: Tensor;
  y: Tensor;
  epoch: number;
  index: number;
  dispose(): void;
}

/** A 32-bit seed from several integers (a small avalanche hash), so nearby inputs give unrelated streams. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

/**
 * Random crop of one [c, h, w] image after zero padding by `pad` (the crop's offset dy, dx in
 * [−pad, pad]), then a mirror when `flip`: out[y][x] = in[y + dy][x' + dx] (zero outside), where
 * x' = w − 1 − x when flipped. Writes into `out`.
 */
export function cropFlip(src: Float32Array, out: Float32Array, c: number, h: number, w: number, dy: number, dx: number, flip: boolean): void {
  for (let ch = 0; ch < c; ch++) {
    const base = ch * h * w;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        out[base + y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[base + sy * w + sx] : 0;
      }
    }
  }
}

export class BatchLoader {
  readonly batchesPerEpoch: number;
  private readonly per: number;
  private pos: LoaderPosition;
  private ahead: Batch | undefined;
  private orderCache: { epoch: number; order: Int32Array } | undefined;

  constructor(readonly set: ImageSet, readonly options: LoaderOptions, start: LoaderPosition = { epoch: 0, index: 0 }) {
    const b = options.batch;
    if (!Number.isInteger(b) || b < 1) throw new Error(`loader: batch ${b} must be a positive integer`);
    if (set.n < b) throw new Error(`loader: the data set has ${set.n} images, fewer than one batch of ${b}`);
    // The last partial batch of an epoch is dropped: every step sees the same batch size.
    this.batchesPerEpoch = Math.floor(set.n / b);
    this.per = set.shape[1] * set.shape[2] * set.shape[3];
    if (!(start.index >= 0 && start.index <= this.batchesPerEpoch && start.epoch >= 0)) throw new Error(`loader: position ${JSON.stringify(start)} is outside the data`);
    this.pos = start.index === this.batchesPerEpoch ? { epoch: start.epoch + 1, index: 0 } : { ...start };
  }

  /** The next batch to be taken. */
  get position(): LoaderPosition { return { ...this.pos }; }

  /** The permutation of the images in `epoch`. */
  order(epoch: number): Int32Array {
    if (this.orderCache?.epoch !== epoch) this.orderCache = { epoch, order: new Rng(mixSeed(this.options.seed, epoch, 1)).permutation(this.set.n) };
    return this.orderCache.order;
  }

  /** Batch `index` of `epoch` on the host (augmented): a pure function of the seed and the position. */
  hostBatch(epoch: number, index: number): HostBatch {
    const { batch: b, augment = 'none', pad = 4 } = this.options;
    const [, c, h, w] = this.set.shape;
    const order = this.order(epoch);
    const images = new Float32Array(b * this.per), labels = new Int32Array(b);
    const rng = new Rng(mixSeed(this.options.seed, epoch, index, 2));
    for (let i = 0; i < b; i++) {
      const k = order[index * b + i];
      labels[i] = this.set.labels[k];
      const src = this.set.images.subarray(k * this.per, (k + 1) * this.per);
      const dst = images.subarray(i * this.per, (i + 1) * this.per);
      if (augment !== 'none') {
        const dy = rng.int(2 * pad + 1) - pad, dx = rng.int(2 * pad + 1) - pad;
        cropFlip(src, dst, c, h, w, dy, dx, augment === 'crop-flip' && rng.next() < 0.5);
      } else dst.set(src);
    }
    return { images, labels, shape: [b, c, h, w] };
  }

  private upload(epoch: number, index: number): Batch {
    const hb = this.hostBatch(epoch, index);
    // Fresh buffers: nothing recorded reads them, so the queue writes need no ordering.
    const x = keep(tensor(hb.images, hb.shape));
    const y = keep(tensor(hb.labels, [hb.shape[0]], 'i32'));
    return { ...hb, x, y, epoch, index, dispose: () => { x.dispose(); y.dispose(); } };
  }

  /** Hands out the next batch (uploaded ahead by `prefetch` when it was called) and advances. */
  take(): Batch {
    const { epoch, index } = this.pos;
    const b = this.ahead && this.ahead.epoch === epoch && this.ahead.index === index ? this.ahead : this.upload(epoch, index);
    this.ahead = undefined;
    this.pos = index + 1 === this.batchesPerEpoch ? { epoch: epoch + 1, index: 0 } : { epoch, index: index + 1 };
    return b;
  }

  /**
   * Prepares and uploads the next batch now. Call it after submitting a step's work and before
   * waiting on it: the host work (gather, augmentation) and the upload overlap the GPU's work.
   */
  prefetch(): void {
    if (this.ahead) return;
    this.ahead = this.upload(this.pos.epoch, this.pos.index);
  }

  dispose(): void { this.ahead?.dispose(); this.ahead = undefined; }
}
