import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, upload, download, Rng, rand } from '../harness.js';
import { add, matmul, relu } from '../../src/engine/ops/index.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';
import { formatProfile, median, profileWork, recordDispatches } from '../../src/engine/profile.js';

await setup();
const rng = new Rng(11);
const test = suite('profile');

const a = rand(rng, [64, 48]), b = rand(rng, [48, 32]), c = rand(rng, [64, 32]);
/** One matmul, one add, one relu: three dispatches of three families, plus the three uploads' writes (not dispatches). */
const work = () => asyncScope(async () => { await relu(add(matmul(upload(a), upload(b)), upload(c))).data(); });

test('median: odd and even counts, unsorted input, none', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('recordDispatches names every dispatch by family and entry, in order', async () => {
  const names = await recordDispatches(work);
  assert.equal(names.filter((n) => !n.startsWith('util.')), ['matmul.matmul', 'elementwise.binary_flat', 'elementwise.unary']);
  assert.is(engine().runtime.observer, undefined, 'the observer is taken off again');
});

test('elimination: counts per family, times that are not negative, and the result is left alone afterwards', async () => {
  const p = await profileWork(work, { method: 'elimination', repeats: 1 });
  assert.is(p.method, 'elimination');
  const byFamily = Object.fromEntries(p.families.map((f) => [f.family, f]));
  assert.is(byFamily.matmul.dispatches, 1);
  assert.is(byFamily.elementwise.dispatches, 2);
  assert.equal(byFamily.elementwise.entries, { 'elementwise.binary_flat': 1, 'elementwise.unary': 1 });
  for (const f of p.families) assert.ok(f.ms >= 0 && Number.isFinite(f.share), `${f.family}: ${f.ms} ms`);
  assert.ok(p.medianMs > 0);
  assert.match(formatProfile(p), /matmul\s+1/);
  // The engine computes normally once the profile is over.
  const got = await download(relu(add(matmul(upload(a), upload(b)), upload(c))));
  assert.ok(got.data.every((v) => Number.isFinite(v) && v >= 0));
});

test('a family left out is really left out: its output is never written (poisoned outputs read NaN)', async () => {
  let out: Float32Array | undefined;
  const rt = engine().runtime;
  rt.observer = { see: (n) => !n.startsWith('elementwise.') };
  try { out = await asyncScope(async () => add(upload(c), upload(c)).data()); } finally { rt.observer = undefined; }
  assert.ok(out.every((v) => Number.isNaN(v)));
});

test('timestamps where the adapter has them, a clear error where it does not', async () => {
  if (!engine().gpu.features.includes('timestamp-query')) {
    try {
      await profileWork(work, { method: 'timestamp' });
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.match((e as Error).message, /no timestamp-query feature; use elimination/);
    }
    return;
  }
  const p = await profileWork(work, { method: 'timestamp', repeats: 1 });
  assert.is(p.method, 'timestamp');
  assert.ok(p.families.some((f) => f.family === 'matmul' && f.ms >= 0));
  assert.is(engine().runtime.observer, undefined);
});

test('a failing unit of work takes the observer off; nested profiles are refused', async () => {
  try {
    await recordDispatches(async () => { throw new Error('boom'); });
    assert.unreachable('should have thrown');
  } catch (e) { assert.is((e as Error).message, 'boom'); }
  assert.is(engine().runtime.observer, undefined);
  try {
    await recordDispatches(() => recordDispatches(work).then(() => undefined));
    assert.unreachable('should have thrown');
  } catch (e) { assert.match((e as Error).message, /another profile is running/); }
  try {
    await profileWork(work, { repeats: 0 });
    assert.unreachable('should have thrown');
  } catch (e) { assert.match((e as Error).message, /repeats must be a positive integer, got 0/); }
});

test.run();
