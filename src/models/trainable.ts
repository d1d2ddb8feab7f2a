// Classifiers that train: their parameters take gradients and BatchNorm runs in training mode
// (batch statistics, running statistics updated) or in eval mode (running statistics). The CIFAR
// inference models (resnet_cifar.ts, wideresnet.ts) fold BatchNorm into frozen convolutions, which
// cannot train; the classes here keep every layer separate instead.
//   - cnn-mnist: conv 3×3 1→16, ReLU, 2×2 average pool, conv 3×3 16→32, ReLU, 2×2 average pool,
//     linear 1568→128, ReLU, linear 128→10; input normalized with MNIST's mean and std.
//   - resnet<6n+2> (resnet20, ...): the CIFAR ResNet of resnet_cifar.ts (option-A shortcuts, ImageNet
//     input normalization), with akamaster's state-dict keys, so a checkpoint saved from here loads
//     into ResNetCifar for `amrm eval` unchanged.
// Initialization: convolutions kaiming-normal (fan-in, ReLU gain) as akamaster's _weights_init; the
// CNN's linear layers PyTorch's default U(±1/sqrt(fan_in)) for weight and bias.
import { Tensor, keep } from '../engine/tensor.js';
import { assign, tensor, zeros, fill } from '../engine/ops/creation.js';
import { add, mul, relu, affine } from '../engine/ops/elementwise.js';
import { conv2d } from '../engine/ops/conv.js';
import { avgPool2d, globalAvgPool } from '../engine/ops/pool.js';
import { reshape } from '../engine/ops/layout.js';
import { batchNorm, batchNormTrain } from '../engine/ops/batchnorm.js';
import { noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import type { StateDict } from '../engine/io/host-tensor.js';
import { Linear } from './layers.js';
import { StatefulModule, type NamedTensor, type StateEntry } from './module.js';
import { optionAShortcut, resnetBlocks, RESNET_WIDTHS } from './resnet_cifar.js';
import { IMAGENET_NORMALIZATION, checkInput, type Classifier, type Normalization } from './cnn.js';

/** What the trainer needs of a model: parameters, extra state saved with them, a mode switch. */
export interface Trainable {
  /** The tensors the optimizer updates, under their state-dict keys. */
  parameters(): NamedTensor[];
  /** State saved with the weights that no optimizer touches (BatchNorm running statistics). */
  buffers(): NamedTensor[];
  /** Training mode (batch statistics, running statistics updated) or eval mode. */
  training: boolean;
  dispose(): void;
}

export const MNIST_NORMALIZATION: Normalization = { mean: [0.1307], std: [0.3081] };

function hostRandom(n: number, gen: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = gen();
  return a;
}

/** The state entries of a classifier in creation order (PyTorch's), with the seeded initializers. */
class Params {
  readonly list: StateEntry[] = [];
  constructor(readonly rng: Rng) {}
  add(name: string, t: Tensor, buffer = false): Tensor {
    keep(t); // the model owns it: no enclosing scope frees it
    this.list.push({ key: name, tensor: t, kind: buffer ? 'buffer' : 'param' });
    t.requireGrad(!buffer);
    return t;
  }
  kaiming(name: string, shape: number[]): Tensor {
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const std = Math.sqrt(2 / fanIn);
    return this.add(name, tensor(hostRandom(shape.reduce((a, b) => a * b, 1), () => std * this.rng.normal()), shape));
  }
  uniform(name: string, shape: number[], bound: number): Tensor {
    return this.add(name, tensor(hostRandom(shape.reduce((a, b) => a * b, 1), () => this.rng.uniform(-bound, bound)), shape));
  }
}

/** BatchNorm2d with PyTorch's keys (weight, bias, running_mean, running_var) and momentum 0.1. */
class BatchNorm2d {
  readonly weight: Tensor; readonly bias: Tensor; readonly runningMean: Tensor; readonly runningVar: Tensor;
  constructor(p: Params, prefix: string, c: number, readonly momentum = 0.1, readonly eps = 1e-5) {
    this.weight = p.add(`${prefix}.weight`, fill([c], 1));
    this.bias = p.add(`${prefix}.bias`, zeros([c]));
    this.runningMean = p.add(`${prefix}.running_mean`, zeros([c]), true);
    this.runningVar = p.add(`${prefix}.running_var`, fill([c], 1), true);
  }
  forward(x: Tensor, training: boolean): Tensor {
    if (!training) return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, this.eps);
    const r = batchNormTrain(x, this.weight, this.bias, this.eps);
    noGrad(() => {
      // running ← (1 − momentum)·running + momentum·batch, in place.
      for (const [run, batch] of [[this.runningMean, r.mean], [this.runningVar, r.variance]] as const) {
        const a = affine(run, 1 - this.momentum);
        const b = affine(batch, this.momentum);
        const s = add(a, b);
        assign(run, s);
        for (const t of [a, b, s, batch]) t.dispose();
      }
    });
    return r.y;
  }
}

/** The input normalization as tensors [1, C, 1, 1]: x·(1/std) + (−mean/std). */
function normalizer(n: Normalization): { scale: Tensor; shift: Tensor } {
  const c = n.mean.length;
  return {
    scale: keep(tensor(n.std.map((s) => 1 / s), [1, c, 1, 1])),
    shift: keep(tensor(n.mean.map((m, i) => -m / n.std[i]), [1, c, 1, 1])),
  };
}

abstract class TrainableClassifier extends StatefulModule implements Classifier, Trainable {
  abstract readonly arch: string;
  override get modelName(): string { return this.arch; }
  abstract readonly numClasses: number;
  abstract readonly inputShape: readonly [number, number, number];
  training = true;
  protected readonly p: Params;
  private readonly norm: { scale: Tensor; shift: Tensor };
  constructor(seed: number, normalization: Normalization) {
    super();
    this.p = new Params(new Rng(seed));
    this.norm = normalizer(normalization);
  }
  /** Parameters then buffers, in creation order within each (as the checkpoints have them). */
  stateEntries(): StateEntry[] {
    return [...this.p.list.filter((e) => e.kind === 'param'), ...this.p.list.filter((e) => e.kind === 'buffer')];
  }
  protected override stateMetadata(): Record<string, string> { return { 'amrm.classifier.arch': this.arch }; }
  // PyTorch's BatchNorm saves num_batches_tracked; no layer here uses it.
  protected override ignoredKey(key: string): boolean { return key.endsWith('num_batches_tracked'); }
  protected normalize(x: Tensor): Tensor {
    const xs = mul(x, this.norm.scale);
    const y = add(xs, this.norm.shift);
    xs.dispose();
    return y;
  }
  abstract forward(x: Tensor): Tensor;
  override dispose(): void {
    super.dispose();
    this.norm.scale.dispose();
    this.norm.shift.dispose();
  }
}

/** The small MNIST CNN (see the header). Tensors made in forward are left to the caller's scope. */
export class CnnMnist extends TrainableClassifier {
  readonly arch = 'cnn-mnist';
  readonly numClasses: number;
  readonly inputShape = [1, 28, 28] as const;
  private readonly conv1: [Tensor, Tensor];
  private readonly conv2: [Tensor, Tensor];
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  constructor(options: { seed?: number; numClasses?: number } = {}) {
    super(options.seed ?? 0, MNIST_NORMALIZATION);
    const p = this.p, classes = this.numClasses = options.numClasses ?? 10;
    const lin = (name: string, i: number, o: number): Linear => new Linear(p.uniform(`${name}.weight`, [o, i], 1 / Math.sqrt(i)), p.uniform(`${name}.bias`, [o], 1 / Math.sqrt(i)));
    // 32 and 64 channels: the 16/32 version stopped at 97.8% on the held-out digits.
    this.conv1 = [p.kaiming('conv1.weight', [32, 1, 3, 3]), p.add('conv1.bias', zeros([32]))];
    this.conv2 = [p.kaiming('conv2.weight', [64, 32, 3, 3]), p.add('conv2.bias', zeros([64]))];
    this.fc1 = lin('fc1', 64 * 7 * 7, 128);
    this.fc2 = lin('fc2', 128, classes);
  }
  forward(x: Tensor): Tensor {
    checkInput(this, x);
    let h = this.normalize(x);
    h = avgPool2d(relu(conv2d(h, this.conv1[0], this.conv1[1], { padding: 1 })), 2);
    h = avgPool2d(relu(conv2d(h, this.conv2[0], this.conv2[1], { padding: 1 })), 2);
    h = reshape(h, [x.shape[0], 64 * 7 * 7]);
    return this.fc2.forward(this.fc1.forward(h, 'relu'));
  }
}

/** A CIFAR ResNet that trains (see the header), key-compatible with ResNetCifar. */
export class ResNetTrainable extends TrainableClassifier {
  readonly arch: string;
  readonly numClasses: number;
  readonly inputShape = [3, 32, 32] as const;
  private readonly stem: { w: Tensor; bn: BatchNorm2d };
  private readonly blocks: { w1: Tensor; bn1: BatchNorm2d; w2: Tensor; bn2: BatchNorm2d; stride: number; pad: number }[] = [];
  private readonly head: Linear;
  constructor(options: { depth: number; seed?: number; numClasses?: number; normalization?: Normalization }) {
    super(options.seed ?? 0, options.normalization ?? IMAGENET_NORMALIZATION);
    const n = resnetBlocks(options.depth);
    this.arch = `resnet${options.depth}`;
    const classes = this.numClasses = options.numClasses ?? 10;
    const p = this.p;
    this.stem = { w: p.kaiming('conv1.weight', [16, 3, 3, 3]), bn: new BatchNorm2d(p, 'bn1', 16) };
    let cin: number = RESNET_WIDTHS[0];
    RESNET_WIDTHS.forEach((planes, stage) => {
      for (let i = 0; i < n; i++) {
        const stride = stage > 0 && i === 0 ? 2 : 1;
        const k = `layer${stage + 1}.${i}`;
        this.blocks.push({
          w1: p.kaiming(`${k}.conv1.weight`, [planes, cin, 3, 3]), bn1: new BatchNorm2d(p, `${k}.bn1`, planes),
          w2: p.kaiming(`${k}.conv2.weight`, [planes, planes, 3, 3]), bn2: new BatchNorm2d(p, `${k}.bn2`, planes),
          stride, pad: stride !== 1 || cin !== planes ? planes / 4 : 0,
        });
        cin = planes;
      }
    });
    // akamaster's _weights_init makes the linear weight kaiming-normal; its bias keeps PyTorch's default.
    this.head = new Linear(p.kaiming('linear.weight', [classes, cin]), p.uniform('linear.bias', [classes], 1 / Math.sqrt(cin)));
  }
  forward(x: Tensor): Tensor {
    checkInput(this, x);
    const t = this.training;
    let h = relu(this.stem.bn.forward(conv2d(this.normalize(x), this.stem.w, undefined, { padding: 1 }), t));
    for (const b of this.blocks) {
      let o = relu(b.bn1.forward(conv2d(h, b.w1, undefined, { stride: b.stride, padding: 1 }), t));
      o = b.bn2.forward(conv2d(o, b.w2, undefined, { padding: 1 }), t);
      const sc = b.stride === 1 && b.pad === 0 ? h : optionAShortcut(h, b.pad);
      h = relu(add(o, sc));
    }
    return this.head.forward(globalAvgPool(h));
  }
}

/** The architectures `createTrainableClassifier` builds. */
export const TRAINABLE_CLASSIFIERS = ['cnn-mnist', 'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet8'] as const;

export type TrainableClassifierModel = TrainableClassifier;

/** A freshly initialized trainable classifier ('cnn-mnist', or any 'resnet<6n+2>'). */
export function createTrainableClassifier(arch: string, options: { seed?: number; numClasses?: number } = {}): TrainableClassifier {
  if (arch === 'cnn-mnist') return new CnnMnist(options);
  const m = /^resnet(\d+)$/.exec(arch);
  if (m) return new ResNetTrainable({ depth: Number(m[1]), ...options });
  throw new Error(`unknown trainable classifier '${arch}' (known: cnn-mnist, resnet<6n+2> such as resnet20)`);
}

// ---------------------------------------------------------------- checkpoints
/** A trained classifier from a checkpoint written by trainableStateDict (eval mode). */
export function loadTrainedClassifier(sd: StateDict, arch?: string): TrainableClassifier {
  const name = arch ?? sd.metadata['amrm.classifier.arch'];
  if (!name) throw new Error('loadTrainedClassifier: no architecture given and none in the checkpoint metadata (amrm.classifier.arch)');
  const out = sd.tensors.get(name === 'cnn-mnist' ? 'fc2.bias' : 'linear.bias');
  const model = createTrainableClassifier(name, { numClasses: out?.shape[0] });
  try {
    model.loadStateDict(sd);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.training = false;
  return model;
}
