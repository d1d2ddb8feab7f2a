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
import { engine } from '../engine/engine.js';
import { tensor, zeros, fill } from '../engine/ops/creation.js';
import { add, mul, relu, affine } from '../engine/ops/elementwise.js';
import { conv2d } from '../engine/ops/conv.js';
import { avgPool2d, globalAvgPool } from '../engine/ops/pool.js';
import { reshape } from '../engine/ops/layout.js';
import { batchNorm, batchNormTrain } from '../engine/ops/batchnorm.js';
import { noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import { fmt } from '../engine/shape.js';
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import { Linear, type NamedTensor } from './vit.js';
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

class Params {
  readonly list: NamedTensor[] = [];
  readonly bufs: NamedTensor[] = [];
  constructor(readonly rng: Rng) {}
  add(name: string, t: Tensor, buffer = false): Tensor {
    keep(t);
    (buffer ? this.bufs : this.list).push([name, t]);
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
      // running ← (1 − momentum)·running + momentum·batch, copied into the running tensors' buffers
      // (a GPU copy, so it is ordered after earlier readers of the old values).
      for (const [run, batch] of [[this.runningMean, r.mean], [this.runningVar, r.variance]] as const) {
        const a = affine(run, 1 - this.momentum);
        const b = affine(batch, this.momentum);
        const s = add(a, b);
        engine().runtime.copy(s.buffer, run.buffer, run.size * 4);
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

abstract class TrainableClassifier implements Classifier, Trainable {
  abstract readonly arch: string;
  abstract readonly numClasses: number;
  abstract readonly inputShape: readonly [number, number, number];
  training = true;
  protected readonly p: Params;
  private readonly norm: { scale: Tensor; shift: Tensor };
  constructor(seed: number, normalization: Normalization) {
    this.p = new Params(new Rng(seed));
    this.norm = normalizer(normalization);
  }
  parameters(): NamedTensor[] { return this.p.list; }
  buffers(): NamedTensor[] { return this.p.bufs; }
  protected normalize(x: Tensor): Tensor {
    const xs = mul(x, this.norm.scale);
    const y = add(xs, this.norm.shift);
    xs.dispose();
    return y;
  }
  abstract forward(x: Tensor): Tensor;
  dispose(): void {
    for (const [, t] of [...this.p.list, ...this.p.bufs]) t.dispose();
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

// ---------------------------------------------------------------- state dicts
/** Parameters and buffers on the host, in that order, with the architecture in the metadata. */
export async function trainableStateDict(model: Trainable & { arch?: string }, metadata: Record<string, string> = {}): Promise<StateDict> {
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of [...model.parameters(), ...model.buffers()]) tensors.set(k, { shape: [...t.shape], dtype: 'f32', data: await t.data() });
  return { tensors, metadata: { ...(model.arch ? { 'amrm.classifier.arch': model.arch } : {}), ...metadata } };
}

/** Copies a state dict into a trainable model's tensors (strict: same keys, same shapes). */
export function loadTrainableState(model: Trainable, sd: StateDict | Map<string, HostTensor>, what = 'model'): void {
  const given = sd instanceof Map ? sd : sd.tensors;
  const entries = [...model.parameters(), ...model.buffers()];
  const problems: string[] = [];
  const known = new Set(entries.map(([k]) => k));
  for (const [k, t] of entries) {
    const h = given.get(k);
    if (!h) problems.push(`missing '${k}' ${fmt(t.shape)}`);
    else if (h.dtype !== 'f32' || h.shape.join() !== t.shape.join()) problems.push(`'${k}' is ${h.dtype}${fmt(h.shape)}, expected f32${fmt(t.shape)}`);
  }
  // num_batches_tracked (PyTorch BatchNorm) is accepted and ignored.
  for (const k of given.keys()) if (!known.has(k) && !k.endsWith('num_batches_tracked')) problems.push(`unexpected '${k}'`);
  if (problems.length) throw new Error(`${what}: the state dict does not fit (${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; ${problems.length - 10} more` : ''})`);
  const rt = engine().runtime;
  rt.submit(); // earlier recorded readers of the old values run first
  for (const [k, t] of entries) rt.write(t.buffer, given.get(k)!.data as Float32Array);
}

/** A trained classifier from a checkpoint written by trainableStateDict (eval mode). */
export function loadTrainedClassifier(sd: StateDict, arch?: string): TrainableClassifier {
  const name = arch ?? sd.metadata['amrm.classifier.arch'];
  if (!name) throw new Error('loadTrainedClassifier: no architecture given and none in the checkpoint metadata (amrm.classifier.arch)');
  const out = sd.tensors.get(name === 'cnn-mnist' ? 'fc2.bias' : 'linear.bias');
  const model = createTrainableClassifier(name, { numClasses: out?.shape[0] });
  try {
    loadTrainableState(model, sd, name);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.training = false;
  return model;
}
