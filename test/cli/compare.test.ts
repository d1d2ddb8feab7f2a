import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quiet } from '../harness.js';
import { scratch } from '../data/fixtures.js';
import { compareCommand, parseCompareArgs } from '../../src/cli/compare.js';
import { mcnemarExact, pairedCounts } from '../../src/eval/paired.js';
import { loadMnistSplit } from '../../src/data/mnist.js';
import { sampleIndices } from '../../src/data/sample.js';

const test = suite('compare: two eval reports image by image, the exact McNemar test');

test('mcnemarExact against exact rational sums (Python fractions: 2·Σ_{j≤k} C(n, j)/2^n)', () => {
  // (only A, only B, p): computed with Python's fractions.Fraction and math.comb, then rounded to float64.
  const cases: [number, number, number][] = [
    [8, 23, 0.010673840530216694], [0, 12, 0.00048828125], [3, 40, 3.0213413992896676e-09], [400, 520, 8.549170923883778e-05],
  ];
  for (const [b, c, want] of cases) {
    for (const got of [mcnemarExact(b, c), mcnemarExact(c, b)]) assert.ok(Math.abs(got - want) <= 1e-9 * want, `(${b}, ${c}): ${got}, want ${want}`);
  }
  assert.is(mcnemarExact(0, 0), 1);
  assert.is(mcnemarExact(5, 5), 1);
  assert.ok(mcnemarExact(5000, 5000) === 1 && mcnemarExact(4000, 6000) > 0 && mcnemarExact(4000, 6000) < 1e-80, 'thousands of images neither underflow to a wrong 0 nor pass 1');
  assert.throws(() => mcnemarExact(-1, 2), /non-negative integers/);
  const p = pairedCounts([true, true, false, false, true], [true, false, true, false, false]);
  assert.equal([p.n, p.a, p.b, p.both, p.aOnly, p.bOnly, p.neither], [5, 3, 2, 1, 2, 1, 1]);
});

test('amrm compare on MNIST test digits: counts checked against the labels read again, refusals', async () => {
  const s = scratch('compare');
  try {
    const n = 40, seed = 3;
    const all = loadMnistSplit('test');
    const labels = Array.from(sampleIndices(all.n, n, seed), (i) => all.labels[i]);
    const wrong = (y: number): number => (y + 1) % 10;
    // A: right on the first 30 clean; attacked, right on the first 10. B: right on 5..39 clean, attacked on 0..24.
    const preds = (right: (i: number) => boolean): string => labels.map((y, i) => (right(i) ? y : wrong(y))).join('');
    const report = (clean: (i: number) => boolean, robust?: (i: number) => boolean, config: Record<string, unknown> = {}) => {
      const correct = labels.filter((_, i) => clean(i)).length;
      const rc = robust ? labels.filter((_, i) => clean(i) && robust(i)).length : undefined;
      return {
        n, correct, clean_accuracy: correct / n, images_per_s: 1, seconds: 1,
        ...(robust ? { attack: { robust_correct: rc }, robust_predictions: preds(robust), robust_accuracy: rc! / n } : { attack: null }),
        predictions: preds(clean),
        config: { dataset: 'mnist', split: 'test', n, seed, indices: null, shard: null, ...config },
      };
    };
    const write = (name: string, r: unknown): string => { const f = join(s.dir, name); writeFileSync(f, JSON.stringify(r)); return f; };
    const a = write('a.json', report((i) => i < 30, (i) => i < 10));
    const b = write('b.json', report((i) => i >= 5, (i) => i < 25));
    const out = join(s.dir, 'cmp.json');
    assert.is(await quiet(() => compareCommand([a, b, '--json', out])), 0);
    const r = JSON.parse(readFileSync(out, 'utf8'));
    // Robust (both ran an attack): A right on 0..9, B on 5..24.
    assert.equal([r.on, r.n, r.a, r.b, r.both, r.aOnly, r.bOnly, r.neither], ['robust', 40, 10, 20, 5, 5, 15, 15]);
    assert.ok(Math.abs(r.pValue - mcnemarExact(5, 15)) < 1e-15);
    assert.is(await quiet(() => compareCommand([a, b, '--on', 'clean', '--json', out])), 0);
    const c = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal([c.on, c.a, c.b, c.both, c.aOnly, c.bOnly, c.neither], ['clean', 30, 35, 25, 5, 10, 0]);
    // Refusals, each naming what is wrong.
    const refused = async (args: string[], re: RegExp): Promise<void> => {
      try { await quiet(() => compareCommand(args)); assert.unreachable(`no error for ${args.join(' ')}`); } catch (e) { assert.match((e as Error).message, re); }
    };
    await refused([a, write('other.json', report((i) => i < 30, undefined, { n: 41 }))], /ran on different images: n is 40 in .*a\.json and 41/);
    const lying = { ...report((i) => i < 30), correct: 31 };
    await refused([a, write('lying.json', lying), '--on', 'clean'], /give 30 right for .*lying\.json, its report says 31/);
    await refused([a, write('clean-only.json', report((i) => i < 30)), '--on', 'robust'], /clean-only\.json ran no attack/);
    await refused([a, write('shard.json', report((i) => i < 30, undefined, { shard: { index: 0, count: 2, from: 0, to: 20, of: 40 } }))], /one shard of a run/);
    await refused([a, join(s.dir, 'missing.json')], /cannot read .*missing\.json/);
    assert.is(await quiet(() => compareCommand([a])), 2, 'one report is a usage error');
    assert.throws(() => parseCompareArgs([a, b, '--on', 'both']), /--on must be clean or robust, got 'both'/);
  } finally { s.cleanup(); }
});

test.run();
