// The CIFAR ResNets of He et al. (2016), depth 6n + 2 (ResNet-20/32/44/56/110), with "option A"
// shortcuts, as in akamaster/pytorch_resnet_cifar10 (see ../shared/models/README.md):
//   conv3x3 3→16, BN, ReLU; three stages of n BasicBlocks with 16, 32, 64 channels and strides 1, 2, 2;
//   BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU; where the shape changes the
//   shortcut is x[:, :, ::2, ::2] with planes/4 zero channels on each side; global average pool;
//   linear 64→classes. Images in [0, 1] are normalized inside the model (ImageNet mean and std).
// Keys: conv1.weight, bn1.*, layer{1,2,3}.{i}.conv{1,2}.weight, layer{L}.{i}.bn{1,2}.*, linear.*.
// BatchNorms (eval mode) are folded into the conv before them, so each conv-BN pair is one conv.
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { Tensor } from '../engine/tensor.js';
import { add, relu } from '../engine/ops/elementwise.js';
import { fill } from '../engine/ops/creation.js';
import { concat } from '../engine/ops/layout.js';
import { avgPool2d, globalAvgPool } from '../engine/ops/pool.js';
import { StateReader, type ChannelAffine } from './state-reader.js';
import {
  ChannelMap, Conv, linearHead, WeightStore, IMAGENET_NORMALIZATION, checkInput, normalizationMap,
  type Classifier, type Normalization,
} from './cnn.js';
import type { Linear } from './layers.js';

export interface ResNetCifarConfig {
  /** 6n + 2: 20, 32, 44, 56, 110 (any n ≥ 1 works: 8, 14, ...). */
  depth: number;
  numClasses?: number;
  normalization?: Normalization;
}

/** Blocks per stage for a depth, or an error when the depth is not 6n + 2. */
export function resnetBlocks(depth: number): number {
  if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
    throw new Error(`resnet-cifar: depth ${depth} is not 6n + 2 with n ≥ 1 (20, 32, 44, 56, 110, ...)`);
  }
  return (depth - 2) / 6;
}

export const RESNET_WIDTHS = [16, 32, 64] as const;

interface Block { conv1: Conv; conv2: Conv; /** Channels added on each side by the option-A shortcut (0: identity). */ pad: number; stride: number; }

interface ConvSpec { w: Float32Array; shape: [number, number, number, number]; stride: number; bn: ChannelAffine; }
interface ResNetWeights { stem: ConvSpec; blocks: { c1: ConvSpec; c2: ConvSpec; pad: number; stride: number }[]; fcW: Float32Array; fcB: Float32Array; width: number; }

/** Reads every weight of the architecture through `r` (host side; BatchNorms as affine maps). */
function readResNet(depth: number, classes: number, r: StateReader): ResNetWeights {
  const n = resnetBlocks(depth);
  const conv3 = (key: string, bn: string, cin: number, cout: number, stride: number): ConvSpec => ({
    w: r.take(`${key}.weight`, [cout, cin, 3, 3]), shape: [cout, cin, 3, 3], stride, bn: r.batchNorm(bn, cout),
  });
  const stem = conv3('conv1', 'bn1', 3, RESNET_WIDTHS[0], 1);
  const blocks: ResNetWeights['blocks'] = [];
  let cin: number = RESNET_WIDTHS[0];
  RESNET_WIDTHS.forEach((planes, stage) => {
    for (let i = 0; i < n; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const p = `layer${stage + 1}.${i}`;
      blocks.push({
        c1: conv3(`${p}.conv1`, `${p}.bn1`, cin, planes, stride),
        c2: conv3(`${p}.conv2`, `${p}.bn2`, planes, planes, 1),
        // The reference pads planes/4 on each side: 16 → 32 and 32 → 64 channels.
        pad: stride !== 1 || cin !== planes ? planes / 4 : 0, stride,
      });
      cin = planes;
    }
  });
  return { stem, blocks, fcW: r.take('linear.weight', [classes, cin]), fcB: r.take('linear.bias', [classes]), width: cin };
}

/** The state-dict keys and shapes of a CIFAR ResNet (BatchNorm's num_batches_tracked is accepted but not listed). */
export function resnetCifarKeys(depth: number, numClasses = 10): Map<string, number[]> {
  const r = StateReader.listing(`resnet${depth}`);
  readResNet(depth, numClasses, r);
  return r.expected;
}

/**
 * x[:, :, ::2, ::2] (as a 1×1 average pool with stride 2, which copies every second pixel) with
 * `pad` zero channels on each side: the parameter-free shortcut where a stage halves the resolution
 * and doubles the channels.
 */
export function optionAShortcut(x: Tensor, pad: number): Tensor {
  const sub = avgPool2d(x, 1, 2);
  if (pad === 0) return sub;
  const [n, , h, w] = sub.shape;
  const zeros = fill([n, pad, h, w], 0);
  const y = concat([zeros, sub, zeros], 1);
  sub.dispose();
  zeros.dispose();
  return y;
}

export class ResNetCifar implements Classifier {
  readonly arch: string;
  readonly numClasses: number;
  readonly inputShape = [3, 32, 32] as const;
  private readonly store = new WeightStore();
  private readonly normalize: ChannelMap;
  private readonly stem: Conv;
  private readonly blocks: Block[] = [];
  private readonly head: Linear;

  /** Builds the model from a state dict (strict: missing, unexpected or misshapen keys throw). */
  constructor(config: ResNetCifarConfig, sd: StateDict | Map<string, HostTensor>) {
    resnetBlocks(config.depth);
    this.arch = `resnet${config.depth}`;
    const classes = this.numClasses = config.numClasses ?? 10;
    // Read everything on the host first, so that a bad state dict fails before any upload.
    const r = new StateReader(this.arch, sd);
    const wts = readResNet(config.depth, classes, r);
    r.finish();

    const s = this.store;
    this.normalize = normalizationMap(s, config.normalization ?? IMAGENET_NORMALIZATION);
    const make = (c: ConvSpec): Conv => new Conv(s, c.w, c.shape, c.stride, 1, c.bn);
    this.stem = make(wts.stem);
    for (const b of wts.blocks) this.blocks.push({ conv1: make(b.c1), conv2: make(b.c2), pad: b.pad, stride: b.stride });
    this.head = linearHead(s, wts.fcW, wts.fcB, classes, wts.width);
  }

  /** Logits [N, classes] for images [N, 3, 32, 32] in [0, 1]. */
  forward(x: Tensor): Tensor {
    checkInput(this, x);
    // Each step drops its handle on the step before: autograd keeps what a backward needs.
    const step = (prev: Tensor, next: Tensor): Tensor => { if (prev !== x) prev.dispose(); return next; };
    let h = this.normalize.apply(x);
    h = step(h, this.stem.apply(h));
    h = step(h, relu(h));
    for (const b of this.blocks) {
      let o = b.conv1.apply(h);
      o = step(o, relu(o));
      o = step(o, b.conv2.apply(o));
      const sc = b.stride === 1 && b.pad === 0 ? h : optionAShortcut(h, b.pad);
      o = step(o, add(o, sc));
      if (sc !== h) sc.dispose();
      h = step(h, relu(o));
      o.dispose();
    }
    h = step(h, globalAvgPool(h));
    return step(h, this.head.forward(h));
  }

  dispose(): void { this.store.dispose(); }
}
