import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../harness.js';
import { BatchLoader } from '../../src/train/loader.js';
import { train } from '../../src/train/trainer.js';
import { setTuning } from '../../src/engine/tuning.js';
import { teacherSet, mlpTask, vitTask } from './tasks.js';

const eng = await setup();
// Small row splits compile fast (see test/engine/attention.test.ts).
setTuning({ attention: { rcap: 4 } });
const test = suite('fit');

const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

test('a small MLP reaches cross-entropy < 0.1 on a fixed teacher task within 240 steps (AdamW)', async () => {
  const set = teacherSet(256, 8, 3, 17);
  const { task, dispose } = mlpTask(8, 32, 3, 5);
  const r = await train(task, new BatchLoader(set, { batch: 32, seed: 3 }), {
    epochs: 30, lr: 2e-2, warmupSteps: 10, optimizer: { kind: 'adamw', weightDecay: 1e-4, clipNorm: 5 },
  });
  dispose();
  assert.is(r.steps, 240);
  const first = mean(r.lossHistory.slice(0, 8)), last = mean(r.lossHistory.slice(-8));
  assert.ok(first > 0.5, `starts high (${first.toFixed(3)})`);
  assert.ok(last < 0.1, `MLP loss after 240 steps ${last.toFixed(4)} ≥ 0.1 (first ${first.toFixed(3)})`);
});

test('the same MLP with SGD + Nesterov momentum also reaches < 0.15', async () => {
  const set = teacherSet(256, 8, 3, 17);
  const { task, dispose } = mlpTask(8, 32, 3, 5);
  const r = await train(task, new BatchLoader(set, { batch: 32, seed: 3 }), {
    epochs: 30, lr: 0.2, optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true },
  });
  dispose();
  const last = mean(r.lossHistory.slice(-8));
  assert.ok(last < 0.15, `SGD loss ${last.toFixed(4)}`);
});

test('a two-block ViT reaches cross-entropy < 0.15 on a token task within 300 steps', async () => {
  // 4 tokens of 4 features; the teacher sees all 16 values.
  const set = teacherSet(160, 16, 2, 23);
  const { task, dispose } = vitTask(4, 4, 16, 2, 9);
  const r = await train(task, new BatchLoader(set, { batch: 16, seed: 4 }), {
    epochs: 30, lr: 2e-2, warmupSteps: 10, optimizer: { kind: 'adamw', weightDecay: 0.01, clipNorm: 1 },
  });
  dispose();
  assert.is(r.steps, 300);
  const first = mean(r.lossHistory.slice(0, 8)), last = mean(r.lossHistory.slice(-10));
  if (process.env.FIT_LOG) console.log(`vit ${first} -> ${last}, ${r.imagesPerS.toFixed(0)} img/s on ${eng.gpu.kind}`);
  assert.ok(last < 0.15, `ViT loss after 300 steps ${last.toFixed(4)} (first ${first.toFixed(3)})`);
});

test.run();
