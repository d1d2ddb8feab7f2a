import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, Rng, arr, normRelErr } from '../harness.js';
import { WideResNet, wideResNetKeys } from '../../src/models/wideresnet.js';
import { createClassifier, inferClassifierArch, CLASSIFIER_ARCHS } from '../../src/models/classifiers.js';
import * as ref from '../../src/models/reference/cnn.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { mul, sum } from '../../src/engine/ops/index.js';
import { backward } from '../../src/engine/autograd.js';
import { asyncScope } from '../../src/engine/tensor.js';
import type { HostTensor } from '../../src/engine/io/host-tensor.js';
import { randomStateDict, parameterCount } from './fixtures.js';

await setup();
const test = suite('models: wideresnet');
const rng = new Rng(28);

test('key names and parameter counts of WRN-16-4, WRN-28-10, WRN-70-16 (2.7M, 36.5M, 267M)', () => {
  assert.is(parameterCount(wideResNetKeys(16, 4)), 2748890);
  assert.is(parameterCount(wideResNetKeys(28, 10)), 36479194);
  assert.is(parameterCount(wideResNetKeys(70, 16)), 266796506);
  const k = wideResNetKeys(28, 10);
  assert.equal(k.get('conv1.weight'), [16, 3, 3, 3]);
  assert.equal(k.get('block1.layer.0.bn1.weight'), [16]);
  assert.equal(k.get('block1.layer.0.conv1.weight'), [160, 16, 3, 3]);
  assert.equal(k.get('block1.layer.0.convShortcut.weight'), [160, 16, 1, 1]);
  assert.equal(k.get('block2.layer.0.convShortcut.weight'), [320, 160, 1, 1]);
  assert.is(k.has('block2.layer.1.convShortcut.weight'), false);
  assert.equal(k.get('block3.layer.3.conv2.weight'), [640, 640, 3, 3]);
  assert.is(k.has('block3.layer.4.conv1.weight'), false);
  assert.equal(k.get('bn1.running_var'), [640]);
  assert.equal(k.get('fc.weight'), [10, 640]);
  // The registry knows the names, and reads an architecture off the keys (shapes only, no data needed).
  for (const arch of ['wrn-16-4', 'wrn-28-10', 'wrn-70-16']) assert.ok((CLASSIFIER_ARCHS as readonly string[]).includes(arch));
  const shapesOnly = new Map<string, HostTensor>([...wideResNetKeys(70, 16)].map(([key, shape]) => [key, { shape, dtype: 'f32', data: new Float32Array(0) }]));
  assert.equal(inferClassifierArch(shapesOnly), { arch: 'wrn-70-16', numClasses: 10 });
  assert.throws(() => wideResNetKeys(27, 10), /depth 27 is not 6n \+ 4/);
});

test('random WRN-10-2 and WRN-10-1 (shortcut convs and identity shortcuts): logits and input gradient match the float64 reference', async () => {
  for (const width of [2, 1]) {
    const sd = randomStateDict(wideResNetKeys(10, width), rng);
    const model = createClassifier(undefined, sd);
    try {
      assert.ok(model instanceof WideResNet);
      assert.is(model.arch, `wrn-10-${width}`);
      const n = 2;
      const images = Float32Array.from({ length: n * 3072 }, () => rng.next());
      const want = ref.wideResNet(sd, 10, arr([n, 3, 32, 32], images));
      const g = Float64Array.from({ length: n * 10 }, () => rng.uniform(-1, 1));
      const [got, gx] = await asyncScope(async () => {
        const x = tensor(images, [n, 3, 32, 32]).requireGrad();
        const y = model.forward(x);
        backward(sum(mul(y, tensor(Float32Array.from(g), [n, 10]))));
        return [await y.data(), await x.grad!.data()];
      });
      const err = normRelErr(got, want.data);
      assert.ok(err < 1e-4, `wrn-10-${width} logits off by ${err.toExponential(2)}`);
      const v = Float64Array.from({ length: images.length }, () => rng.uniform(-1, 1));
      let dir = 0;
      for (let i = 0; i < v.length; i++) dir += gx[i] * v[i];
      const f = (eps: number): number => ref.wideResNet(sd, 10, arr([n, 3, 32, 32], Float64Array.from(images, (p, i) => p + eps * v[i])))
        .data.reduce((s, l, i) => s + l * g[i], 0);
      const fd = (f(1e-6) - f(-1e-6)) / 2e-6;
      assert.ok(Math.abs(dir - fd) <= 1e-4 * Math.max(1, Math.abs(fd)), `wrn-10-${width}: directional derivative ${dir} vs finite differences ${fd}`);
    } finally { model.dispose(); }
  }
});

test('strict loading names the WideResNet keys that are wrong', () => {
  const sd = randomStateDict(wideResNetKeys(10, 2), rng);
  sd.delete('block2.layer.0.convShortcut.weight');
  sd.set('block1.layer.0.relu1.weight', { shape: [1], dtype: 'f32', data: new Float32Array(1) });
  assert.throws(() => new WideResNet({ depth: 10, width: 2 }, sd),
    /wrn-10-2: the state dict does not fit the model[\s\S]*missing \(1\): block2\.layer\.0\.convShortcut\.weight \[64, 32, 1, 1\][\s\S]*unexpected \(1\): block1\.layer\.0\.relu1\.weight/);
  assert.throws(() => createClassifier('wrn-28-10', new Map()), /wrn-28-10: the state dict does not fit the model[\s\S]*missing \(\d+\): conv1\.weight/);
  assert.throws(() => createClassifier(undefined, new Map([['foo', { shape: [1], dtype: 'f32', data: new Float32Array(1) }]])), /cannot tell the classifier architecture/);
});

test.run();
