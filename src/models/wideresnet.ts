// WideResNet-depth-k (Zagoruyko & Komodakis, 2016) for 32×32 images, with the pre-activation blocks
// and key names of the PyTorch WideResNet that robustness benchmarks (RobustBench, TRADES) use:
//   conv1 (3→16); block{1,2,3}.layer.{i}: bn1, relu1, conv1 (3×3, stride on the first block of
//   stages 2 and 3), bn2, relu2, conv2 (3×3), and convShortcut (1×1) where the channels change;
//   then bn1, ReLU, global average pool, fc. Widths 16, 16k, 32k, 64k; n = (depth − 4)/6 blocks per stage.
// A block whose input and output widths differ applies relu1(bn1(x)) to x itself, and the shortcut
// convolves that activated x; otherwise the shortcut is x. bn2 is folded into conv1 before it; the
// other BatchNorms follow an addition and stay per-channel affine maps.
// Inputs are in [0, 1]; the benchmark models normalize nothing, so no normalization is the default.
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { Tensor } from '../engine/tensor.js';
import { add, relu } from '../engine/ops/elementwise.js';
import { globalAvgPool } from '../engine/ops/pool.js';
import { StateReader, type ChannelAffine } from './state-reader.js';
import {
  ChannelMap, Conv, linearHead, WeightStore, checkInput, normalizationMap, type Classifier, type Normalization,
} from './cnn.js';
import type { Linear } from './layers.js';

export interface WideResNetConfig {
  /** 6n + 4: 16, 28, 70, ... */
  depth: number;
  /** The widening factor k. */
  width: number;
  numClasses?: number;
  /** Absent: the images go in as they are. */
  normalization?: Normalization;
}

export function wrnBlocks(depth: number, width: number): number {
  if (!Number.isInteger(depth) || depth < 10 || (depth - 4) % 6 !== 0) {
    throw new Error(`wideresnet: depth ${depth} is not 6n + 4 with n ≥ 1 (16, 28, 70, ...)`);
  }
  if (!Number.isInteger(width) || width < 1) throw new Error(`wideresnet: width ${width} is not a positive integer`);
  return (depth - 4) / 6;
}

interface Block { bn1: ChannelMap; conv1: Conv; conv2: Conv; shortcut: Conv | undefined; }

interface BlockWeights { bn1: ChannelAffine; w1: Float32Array; bn2: ChannelAffine; w2: Float32Array; ws?: Float32Array; cin: number; cout: number; stride: number; }
interface WrnWeights { stem: Float32Array; blocks: BlockWeights[]; bnOut: ChannelAffine; fcW: Float32Array; fcB: Float32Array; widths: number[]; }

/** Reads every weight of the architecture through `r` (host side; BatchNorms as affine maps). */
function readWideResNet(depth: number, k: number, classes: number, r: StateReader): WrnWeights {
  const n = wrnBlocks(depth, k);
  const widths = [16, 16 * k, 32 * k, 64 * k];
  const stem = r.take('conv1.weight', [widths[0], 3, 3, 3]);
  const blocks: BlockWeights[] = [];
  for (let stage = 0; stage < 3; stage++) {
    for (let i = 0; i < n; i++) {
      const cin = i === 0 ? widths[stage] : widths[stage + 1], cout = widths[stage + 1];
      const stride = i === 0 && stage > 0 ? 2 : 1;
      const p = `block${stage + 1}.layer.${i}`;
      blocks.push({
        bn1: r.batchNorm(`${p}.bn1`, cin),
        w1: r.take(`${p}.conv1.weight`, [cout, cin, 3, 3]),
        bn2: r.batchNorm(`${p}.bn2`, cout),
        w2: r.take(`${p}.conv2.weight`, [cout, cout, 3, 3]),
        ws: cin !== cout ? r.take(`${p}.convShortcut.weight`, [cout, cin, 1, 1]) : undefined,
        cin, cout, stride,
      });
    }
  }
  const bnOut = r.batchNorm('bn1', widths[3]);
  return { stem, blocks, bnOut, fcW: r.take('fc.weight', [classes, widths[3]]), fcB: r.take('fc.bias', [classes]), widths };
}

/** The state-dict keys and shapes of a WideResNet (num_batches_tracked accepted but not listed). */
export function wideResNetKeys(depth: number, width: number, numClasses = 10): Map<string, number[]> {
  const r = StateReader.listing(`wrn-${depth}-${width}`);
  readWideResNet(depth, width, numClasses, r);
  return r.expected;
}

export class WideResNet implements Classifier {
  readonly arch: string;
  readonly numClasses: number;
  readonly inputShape = [3, 32, 32] as const;
  private readonly store = new WeightStore();
  private readonly normalize: ChannelMap | undefined;
  private readonly stem: Conv;
  private readonly blocks: Block[] = [];
  private readonly bnOut: ChannelMap;
  private readonly head: Linear;

  constructor(config: WideResNetConfig, sd: StateDict | Map<string, HostTensor>) {
    const k = config.width;
    wrnBlocks(config.depth, k);
    this.arch = `wrn-${config.depth}-${k}`;
    const classes = this.numClasses = config.numClasses ?? 10;
    const r = new StateReader(this.arch, sd);
    const wts = readWideResNet(config.depth, k, classes, r);
    r.finish();
    const { widths } = wts;

    const s = this.store;
    this.normalize = config.normalization ? normalizationMap(s, config.normalization) : undefined;
    this.stem = new Conv(s, wts.stem, [widths[0], 3, 3, 3], 1, 1);
    for (const b of wts.blocks) {
      this.blocks.push({
        bn1: new ChannelMap(s, b.bn1),
        conv1: new Conv(s, b.w1, [b.cout, b.cin, 3, 3], b.stride, 1, b.bn2),
        conv2: new Conv(s, b.w2, [b.cout, b.cout, 3, 3], 1, 1),
        shortcut: b.ws ? new Conv(s, b.ws, [b.cout, b.cin, 1, 1], b.stride, 0) : undefined,
      });
    }
    this.bnOut = new ChannelMap(s, wts.bnOut);
    this.head = linearHead(s, wts.fcW, wts.fcB, classes, widths[3]);
  }

  /** Logits [N, classes] for images [N, 3, 32, 32] in [0, 1]. */
  forward(x: Tensor): Tensor {
    checkInput(this, x);
    const step = (prev: Tensor, next: Tensor): Tensor => { if (prev !== x) prev.dispose(); return next; };
    let h = x;
    if (this.normalize) h = this.normalize.apply(x);
    h = step(h, this.stem.apply(h));
    for (const b of this.blocks) {
      let a = b.bn1.apply(h);
      a = step(a, relu(a));
      let o = b.conv1.apply(a);
      o = step(o, relu(o));
      o = step(o, b.conv2.apply(o));
      // Widths differ: the activated input feeds the shortcut convolution; else the raw input is added.
      const sc = b.shortcut ? b.shortcut.apply(a) : h;
      o = step(o, add(o, sc));
      if (sc !== h) sc.dispose();
      a.dispose();
      h = step(h, o);
    }
    h = step(h, this.bnOut.apply(h));
    h = step(h, relu(h));
    h = step(h, globalAvgPool(h));
    return step(h, this.head.forward(h));
  }

  dispose(): void { this.store.dispose(); }
}
