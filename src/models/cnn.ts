// Building blocks shared by the CIFAR classifiers (ResNet, WideResNet): the classifier interface,
// convolutions with an inference-mode BatchNorm folded into their weights, per-channel affine maps,
// and the linear head. Weights are frozen: they never require gradients, while gradients still flow
// to the input image (attacks and purification need ∂loss/∂x).
import { Tensor } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { add, mul } from '../engine/ops/elementwise.js';
import { conv2d } from '../engine/ops/conv.js';
import { Linear } from './layers.js';
import { fmt } from '../engine/shape.js';
import type { ChannelAffine } from './state-reader.js';

/** An image classifier: images [N, C, H, W] with values in [0, 1] to logits [N, classes]. */
export interface Classifier {
  readonly arch: string;
  readonly numClasses: number;
  /** The [C, H, W] of one input image. */
  readonly inputShape: readonly [number, number, number];
  forward(x: Tensor): Tensor;
  /** Frees the weights' GPU buffers. */
  dispose(): void;
}

/** Channel statistics the input is normalized with: (x − mean) / std per channel. */
export interface Normalization { mean: readonly number[]; std: readonly number[]; }

/** The ImageNet statistics that the CIFAR ResNet checkpoints (akamaster) were trained with. */
export const IMAGENET_NORMALIZATION: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** Holds the GPU tensors a model creates, so that dispose() frees them all. */
export class WeightStore {
  private readonly all: Tensor[] = [];
  upload(data: ArrayLike<number>, shape: readonly number[]): Tensor {
    const t = tensor(Float32Array.from(data), shape);
    this.all.push(t);
    return t;
  }
  dispose(): void { for (const t of this.all.splice(0)) t.dispose(); }
}

/** A per-channel affine map y = x·scale + shift over axis 1 of NCHW tensors. */
export class ChannelMap {
  readonly scale: Tensor;
  readonly shift: Tensor;
  constructor(store: WeightStore, a: ChannelAffine) {
    const c = a.scale.length;
    this.scale = store.upload(a.scale, [1, c, 1, 1]);
    this.shift = store.upload(a.shift, [1, c, 1, 1]);
  }
  apply(x: Tensor): Tensor {
    const xs = mul(x, this.scale);
    const y = add(xs, this.shift);
    xs.dispose();
    return y;
  }
}

/** Input normalization as a channel map: (x − mean)/std = x·(1/std) + (−mean/std). */
export function normalizationMap(store: WeightStore, n: Normalization): ChannelMap {
  if (n.mean.length !== n.std.length || n.std.some((s) => !(s > 0))) {
    throw new Error(`normalization: mean [${n.mean}] and std [${n.std}] must have the same length and positive std`);
  }
  return new ChannelMap(store, {
    scale: Float64Array.from(n.std, (s) => 1 / s),
    shift: Float64Array.from(n.mean, (m, i) => -m / n.std[i]),
  });
}

/**
 * A bias-free convolution, optionally followed by an inference-mode BatchNorm that is folded into it:
 * conv(x, w)·scale + shift = conv(x, w·scale) + shift, so the pair is one conv with a bias.
 */
export class Conv {
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  constructor(store: WeightStore, w: Float32Array, readonly shape: readonly [number, number, number, number],
    readonly stride: number, readonly padding: number, bn?: ChannelAffine) {
    const [o] = shape;
    const per = w.length / o;
    if (!bn) {
      this.weight = store.upload(w, shape);
      this.bias = undefined;
      return;
    }
    if (bn.scale.length !== o) throw new Error(`Conv: BatchNorm of ${bn.scale.length} channels after a conv with weight ${fmt(shape)}`);
    const folded = new Float64Array(w.length);
    for (let i = 0; i < w.length; i++) folded[i] = w[i] * bn.scale[Math.floor(i / per)];
    this.weight = store.upload(folded, shape);
    this.bias = store.upload(bn.shift, [o]);
  }
  apply(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}

/** The classifier head: vit.ts's Linear (PyTorch's [out, in] layout) over uploaded weights. */
export function linearHead(store: WeightStore, w: Float32Array, b: Float32Array, out: number, inp: number): Linear {
  return new Linear(store.upload(w, [out, inp]), store.upload(b, [out]));
}

/** Checks a classifier's input before any dispatch: f32 [N, C, H, W] with the model's C, H, W. */
export function checkInput(model: Classifier, x: Tensor): void {
  const [c, h, w] = model.inputShape;
  if (x.dtype !== 'f32' || x.rank !== 4 || x.shape[1] !== c || x.shape[2] !== h || x.shape[3] !== w) {
    throw new Error(`${model.arch}: expected images f32[N, ${c}, ${h}, ${w}], got ${x.dtype}${fmt(x.shape)}`);
  }
}
