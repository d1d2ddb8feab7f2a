import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setup, Rng, arr } from '../harness.js';
import { evaluateClassifier } from '../../src/eval/classifier.js';
import { evalCommand, parseEvalArgs } from '../../src/cli/eval.js';
import { shardFromEnv } from '../../src/eval/shard.js';
import { UsageError } from '../../src/cli/args.js';
import { ResNetCifar, resnetCifarKeys } from '../../src/models/resnet_cifar.js';
import { createClassifier } from '../../src/models/classifiers.js';
import * as ref from '../../src/models/reference/cnn.js';
import { writeSafetensors } from '../../src/engine/io/safetensors.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import { loadCifar10 } from '../../src/data/cifar-fs.js';
import { parseIndexRange } from '../../src/data/sample.js';
import { engine } from '../../src/engine/engine.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { randomStateDict, haveFiles, CIFAR_DIR, RESNET20 } from '../models/fixtures.js';
import { cifarRecords, scratch, writeFiles } from '../data/fixtures.js';

await setup();
const test = suite('eval: classifier');
const rng = new Rng(500);

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected a rejection matching ${re}`);
}

/** The reference's predicted class per image. */
function refPredictions(sd: Parameters<typeof ref.resnetCifar>[0], set: ImageSet): number[] {
  const y = ref.resnetCifar(sd, 8, arr(set.shape, set.images));
  return Array.from({ length: set.n }, (_, i) => {
    let k = 0;
    for (let j = 1; j < 10; j++) if (y.data[i * 10 + j] > y.data[i * 10 + k]) k = j;
    return k;
  });
}

test('counts correct predictions over uneven batches, with device memory flat across batches', async () => {
  const sd = randomStateDict(resnetCifarKeys(8), rng);
  const model = new ResNetCifar({ depth: 8 }, sd);
  try {
    const n = 5;
    const images = Float32Array.from({ length: n * 3072 }, () => rng.next());
    const set: ImageSet = { images, labels: new Int32Array(n), n, shape: [n, 3, 32, 32], classes: [] };
    const want = refPredictions(sd, set);
    // Labels right for images 0, 2, 3 and wrong for 1, 4.
    want.forEach((p, i) => { set.labels[i] = i === 1 || i === 4 ? (p + 1) % 10 : p; });
    const rt = engine().runtime;
    await rt.sync();
    const before = rt.stats().bytesInUse;
    const seen: number[] = [];
    const r = await evaluateClassifier(model, set, { batch: 2, onProgress: (done) => seen.push(done) });
    await rt.sync();
    assert.is(rt.stats().bytesInUse, before);
    assert.equal(Array.from(r.predictions), want);
    assert.is(r.correct, 3);
    assert.is(r.accuracy, 0.6);
    assert.equal(seen, [2, 4, 5]);
    assert.ok(r.imagesPerS > 0);
    await rejects(evaluateClassifier(model, set, { batch: 0 }), /batch must be a positive integer/);
  } finally { model.dispose(); }
});

test('amrm eval: argument errors are usage errors naming the flag', () => {
  const base = ['--data', 'd', '--classifier', 'c.th'];
  const bad: [string[], RegExp][] = [
    [['--classifier', 'c.th'], /--data DIR is required/],
    [['--data', 'd'], /--classifier FILE is required/],
    [[...base, '--n', '10', '--indices', '0-9'], /--n .* or --indices .*, not both/],
    [[...base, '--n', '-3'], /--n must be an integer ≥ 1, got '-3'/],
    [[...base, '--batch', '0'], /--batch must be an integer ≥ 1/],
    [[...base, '--dataset', 'imagenet'], /--dataset must be cifar10, cifar100 or mnist/],
    [[...base, '--attack', 'fgsm'], /--attack must be one of pgd, apgd-ce/],
    [[...base, '--frobnicate'], /unknown option '--frobnicate'/],
    [[...base, '--json'], /--json needs a value/],
    [[...base, '--attack', 'pgd', '--eps', '2'], /--eps 2 under l_inf allows any image in \[0, 1\]/],
    [[...base, '--json', '--seed', '3'], /--json needs a value, got the option '--seed' \(write --json=--seed if that is the value\)/],
    [[...base, '--seed', '1', '--seed=2'], /--seed is given twice/],
    [[...base, '--shard', '3/2'], /--shard: a shard is i\/n with 1 ≤ i ≤ n \(e.g. 2\/4\), got '3\/2'/],
    [[...base, '--shard', '0/2'], /--shard: a shard is i\/n/],
    [[...base, '--attack', 'pgd,fgsm'], /--attack must be one of .*, a comma-separated list of them, or aa-rand, got 'pgd,fgsm'/],
    [[...base, '--attack', 'pgd,pgd'], /--attack names an attack twice: 'pgd,pgd'/],
    [[...base, '--attack', 'pgd,bpda'], /--attack bpda needs --purifier FILE/],
    [[...base, '--sigma', '0.2'], /--sigma needs --purifier FILE/],
    [[...base, '--purifier', 'p.safetensors', '--sigma', '0'], /--sigma must be a number ≥ .*, got '0'/],
    [[...base, '--attack', 'pgd,square', '--norm', 'l2'], /--attack square is implemented for --norm linf only/],
    [[...base, '--keep-adversarial', '--json', 'r.json'], /--keep-adversarial needs --attack/],
    [[...base, '--attack', 'pgd', '--keep-adversarial'], /--keep-adversarial needs --json OUT/],
  ];
  for (const [args, re] of bad) {
    try { parseEvalArgs(args); assert.unreachable(`no error for ${args.join(' ')}`); } catch (e) {
      assert.ok(e instanceof UsageError, `${args.join(' ')}: ${(e as Error).message}`);
      assert.match((e as Error).message, re);
    }
  }
  // A shard from a scheduler's array job: Slurm (task ids from MIN), Kubernetes (0-based index, count given).
  assert.equal(shardFromEnv({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 3, count: 4, source: 'Slurm array task 2 of 0-3' });
  assert.equal(shardFromEnv({ SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '2' })?.index, 1);
  assert.throws(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_COUNT: '4' }), /not in the array's 4 tasks/);
  assert.throws(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '1' }), /SLURM_ARRAY_TASK_COUNT must be a whole number/);
  assert.equal(shardFromEnv({ JOB_COMPLETION_INDEX: '0', AMRM_SHARD_COUNT: '3' })?.index, 1);
  assert.equal(shardFromEnv({ JOB_COMPLETION_INDEX: '2' }, 3)?.index, 3);
  assert.throws(() => shardFromEnv({ JOB_COMPLETION_INDEX: '0' }), /pass --shard-count N or set AMRM_SHARD_COUNT/);
  assert.is(shardFromEnv({}), undefined);
  const log = console.log;
  console.log = () => {};
  try {
    const fromEnv = parseEvalArgs([...base, '--json', 'r-{shard}.json'], { JOB_COMPLETION_INDEX: '1' , AMRM_SHARD_COUNT: '2' });
    assert.equal([fromEnv.shard, fromEnv.json], [{ index: 2, count: 2 }, 'r-2-of-2.json']);
  } finally { console.log = log; }
  assert.throws(() => parseEvalArgs([...base, '--json', 'r-{shard}.json'], {}), /--json names \{shard\} but this run is not a shard/);
  assert.throws(() => parseEvalArgs([...base, '--shard-count', '2'], {}), /--shard-count goes with a Kubernetes Indexed Job/);
  // aa-rand: APGD-CE then APGD-DLR, worst case, EOT 20 unless given.
  const aa = parseEvalArgs([...base, '--attack', 'aa-rand']).robust!;
  assert.equal([aa.attack, aa.eot], [['apgd-ce', 'apgd-dlr'], 20]);
  assert.is(parseEvalArgs([...base, '--attack', 'aa-rand', '--eot', '4']).robust!.eot, 4);
  assert.equal(parseEvalArgs([...base, '--attack', 'pgd,square']).robust!.attack, ['pgd', 'square']);
  assert.equal(parseEvalArgs([...base, '--n=7', '--arch', 'resnet20']), {
    dataset: 'cifar10', data: 'd', classifier: 'c.th', split: 'test', arch: 'resnet20', n: 7, seed: 0, indices: undefined, batch: 100, json: undefined, shard: undefined,
  });
});

test('amrm eval end to end: a written CIFAR-10 folder and a safetensors checkpoint give the JSON report', async () => {
  const s = scratch('eval');
  try {
    const sd = randomStateDict(resnetCifarKeys(8), rng);
    const ckpt = join(s.dir, 'resnet8.safetensors');
    writeFiles(s.dir, { 'resnet8.safetensors': writeSafetensors({ tensors: sd }) });
    const files: Record<string, Uint8Array> = { 'test_batch.bin': cifarRecords(7, 1, (i) => [i % 10], 3) };
    for (let b = 1; b <= 5; b++) files[`data_batch_${b}.bin`] = cifarRecords(1, 1, () => [0], b);
    writeFiles(join(s.dir, 'cifar-10-batches-bin'), files);
    const out = join(s.dir, 'eval.json');
    const log = console.log;
    console.log = () => {};
    let rc: number;
    try {
      rc = await evalCommand(['--dataset', 'cifar10', '--data', s.dir, '--classifier', ckpt, '--indices', '1-5', '--batch', '2', '--json', out]);
    } finally { console.log = log; }
    assert.is(rc, 0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    const set = loadCifar10(s.dir, { split: 'test', indices: [1, 2, 3, 4, 5] });
    const want = refPredictions(loadStateDictFile(ckpt).tensors, set);
    const correct = want.filter((p, i) => p === set.labels[i]).length;
    assert.is(report.n, 5);
    assert.is(report.correct, correct);
    assert.is(report.clean_accuracy, correct / 5);
    assert.is(report.predictions, want.join(''));
    assert.ok(report.images_per_s > 0);
    assert.is(report.config.arch, 'resnet8');
    assert.is(report.config.indices, '1-5');
    assert.match(report.config.command, /npx amrm eval --dataset cifar10 .*--indices 1-5/);
    // A checkpoint with a NaN weight is refused by name, not scored 0%.
    const bad = randomStateDict(resnetCifarKeys(8), rng);
    const first = [...bad.values()].find((t) => t.dtype === 'f32')!;
    (first.data as Float32Array)[3] = NaN;
    writeFiles(s.dir, { 'nan.safetensors': writeSafetensors({ tensors: bad }) });
    await rejects(evalCommand(['--data', s.dir, '--classifier', join(s.dir, 'nan.safetensors'), '--indices', '1-5']), /nan\.safetensors: tensor '.*' holds NaN at index 3; the weights are not usable/);
    // Past the end of the 7-image split: a clear error from the index list.
    await rejects(evalCommand(['--data', s.dir, '--classifier', ckpt, '--indices', '5-9']), /reaches 9, past the last index 6/);
  } finally { s.cleanup(); }
});

// Correct predictions on test images 0-499 in each model's full 10,000-image run: the published
// ResNet-20 (bench/results/eval-resnet20-cifar10.json) and the one this repository trained
// (models/cifar10-resnet20.md, bench/results/eval-cifar10-resnet20.json, 8113/10000).
const RESNET20_CORRECT_0_499 = 455;
const SHIPPED_RESNET20 = resolve('models/cifar10-resnet20.safetensors'); // the suite runs from the repository root
const SHIPPED_RESNET20_CORRECT_0_499 = 419;

/** Evaluates a ResNet-20 checkpoint on test images 0-499 and checks its count; llvmpipe only. */
async function checkFirst500(what: string, file: string, arch: string | undefined, want: number): Promise<void> {
  if (!haveFiles(`the 500-image ${what} check`, file, CIFAR_DIR)) return;
  // About 10 s on llvmpipe; SwiftShader runs this model at about 5 images/s, so it skips this one.
  if (engine().gpu.kind !== 'llvmpipe') { console.log(`  NOTICE: the 500-image ${what} check runs on llvmpipe only (this is ${engine().gpu.kind})`); return; }
  const set = loadCifar10(CIFAR_DIR, { split: 'test', indices: parseIndexRange('0-499') });
  const model = createClassifier(arch, loadStateDictFile(file));
  try {
    assert.is(model.arch, 'resnet20');
    const r = await evaluateClassifier(model, set, { batch: 100 });
    console.log(`  ${what}, test images 0-499: ${r.correct}/500 correct, ${r.imagesPerS.toFixed(1)} images/s`);
    assert.is(r.correct, want);
  } finally { model.dispose(); }
}

test('ResNet-20 on test images 0-499: exactly the full run\'s count of correct predictions (llvmpipe only)', async () => {
  await checkFirst500('published ResNet-20', RESNET20, 'resnet20', RESNET20_CORRECT_0_499);
});

test('the shipped, engine-trained ResNet-20 on test images 0-499: its card\'s run\'s count (llvmpipe only)', async () => {
  assert.ok(existsSync(SHIPPED_RESNET20), `${SHIPPED_RESNET20} is shipped with the repository`);
  await checkFirst500('shipped ResNet-20', SHIPPED_RESNET20, undefined, SHIPPED_RESNET20_CORRECT_0_499);
});

test.run();
