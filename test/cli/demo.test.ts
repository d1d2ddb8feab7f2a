// `amrm demo`, the README's main command: real test images through attack, purification and the
// classifier with the shipped models, at a budget small enough for CI (its full run is the README's).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, quiet } from '../harness.js';
import { demoCommand } from '../../src/cli/demo.js';
import { readPng } from '../../src/data/png.js';
import { scratch } from '../data/fixtures.js';
import { haveFiles, CIFAR_DIR } from '../models/fixtures.js';
import { writeRandomMaskDit, writeTinyMnistMaskDit } from '../models/maskdit_fixtures.js';

await setup();
const test = suite('cli: demo');

/** Runs the demo into a scratch folder and returns its report and figure. */
async function runDemo(args: string[], C: number, H: number, W: number) {
  const s = scratch('demo');
  try {
    const rc = await quiet(() => demoCommand([...args, '--out', s.dir]));
    assert.is(rc, 0);
    const report = JSON.parse(readFileSync(join(s.dir, 'demo.json'), 'utf8'));
    const png = readPng(join(s.dir, 'figure1.png'));
    // The labeled Figure 1 of `amrm figures` (RGB): one row per image (at most 8), one column per stage.
    const n = Math.min(report.n, 8);
    assert.is(report.figure.images, n);
    assert.equal(report.figure.columns, report.figure_rows, 'figure: the six stages as columns');
    assert.equal(png.shape, [3, report.figure.height, report.figure.width], 'figure: the PNG has the layout\'s size');
    assert.ok(report.figure.width > 6 * W && report.figure.height > n * H, 'figure: room for 6 columns of n upscaled tiles');
    assert.ok(C === 1 || C === 3);
    return report;
  } finally { s.cleanup(); }
}

function checkReport(report: Record<string, any>, n: number): void {
  assert.is(report.n, n);
  const acc = report.accuracy as Record<string, number>;
  assert.equal(Object.keys(acc), ['clean, no defense', 'attacked, no defense', 'clean, purified', 'attacked, purified']);
  for (const v of Object.values(acc)) assert.ok(v >= 0 && v <= 1 && Number.isInteger(v * n), `accuracy ${v} is a count over ${n}`);
  assert.ok(acc['attacked, no defense'] <= acc['clean, no defense'], 'the attack only starts from the clean images');
}

test('MNIST with the shipped models (the default): report and Figure-1 PNG', async () => {
  const report = await runDemo(['--n', '3', '--attack-steps', '2', '--purify-steps', '2'], 1, 28, 28);
  checkReport(report, 3);
  assert.is(report.dataset, 'mnist');
  assert.match(report.classifier, /models[\\/]mnist-cnn\.safetensors$/);
  assert.match(report.purifier, /models[\\/]mnist-maskdit\.safetensors$/);
  assert.is(report.purifier_model.family, 'maskdit');
  assert.is(report.purify.steps, 2);
  assert.is(report.attack.eps, 0.3);
});

test('CIFAR-10 defaults to the shipped CIFAR-10 models (the engine\'s ResNet-20 and MaskDiT)', async () => {
  if (!haveFiles('the CIFAR-10 demo', CIFAR_DIR)) return;
  const report = await runDemo(['--dataset', 'cifar10', '--data', CIFAR_DIR, '--n', '2', '--attack-steps', '1', '--purify-steps', '1'], 3, 32, 32);
  checkReport(report, 2);
  assert.match(report.classifier, /models[\\/]cifar10-resnet20\.safetensors$/);
  assert.match(report.purifier, /models[\\/]cifar10-maskdit-e6\.safetensors$/);
  assert.is(report.purifier_model.family, 'maskdit');
  assert.is(report.preset, 'maskdit-cifar10');
  assert.is(report.attack.eps, 8 / 255);
});

test('a MaskDiT purifier (MNIST-shaped, random weights): its family named, its preset, the figure', async () => {
  const s = scratch('demo-maskdit');
  try {
    const purifier = await writeTinyMnistMaskDit(s.dir, 7);
    const report = await runDemo(['--purifier', purifier, '--n', '2', '--attack-steps', '1', '--purify-steps', '2'], 1, 28, 28);
    checkReport(report, 2);
    assert.is(report.purifier, purifier);
    assert.is(report.purifier_model.family, 'maskdit');
    assert.match(report.purifier_model.description, /^MaskDiT 28×28 p4 .*σ_pur 1, noise seed 0$/);
    assert.is(report.preset, 'maskdit-mnist');
    assert.is(report.purify.steps, 2);
    assert.match(report.figure.captions_classify.reconstruction, /MaskDiT's reconstruction/);
    // A MaskDiT of another image size: refused by name before any work.
    const small = join(s.dir, 'small.safetensors');
    await writeRandomMaskDit(small, { imgSize: 8, patchSize: 2, inChans: 3, hiddenSize: 32, depth: 1, numHeads: 2, decoderHiddenSize: 24, decoderDepth: 1, decoderNumHeads: 2 }, 1);
    try {
      await quiet(() => demoCommand(['--purifier', small, '--n', '2', '--out', join(s.dir, 'never')]));
      assert.unreachable('a purifier of another image size must throw');
    } catch (e) { assert.match((e as Error).message, /the purifier .*small\.safetensors takes \[3,8,8\] images, mnist has \[1,28,28\]/); }
  } finally { s.cleanup(); }
});

test('usage errors and missing files are named', async () => {
  assert.is(await quiet(() => demoCommand(['--dataset', 'cifar10'])), 2, '--dataset cifar10 without --data');
  assert.is(await quiet(() => demoCommand(['--dataset', 'svhn'])), 2);
  assert.is(await quiet(() => demoCommand(['--n', '0'])), 2);
  try {
    await quiet(() => demoCommand(['--classifier', 'no/such/model.safetensors']));
    assert.unreachable('a missing classifier file must throw');
  } catch (e) {
    assert.match((e as Error).message, /the classifier no\/such\/model\.safetensors does not exist/);
  }
});

test.run();
