import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng, arr, normRelErr, type Arr } from '../harness.js';
import { ResNetCifar, resnetCifarKeys, optionAShortcut } from '../../src/models/resnet_cifar.js';
import { createClassifier, inferClassifierArch } from '../../src/models/classifiers.js';
import * as ref from '../../src/models/reference/cnn.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import { loadCifar10 } from '../../src/data/cifar-fs.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { mul, sum } from '../../src/engine/ops/index.js';
import { backward } from '../../src/engine/autograd.js';
import { asyncScope, scope } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';
import type { Classifier } from '../../src/models/cnn.js';
import type { HostTensor } from '../../src/engine/io/host-tensor.js';
import { randomStateDict, parameterCount, haveFiles, CIFAR_DIR, RESNET20, RESNET56 } from './fixtures.js';

await setup();
const test = suite('models: resnet-cifar');
const rng = new Rng(20);

const randomImages = (n: number): Float32Array => Float32Array.from({ length: n * 3072 }, () => rng.next());

async function logits(model: Classifier, images: Float32Array, n: number): Promise<Float32Array> {
  return asyncScope(async () => model.forward(tensor(images, [n, 3, 32, 32])).data());
}

test('key layout and parameter counts of ResNet-20/32/44/56/110 (0.27M ... 1.7M, as published)', () => {
  const counts: Record<number, number> = { 20: 269722, 32: 464154, 44: 658586, 56: 853018, 110: 1727962 };
  for (const [depth, count] of Object.entries(counts)) assert.is(parameterCount(resnetCifarKeys(Number(depth))), count, `resnet${depth}`);
  const keys = resnetCifarKeys(20);
  assert.equal(keys.get('conv1.weight'), [16, 3, 3, 3]);
  assert.equal(keys.get('layer2.0.conv1.weight'), [32, 16, 3, 3]);
  assert.equal(keys.get('layer3.2.bn2.running_var'), [64]);
  assert.equal(keys.get('linear.weight'), [10, 64]);
  assert.is(keys.has('layer1.3.conv1.weight'), false);
  assert.throws(() => resnetCifarKeys(21), /depth 21 is not 6n \+ 2/);
});

test('option-A shortcut: every second pixel, planes/4 zero channels each side (forward and gradient)', async () => {
  const x0 = arr([2, 3, 5, 6], Float32Array.from({ length: 180 }, () => rng.uniform(-1, 1)));
  const want = ref.optionAShortcut(x0, 2);
  await asyncScope(async () => {
    const x = tensor(Float32Array.from(x0.data), x0.shape).requireGrad();
    const y = optionAShortcut(x, 2);
    assert.equal([...y.shape], [2, 7, 3, 3]);
    assert.equal(Array.from(await y.data()), Array.from(want.data));
    // The gradient of Σ y·g is g scattered back to the pixels that were copied, zero elsewhere.
    const g = Float32Array.from({ length: y.size }, () => rng.uniform(-1, 1));
    backward(sum(mul(y, tensor(g, y.shape))));
    const gx = await x.grad!.data();
    const wantG = new Float32Array(x.size);
    for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      wantG[((b * 3 + c) * 5 + 2 * i) * 6 + 2 * j] = g[((b * 7 + c + 2) * 3 + i) * 3 + j];
    }
    assert.equal(Array.from(gx), Array.from(wantG));
  });
});

test('random ResNet-8: logits match the float64 reference; the input gradient matches its finite differences', async () => {
  const sd = randomStateDict(resnetCifarKeys(8), rng);
  const model = new ResNetCifar({ depth: 8 }, sd);
  try {
    const n = 2, images = randomImages(n);
    const want = ref.resnetCifar(sd, 8, arr([n, 3, 32, 32], images));
    const got = await logits(model, images, n);
    assert.equal(Array.from(got).length, 20);
    const err = normRelErr(got, want.data);
    assert.ok(err < 1e-4, `logits off by ${err.toExponential(2)}`);
    // d/dε of Σ logits·g at x + ε·v, from autograd (⟨∇x, v⟩) and from central differences in float64.
    const g = Float64Array.from({ length: 20 }, () => rng.uniform(-1, 1));
    const v = Float64Array.from({ length: n * 3072 }, () => rng.uniform(-1, 1));
    const gx = await asyncScope(async () => {
      const x = tensor(images, [n, 3, 32, 32]).requireGrad();
      backward(sum(mul(model.forward(x), tensor(Float32Array.from(g), [n, 10]))));
      return x.grad!.data();
    });
    let dir = 0;
    for (let i = 0; i < v.length; i++) dir += gx[i] * v[i];
    const f = (eps: number): number => {
      const xe = arr([n, 3, 32, 32], Float64Array.from(images, (p, i) => p + eps * v[i]));
      return ref.resnetCifar(sd, 8, xe).data.reduce((s, l, i) => s + l * g[i], 0);
    };
    // A small step (the reference is float64) rarely moves a ReLU across its kink.
    const eps = 1e-6, fd = (f(eps) - f(-eps)) / (2 * eps);
    assert.ok(Math.abs(dir - fd) <= 1e-4 * Math.max(1, Math.abs(fd)), `directional derivative ${dir} vs finite differences ${fd}`);
  } finally { model.dispose(); }
});

test('strict loading: one error lists missing, misshapen and unexpected keys; bad inputs are refused', () => {
  const good = randomStateDict(resnetCifarKeys(8), rng);
  const bad = new Map<string, HostTensor>(good);
  bad.delete('layer2.0.conv1.weight');
  bad.set('layer3.0.bn1.weight', { shape: [63], dtype: 'f32', data: new Float32Array(63) });
  bad.set('fc.weight', { shape: [10, 64], dtype: 'f32', data: new Float32Array(640) });
  try {
    new ResNetCifar({ depth: 8 }, bad);
    assert.unreachable('should have thrown');
  } catch (e) {
    const m = (e as Error).message;
    assert.match(m, /resnet8: the state dict does not fit the model/);
    assert.match(m, /missing \(1\): layer2\.0\.conv1\.weight \[32, 16, 3, 3\]/);
    assert.match(m, /wrong shape or dtype \(1\): layer3\.0\.bn1\.weight: expected f32\[64\], got f32\[63\]/);
    assert.match(m, /unexpected \(1\): fc\.weight/);
  }
  assert.throws(() => createClassifier('resnet20', good), /resnet20: the state dict does not fit the model[\s\S]*missing \(\d+\): layer1\.1\.conv1\.weight[\s\S]*the keys look like resnet8/);
  assert.throws(() => createClassifier('resnet-20', good), /unknown classifier architecture 'resnet-20'/);
  assert.equal(inferClassifierArch(good), { arch: 'resnet8', numClasses: 10 });
  const model = createClassifier(undefined, good);
  try {
    assert.is(model.arch, 'resnet8');
    assert.throws(() => scope(() => model.forward(tensor(new Float32Array(2 * 3 * 16 * 16), [2, 3, 16, 16]))), /resnet8: expected images f32\[N, 3, 32, 32\], got f32\[2, 3, 16, 16\]/);
  } finally { model.dispose(); }
});

test('forward passes inside scope() leave the pool where it started; dispose() frees the weights', async () => {
  const rt = engine().runtime;
  await rt.sync();
  const base = rt.stats().bytesInUse;
  const model = new ResNetCifar({ depth: 8 }, randomStateDict(resnetCifarKeys(8), rng));
  const withWeights = rt.stats().bytesInUse;
  const x = randomImages(2);
  for (let i = 0; i < 5; i++) await logits(model, x, 2);
  await rt.sync();
  assert.is(rt.stats().bytesInUse, withWeights);
  model.dispose();
  assert.is(rt.stats().bytesInUse, base);
});

// The published checkpoints on real test images (../shared, see its models/README.md).
for (const [name, path, depth, count] of [['ResNet-20', RESNET20, 20, 3], ['ResNet-56', RESNET56, 56, 2]] as const) {
  test(`${name} checkpoint: keys as expected; logits on ${count} real test images match the float64 reference to 1e-4`, async () => {
    if (!haveFiles(`the ${name} checkpoint test`, path, CIFAR_DIR)) return;
    const sd = loadStateDictFile(path);
    const keys = [...sd.tensors.keys()].filter((k) => !k.endsWith('num_batches_tracked')).sort();
    assert.equal(keys, [...resnetCifarKeys(depth).keys()].sort());
    const set = loadCifar10(CIFAR_DIR, { split: 'test', indices: Array.from({ length: count }, (_, i) => i) });
    const model = createClassifier(undefined, sd);
    try {
      assert.is(model.arch, `resnet${depth}`);
      const got = await logits(model, set.images, count);
      const want: Arr = ref.resnetCifar(sd.tensors, depth, arr([count, 3, 32, 32], set.images));
      const err = normRelErr(got, want.data);
      assert.ok(err <= 1e-4, `${name} logits off by ${err.toExponential(2)} from the float64 reference`);
      // Each image's prediction agrees with the reference's.
      for (let i = 0; i < count; i++) {
        const am = (a: ArrayLike<number>): number => { let k = 0; for (let j = 1; j < 10; j++) if (a[i * 10 + j] > a[i * 10 + k]) k = j; return k; };
        assert.is(am(got), am(want.data), `prediction for image ${i}`);
      }
    } finally { model.dispose(); }
  });
}

test.run();
