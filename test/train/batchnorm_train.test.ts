import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, normRelErr, type GradCase } from '../harness.js';
import { batchNormTrain } from '../../src/engine/ops/batchnorm.js';
import * as R from '../../src/engine/reference/batchnorm.js';
import { asyncScope, scope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { crossEntropy } from '../../src/engine/ops/loss.js';
import { backward, noGrad } from '../../src/engine/autograd.js';
import { ResNetTrainable, CnnMnist, loadTrainedClassifier } from '../../src/models/trainable.js';
import { ResNetCifar } from '../../src/models/resnet_cifar.js';

await setup();
const rng = new Rng(2718);
const test = suite('batchNormTrain');

function bnCase(shape: number[], eps = 1e-5): GradCase {
  const c = shape[1];
  return {
    name: `batchNormTrain eps ${eps}`, metric: 'norm', tol: 1e-5,
    inputs: [rand(rng, shape), rand(rng, [c]), rand(rng, [c])],
    gpu: (x, g, b) => batchNormTrain(x, g, b, eps).y,
    ref: (x, g, b) => R.batchNormTrain(x, g, b, eps),
  };
}

test('forward with batch statistics on NCHW, NC and NCL shapes', async () => {
  // [10, 40, 3, 3]: the batch splits into uneven runs of rows per channel (7 runs of 1-2 rows).
  for (const shape of [[2, 3, 5, 7], [4, 1, 1, 3], [5, 6], [2, 3, 9], [3, 17, 2, 2], [10, 40, 3, 3]]) await checkForward(bnCase(shape));
});

test('a large channel mean does not cancel the variance (values 1000 ± 0.5)', async () => {
  const c = bnCase([8, 2, 4, 4]);
  c.inputs[0] = rand(rng, [8, 2, 4, 4], { lo: 999.5, hi: 1000.5 });
  await checkForward({ ...c, tol: 1e-4 });
});

test('gradients to x, gamma and beta (through the batch mean and variance) by finite differences', async () => {
  for (const shape of [[2, 3, 4, 5], [6, 4], [3, 2, 1, 3], [9, 30, 2, 1]]) await checkGrad({ ...bnCase(shape), gradTol: 2e-4 }, rng);
});

test('batch mean and unbiased variance; errors name the op', async () => {
  await asyncScope(async () => {
    const xa = rand(rng, [4, 3, 2, 2]);
    const r = batchNormTrain(upload(xa), upload(rand(rng, [3])), upload(rand(rng, [3])));
    const m = await r.mean.data(), v = await r.variance.data();
    for (let k = 0; k < 3; k++) {
      const vals: number[] = [];
      for (let i = 0; i < xa.data.length; i++) if (Math.floor(i / 4) % 3 === k) vals.push(xa.data[i]);
      const mu = vals.reduce((a, b) => a + b, 0) / vals.length;
      const uv = vals.reduce((a, b) => a + (b - mu) ** 2, 0) / (vals.length - 1);
      assert.ok(Math.abs(m[k] - mu) < 1e-5 && Math.abs(v[k] - uv) < 1e-4 * uv, `channel ${k} statistics`);
    }
    assert.throws(() => batchNormTrain(upload(rand(rng, [1, 3])), upload(rand(rng, [3])), upload(rand(rng, [3]))), /batchNormTrain: needs more than one value per channel/);
    assert.throws(() => batchNormTrain(upload(xa), upload(rand(rng, [4])), upload(rand(rng, [3]))), /batchNormTrain: gamma must be \[3\] for x \[4, 3, 2, 2\], got \[4\]/);
  });
});

test('trainable ResNet-8: a training step updates running statistics; its checkpoint loads into ResNetCifar with equal logits', async () => {
  const model = new ResNetTrainable({ depth: 8, seed: 1 });
  const x = rand(rng, [4, 3, 32, 32], { lo: 0, hi: 1 });
  await asyncScope(async () => {
    const xt = upload(x);
    scope(() => { const l = crossEntropy(model.forward(xt), [1, 2, 3, 4]); backward(l); });
    const gw = model.parameters().find(([k]) => k === 'layer2.0.conv1.weight')![1].grad;
    assert.ok(gw, 'weights get gradients');
    const rm = await model.buffers().find(([k]) => k === 'bn1.running_mean')![1].data();
    assert.ok(rm.some((v) => v !== 0), 'running mean moved');
    for (const [, p] of model.parameters()) { p.grad?.dispose(); p.grad = undefined; }
    model.training = false;
    const mine = await noGrad(() => model.forward(xt)).data();
    const sd = await model.stateDict();
    assert.is(sd.metadata['amrm.classifier.arch'], 'resnet8');
    const inf = new ResNetCifar({ depth: 8 }, sd);
    const theirs = await noGrad(() => inf.forward(xt)).data();
    inf.dispose();
    assert.ok(normRelErr(mine, theirs) < 1e-4, `eval-mode logits match ResNetCifar (${normRelErr(mine, theirs)})`);
    const back = loadTrainedClassifier(sd);
    assert.ok(normRelErr(await noGrad(() => back.forward(xt)).data(), mine) < 1e-6);
    back.dispose();
  });
  model.dispose();
});

test('cnn-mnist: logits shape, state dict round trip', async () => {
  const model = new CnnMnist({ seed: 2 });
  await asyncScope(async () => {
    const xt = tensor(Float32Array.from(rand(rng, [3, 1, 28, 28], { lo: 0, hi: 1 }).data), [3, 1, 28, 28]);
    const y = model.forward(xt);
    assert.equal([...y.shape], [3, 10]);
    const sd = await model.stateDict();
    assert.equal([...sd.tensors.keys()], ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    const back = loadTrainedClassifier(sd);
    assert.ok(normRelErr(await back.forward(xt).data(), await y.data()) < 1e-6);
    back.dispose();
  });
  model.dispose();
});

test.run();
