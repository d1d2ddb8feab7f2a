import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../../src/engine/io/safetensors.js';

// `amrm train --init FILE`: longer training of a shipped model starts from its weights.
const test = suite('cli train --init');
const amrm = (args: string[]) => spawnSync(process.execPath, ['bin/amrm.js', 'train', ...args], { encoding: 'utf8' });
mkdirSync('.tmp', { recursive: true });
const dirs: string[] = [];
const tmp = (): string => { const d = mkdtempSync(join('.tmp', 'train-init-')); dirs.push(d); return join(d, 'run'); };
const MAE_FILE = 'models/mnist-mae.safetensors';
const tensors = (file: string) => readSafetensors(readFileSync(file), file).tensors;

/** One zero-learning-rate step on 64 digits: the written weights are the ones the run started from. */
function trainedAtLr0(extra: string[]): { weights: ReturnType<typeof tensors>; config: string } {
  const out = tmp();
  const r = amrm(['mae', '--dataset', 'mnist', '--epochs', '1', '--limit', '64', '--lr', '0', '--out', out, ...extra]);
  assert.is(r.status, 0, r.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  return { weights: tensors(join(out, 'model.safetensors')), config: summary.config.config };
}

test('--init starts from the file: at lr 0 the written model is the shipped one, tensor for tensor', () => {
  const shipped = tensors(MAE_FILE);
  const got = trainedAtLr0(['--init', MAE_FILE]);
  for (const [k, t] of shipped) assert.equal(got.weights.get(k)?.data, t.data, k);
  // The run records the file it started from, with the configuration the file carries.
  assert.match(got.config, /^mnist-mae\.safetensors \(\{"imgSize":\[28,28\],"patchSize":7,/);
  // Without it the same command writes a seeded initialization, not the shipped weights.
  const fresh = trainedAtLr0(['--config', 'mae-tiny-c32', '--patch', '7']);
  assert.is(fresh.config, 'mae-tiny-c32');
  assert.not.equal(fresh.weights.get('blocks.0.attn.qkv.weight')?.data, shipped.get('blocks.0.attn.qkv.weight')?.data);
});

test('--init names what is wrong: a missing file, a second configuration, another family, another image shape', () => {
  const cases: [string[], RegExp][] = [
    [['mae', '--dataset', 'mnist', '--init', 'nope.safetensors', '--out', tmp()], /--init nope\.safetensors: no such file/],
    [['mae', '--dataset', 'mnist', '--init', MAE_FILE, '--config', 'mae-tiny-c32', '--out', tmp()], /--init FILE takes the configuration from the file/],
    [['maskdit', '--dataset', 'mnist', '--init', MAE_FILE, '--out', tmp()], /is an MAE, not a MaskDiT/],
    [['mae', '--dataset', 'cifar10', '--data', '../shared/data/cifar-10-batches-bin', '--init', MAE_FILE, '--limit', '64', '--out', tmp()], /takes \[1,28,28\] images, cifar10 has \[3,32,32\]/],
    [['classifier', '--dataset', 'cifar10', '--data', '../shared/data/cifar-10-batches-bin', '--init', 'models/mnist-cnn.safetensors', '--limit', '64', '--batch', '16', '--out', tmp()],
      /--init models\/mnist-cnn\.safetensors takes \[1,28,28\] images, cifar10 has \[3,32,32\]/],
  ];
  for (const [args, message] of cases) {
    const r = amrm(args);
    assert.is.not(r.status, 0, args.join(' '));
    assert.match(r.stderr, message);
    assert.not.ok(existsSync(args[args.indexOf('--out') + 1]), `a refused run left its folder: ${args.join(' ')}`);
  }
});

test('--out: a folder holding anything but a run is refused and left as it was; an earlier run\'s files need --resume', () => {
  const base = ['mae', '--dataset', 'mnist', '--config', 'mae-tiny-c32', '--patch', '7', '--epochs', '1', '--limit', '64', '--lr', '0'];
  const foreign = tmp();
  mkdirSync(foreign, { recursive: true });
  writeFileSync(join(foreign, 'notes.md'), 'mine');
  const r1 = amrm([...base, '--out', foreign]);
  assert.is.not(r1.status, 0);
  assert.match(r1.stderr, /--out .* holds files that are not a training run's \(notes\.md\); train into a new or empty folder/);
  assert.equal(readdirSync(foreign), ['notes.md']);
  // A run killed before its first checkpoint left its log: a fresh run does not write over it.
  const earlier = tmp();
  mkdirSync(earlier, { recursive: true });
  writeFileSync(join(earlier, 'log.jsonl'), '{"step": 1, "loss": 1}\n');
  const r2 = amrm([...base, '--out', earlier]);
  assert.is.not(r2.status, 0);
  assert.match(r2.stderr, /holds an earlier run's files \(log\.jsonl\); pass --resume to continue it/);
  assert.equal(readdirSync(earlier), ['log.jsonl']);
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
