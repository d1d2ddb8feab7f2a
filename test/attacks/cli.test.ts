import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, Rng, quiet } from '../harness.js';
import { MAE } from '../../src/models/mae.js';
import { resnetCifarKeys } from '../../src/models/resnet_cifar.js';
import { readSafetensors, writeSafetensors } from '../../src/engine/io/safetensors.js';
import { writePng, readPng } from '../../src/data/png.js';
import { evalCommand, parseEvalArgs } from '../../src/cli/eval.js';
import { UsageError } from '../../src/cli/args.js';
import { parsePurifyArgs, purifyCommand } from '../../src/cli/purify.js';
import { parseRobust } from '../../src/cli/train-robust.js';
import { mergeCommand } from '../../src/cli/merge.js';
import { loadPurifier } from '../../src/cli/purifier.js';
import { randomStateDict } from '../models/fixtures.js';
import { cifarRecords, scratch, writeFiles } from '../data/fixtures.js';

await setup();
const test = suite('cli: eval with purifier and attack, purify, shards and merge');
const rng = new Rng(31);

/** A 32×32 MAE small enough for CI: 16 patches of 8×8, width 16, one block each side. */
const MAE_CFG = { imgSize: 32, patchSize: 8, inChans: 3, embedDim: 16, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, mlpRatio: 2 };

test('amrm eval: attack and purifier flags parse, and their errors are usage errors; purify and train robust read the purifier flags the same way', () => {
  const base = ['--data', 'd', '--classifier', 'c.th'];
  const a = parseEvalArgs([...base, '--purifier', 'm.safetensors', '--attack', 'pgd', '--eps', '8/255', '--eot', '4']);
  // No --preset: left to the purifier's family (mae-DATASET or maskdit-DATASET) once the file is read.
  assert.equal([a.batch, a.robust!.preset, a.robust!.adaptive, a.robust!.eps, a.robust!.norm, a.robust!.eot, a.robust!.steps], [16, undefined, 'exact', 8 / 255, 'linf', 4, 10]);
  assert.is(parseEvalArgs([...base, '--attack', 'apgd-dlr']).robust!.adaptive, 'none');
  // The preset's loop overridden: steps, ball (inf: none), masks per step, mask ratio.
  const o = parseEvalArgs([...base, '--purifier', 'm', '--purify-steps', '9', '--eta', 'inf', '--masks', '2', '--mask-ratio', '0.75', '--sigma', '0.3']).robust!;
  assert.equal([o.purifySteps, o.eta, o.masks, o.maskRatio, o.sigma], [9, Infinity, 2, 0.75, 0.3]);
  // amrm purify reads the same overrides the same way (one parser), its step count under --steps.
  const p = parsePurifyArgs(['--purifier', 'm', '--steps', '9', '--eta', 'inf', '--masks', '2', '--mask-ratio', '0.75', '--sigma', '0.3', '--input', 'a.png', '--out', 'o']);
  assert.equal([p.steps, p.eta, p.masks, p.maskRatio, p.sigma], [o.purifySteps, o.eta, o.masks, o.maskRatio, o.sigma]);
  // So does amrm train robust, for the purification its attack runs through (--purify-steps, as eval).
  const robustBase = ['--purifier', 'm', '--classifier', 'c', '--dataset', 'cifar10', '--out', 'o'];
  const r = parseRobust([...robustBase, '--purify-steps', '9', '--eta', 'inf', '--masks', '2', '--mask-ratio', '0.75', '--sigma', '0.3', '--purifier-config', 'maskdit-c32']);
  assert.equal([r.purifySteps, r.eta, r.masks, r.maskRatio, r.sigma, r.purifierConfig], [o.purifySteps, o.eta, o.masks, o.maskRatio, o.sigma, 'maskdit-c32']);
  for (const [flag, value, re] of [['--preset', 'nope', /--preset must be one of/], ['--sigma', '0', /--sigma must be/], ['--masks', '0', /--masks must be/]] as const) {
    for (const parse of [() => parseEvalArgs([...base, '--purifier', 'm', flag, value]), () => parsePurifyArgs(['--purifier', 'm', flag, value, '--input', 'a.png', '--out', 'o']),
      () => parseRobust([...robustBase, flag, value])]) {
      assert.throws(parse, (e: Error) => e instanceof UsageError && re.test(e.message));
    }
  }
  const bad: [string[], RegExp][] = [
    [[...base, '--attack', 'bpda'], /bpda needs --purifier/],
    [[...base, '--preset', 'mae-cifar10'], /--preset needs --purifier/],
    [[...base, '--purifier', 'm', '--preset', 'nope'], /--preset must be one of/],
    [[...base, '--attack', 'square', '--norm', 'l2'], /square is implemented for --norm linf only/],
    [[...base, '--attack', 'pgd', '--eps', 'big'], /--eps must be a number/],
    [[...base, '--attack', 'pgd', '--adaptive', 'exact'], /--adaptive exact needs --purifier/],
    [[...base, '--attack', 'pgd', '--norm', 'l1'], /--norm must be linf or l2/],
    [[...base, '--mask-ratio', '0.5'], /--mask-ratio needs --purifier/],
    [[...base, '--purifier', 'm', '--mask-ratio', '1'], /--mask-ratio must be in \[0, 1\), got '1'/],
    [[...base, '--purifier', 'm', '--eta', 'wide'], /--eta must be a number ≥ 0, inf or a fraction/],
  ];
  for (const [args, re] of bad) {
    try { parseEvalArgs(args); assert.unreachable(`no error for ${args.join(' ')}`); } catch (e) {
      assert.ok(e instanceof UsageError, `${args.join(' ')}: ${(e as Error).message}`);
      assert.match((e as Error).message, re);
    }
  }
});

test('amrm eval --purifier --attack pgd --adaptive exact writes the robust report; amrm purify writes PNGs', async () => {
  const s = scratch('robust-eval');
  const mae = MAE.create(MAE_CFG, { seed: 2 });
  try {
    const sd = randomStateDict(resnetCifarKeys(8), rng);
    writeFiles(s.dir, {
      'resnet8.safetensors': writeSafetensors({ tensors: sd }),
      'mae.safetensors': writeSafetensors(await mae.stateDict()),
    });
    const files: Record<string, Uint8Array> = { 'test_batch.bin': cifarRecords(4, 1, (i) => [i % 10], 3) };
    for (let b = 1; b <= 5; b++) files[`data_batch_${b}.bin`] = cifarRecords(1, 1, () => [0], b);
    writeFiles(join(s.dir, 'cifar-10-batches-bin'), files);
    const out = join(s.dir, 'robust.json');
    const rc = await quiet(() => evalCommand(['--data', s.dir, '--classifier', join(s.dir, 'resnet8.safetensors'), '--indices', '0-2',
      '--purifier', join(s.dir, 'mae.safetensors'), '--preset', 'mae-cifar10', '--purify-steps', '2',
      '--attack', 'pgd', '--eps', '8/255', '--steps', '1', '--eot', '1', '--adaptive', 'exact', '--json', out]));
    assert.is(rc, 0);
    const r = JSON.parse(readFileSync(out, 'utf8'));
    for (const k of ['n', 'clean_accuracy', 'robust_accuracy', 'attack', 'purifier', 'images_per_s']) assert.ok(k in r, `key ${k}`);
    assert.is(r.n, 3);
    assert.ok(r.robust_accuracy <= r.clean_accuracy);
    assert.equal([r.attack.name, r.attack.norm, r.attack.steps, r.attack.eot, r.attack.adaptive], ['pgd', 'linf', 1, 1, 'exact']);
    assert.equal([r.purifier.preset, r.purifier.steps, r.purifier.mask_ratio, r.purifier.halve], ['mae-cifar10', 2, 0.25, true]);
    assert.is(r.robust_predictions.length, 3);

    // amrm purify: two PNGs in, two PNGs out, each within eta (plus 8-bit rounding) of its input.
    const inputs = [0, 1].map((k) => {
      const p = join(s.dir, `in${k}.png`);
      writePng(p, { data: Float32Array.from({ length: 3072 }, () => rng.next()), shape: [3, 32, 32] });
      return p;
    });
    const outDir = join(s.dir, 'purified');
    const rc2 = await quiet(() => purifyCommand(['--purifier', join(s.dir, 'mae.safetensors'), '--preset', 'mae-cifar10', '--steps', '3', '--eta', '2/255', '--input', ...inputs, '--out', outDir, '--amv']));
    assert.is(rc2, 0);
    const report = JSON.parse(readFileSync(join(outDir, 'purify.json'), 'utf8'));
    assert.is(report.loss_per_step.length, 3);
    assert.is(report.amv_per_step.encoder.length, 4, 'AMV for x_0 … x_3');
    assert.ok(report.amv_per_step.encoder[0].every((v: number) => v === 0) && report.amv_per_step.decoder[3].some((v: number) => v > 0));
    for (const k of [0, 1]) {
      const f = join(outDir, `in${k}.png`);
      assert.ok(existsSync(f));
      const a = readPng(inputs[k]).data, b = readPng(f).data;
      let moved = 0;
      a.forEach((v, i) => { const d = Math.abs(b[i] - v); assert.ok(d <= 2.5 / 255, `pixel ${i} moved ${d}`); if (d > 0) moved++; });
      assert.ok(moved > 0);
    }
    const err = console.error;
    console.error = () => {};
    try {
      assert.is(await purifyCommand(['--purifier', 'x', '--out', outDir]), 2);
      // Two inputs named alike would overwrite each other's result: refused before any work.
      mkdirSync(join(s.dir, 'other'), { recursive: true });
      const twin = join(s.dir, 'other', 'in0.png');
      writePng(twin, { data: Float32Array.from({ length: 3072 }, () => rng.next()), shape: [3, 32, 32] });
      assert.is(await purifyCommand(['--purifier', join(s.dir, 'mae.safetensors'), '--input', inputs[0], twin, '--out', outDir]), 2);
    } finally { console.error = err; }
    // --eta: a radius, a fraction or inf; anything else is refused with its value named.
    const printed: string[] = [];
    console.error = (m: string) => { printed.push(m); };
    try {
      assert.is(await purifyCommand(['--purifier', join(s.dir, 'mae.safetensors'), '--eta', 'wide', '--input', inputs[0], '--out', outDir]), 2);
    } finally { console.error = err; }
    assert.match(printed.join('\n'), /--eta must be a number ≥ 0, inf or a fraction like 8\/255, got 'wide'/);
    assert.is(parsePurifyArgs(['--purifier', 'm', '--eta', 'inf', '--input', 'a.png', '--out', 'o']).eta, Infinity);
    assert.is(parsePurifyArgs(['--purifier', 'm', '--eta', '16/255', '--input', 'a.png', '--out', 'o']).eta, 16 / 255);
    assert.is(parsePurifyArgs(['--purifier', 'm', '--mask-ratio', '0.75', '--input', 'a.png', '--out', 'o']).maskRatio, 0.75);
    assert.throws(() => parsePurifyArgs(['--purifier', 'm', '--mask-ratio', '1.5', '--input', 'a.png', '--out', 'o']), /--mask-ratio must be in \[0, 1\), got '1.5'/);
    // --sigma is MaskDiT-Pure's σ_pur: parsed as a positive number, refused for an MAE by name.
    assert.is(parsePurifyArgs(['--purifier', 'm', '--sigma', '0.3', '--input', 'a.png', '--out', 'o']).sigma, 0.3);
    let sigmaErr = '';
    try { await quiet(() => purifyCommand(['--purifier', join(s.dir, 'mae.safetensors'), '--sigma', '0.3', '--input', inputs[0], '--out', join(s.dir, 'sigma')])); } catch (e) { sigmaErr = (e as Error).message; }
    assert.match(sigmaErr, /σ_pur \(--sigma\) is MaskDiT-Pure's noise level, but .*mae\.safetensors is an MAE/);
    // An --out that cannot be a folder fails before the purification, naming it.
    writeFileSync(join(s.dir, 'afile'), 'x');
    let outErr = '';
    try { await quiet(() => purifyCommand(['--purifier', join(s.dir, 'mae.safetensors'), '--steps', '50', '--input', inputs[0], '--out', join(s.dir, 'afile')])); } catch (e) { outErr = (e as Error).message; }
    assert.match(outErr, /--out .*afile is a file, not a folder/);

    // --shard: two halves of a 4-image run in batches of 1, merged, equal the whole run.
    const run = (extra: string[], file: string) => quiet(() => evalCommand(['--data', s.dir, '--classifier', join(s.dir, 'resnet8.safetensors'),
      '--indices', '0-3', '--batch', '1', '--purifier', join(s.dir, 'mae.safetensors'), '--purify-steps', '2',
      '--attack', 'pgd', '--eps', '8/255', '--steps', '1', '--json', join(s.dir, file), ...extra]));
    assert.is(await run([], 'whole.json'), 0);
    assert.is(await run(['--shard', '1/2'], 'part1.json'), 0);
    assert.is(await run(['--shard', '2/2'], 'part2.json'), 0);
    const read = (f: string) => JSON.parse(readFileSync(join(s.dir, f), 'utf8'));
    assert.equal(read('part2.json').config.shard, { index: 2, count: 2, from: 2, to: 4, of: 4 });
    assert.is(await quiet(() => mergeCommand([join(s.dir, 'part2.json'), join(s.dir, 'part1.json'), '--json', join(s.dir, 'merged.json')])), 0);
    const whole = read('whole.json'), merged = read('merged.json');
    for (const k of ['n', 'correct', 'clean_accuracy', 'robust_accuracy', 'predictions', 'robust_predictions']) assert.equal(merged[k], whole[k], k);
    assert.equal(merged.attack, whole.attack);
    assert.equal(merged.purifier, whole.purifier);
    const mergeError = async (files: string[]): Promise<string> => {
      try { await mergeCommand([...files.map((f) => join(s.dir, f)), '--json', join(s.dir, 'bad.json')]); return 'no error'; } catch (e) { return (e as Error).message; }
    };
    assert.match(await mergeError(['part1.json']), /2 shards expected, got 1/);
    assert.match(await mergeError(['part1.json', 'part1.json']), /shard 1\/2 is given twice/);
    assert.match(await mergeError(['part2.json']), /shard 1\/2 is missing/);
    assert.match(await mergeError(['part1.json', 'whole.json']), /whole\.json is not a shard/);
    assert.is(await run(['--shard', '2/2', '--eot', '2'], 'other.json'), 0);
    assert.match(await mergeError(['part1.json', 'other.json']), /other\.json was run with another configuration/);
    assert.ok(!existsSync(join(s.dir, 'bad.json')), 'no report written on error');
    // Shards an array job's tasks produce from their environment (here a Kubernetes Indexed Job's
    // two completions) merge to the unsharded run.
    mkdirSync(join(s.dir, 'env-shards'));
    for (const index of ['0', '1']) {
      Object.assign(process.env, { JOB_COMPLETION_INDEX: index, AMRM_SHARD_COUNT: '2' });
      try { assert.is(await run([], 'env-shards/part-{shard}.json'), 0); } finally { delete process.env.JOB_COMPLETION_INDEX; delete process.env.AMRM_SHARD_COUNT; }
    }
    assert.equal(readdirSync(join(s.dir, 'env-shards')).sort(), ['part-1-of-2.json', 'part-2-of-2.json']);
    assert.is(await quiet(() => mergeCommand([join(s.dir, 'env-shards'), '--json', join(s.dir, 'env-merged.json')])), 0);
    for (const k of ['n', 'correct', 'robust_accuracy', 'predictions', 'robust_predictions']) assert.equal(read('env-merged.json')[k], whole[k], k);
    // A folder of shards merges like the files; a hand-edited shard whose counts disagree is refused.
    mkdirSync(join(s.dir, 'shards'));
    for (const f of ['part1.json', 'part2.json']) writeFileSync(join(s.dir, 'shards', f), readFileSync(join(s.dir, f)));
    assert.is(await quiet(() => mergeCommand([join(s.dir, 'shards'), '--json', join(s.dir, 'shards', 'merged.json')])), 0);
    assert.equal(read('shards/merged.json').robust_predictions, whole.robust_predictions);
    assert.is(await quiet(() => mergeCommand([join(s.dir, 'shards'), '--json', join(s.dir, 'shards', 'merged.json')])), 0, 'the merged report in the folder is not taken for a shard');
    const edited = read('part1.json');
    edited.correct = edited.n + 1;
    edited.clean_accuracy = edited.correct / edited.n;
    writeFileSync(join(s.dir, 'edited.json'), JSON.stringify(edited));
    assert.match(await mergeError(['edited.json', 'part2.json']), /edited\.json: correct \d+ of n \d+ is not a count of its images/);

    // A preset made for another data set is used, with a note saying so.
    const said: string[] = [];
    const log = console.log;
    console.log = (...m: unknown[]) => { said.push(m.join(' ')); };
    try { loadPurifier(join(s.dir, 'mae.safetensors'), { preset: 'mae-mnist', dataset: 'cifar10' }).dispose(); } finally { console.log = log; }
    assert.match(said.join('\n'), /note: preset mae-mnist was chosen for mnist, the images are cifar10/);

    // A worst case over a list of attacks, whole and as merged shards, with its adversarial images kept.
    const list = (extra: string[], file: string) => quiet(() => evalCommand(['--data', s.dir, '--classifier', join(s.dir, 'resnet8.safetensors'),
      '--indices', '0-3', '--batch', '1', '--attack', 'apgd-dlr,pgd', '--eps', '1/255', '--steps', '2', '--json', join(s.dir, file), ...extra]));
    assert.is(await list(['--keep-adversarial'], 'list.json'), 0);
    assert.is(await list(['--shard', '1/2'], 'list1.json'), 0);
    assert.is(await list(['--shard', '2/2'], 'list2.json'), 0);
    assert.is(await quiet(() => mergeCommand([join(s.dir, 'list1.json'), join(s.dir, 'list2.json'), '--json', join(s.dir, 'list-merged.json')])), 0);
    const lw = read('list.json'), lm = read('list-merged.json');
    assert.is(lw.attack.name, 'apgd-dlr,pgd');
    assert.equal(lw.attack.worst_case.map((w: { name: string }) => w.name), ['apgd-dlr', 'pgd']);
    assert.is(lw.attack.worst_case[0].broke + lw.attack.worst_case[1].broke, lw.correct - lw.attack.robust_correct);
    assert.equal(lm.attack.worst_case, lw.attack.worst_case);
    assert.is(lm.robust_predictions, lw.robust_predictions);
    const adv = readSafetensors(new Uint8Array(readFileSync(join(s.dir, 'list.adversarial.safetensors'))));
    assert.equal(adv.tensors.get('adversarial')!.shape, [4, 3, 32, 32]);
    assert.equal(Array.from(adv.tensors.get('labels')!.data), [0, 1, 2, 3]);
    assert.match(adv.metadata['amrm.adversarial.command'], /--attack apgd-dlr,pgd/);
  } finally { mae.dispose(); s.cleanup(); }
});

test.run();
