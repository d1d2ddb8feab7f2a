import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadMnist, labelHistogram, sampleIndices } from '../../src/data/node.js';

const test = suite('data: mnist');

test('the mnist package: 10,000 digits [n,1,28,28] in [0,1], labels 0..9 about 1,000 each', () => {
  const all = loadMnist();
  assert.is(all.n, 10000);
  assert.equal(all.shape, [10000, 1, 28, 28]);
  assert.is(all.images.length, 10000 * 784);
  assert.equal(all.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const h = labelHistogram(all.labels, 10);
  assert.ok(h.every((c) => c > 800 && c < 1200), `class counts ${h}`);
  let lo = Infinity, hi = -Infinity, ink = 0;
  for (const v of all.images) { lo = Math.min(lo, v); hi = Math.max(hi, v); if (v > 0.5) ink++; }
  assert.is(lo, 0); assert.is(hi, 1);
  assert.ok(ink / all.images.length > 0.05 && ink / all.images.length < 0.3, 'digits are strokes on a dark background');
  // Values are whole 8-bit levels; classes are interleaved, so the first ten images are 0..9.
  assert.ok(all.images.subarray(0, 784 * 20).every((v) => Math.fround(Math.round(v * 255) / 255) === v));
  assert.equal(Array.from(all.labels.subarray(0, 10)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const picks = sampleIndices(10000, 64, 3);
  const part = loadMnist({ indices: picks });
  assert.equal(part.shape, [64, 1, 28, 28]);
  picks.forEach((g, s) => {
    assert.is(part.labels[s], all.labels[g]);
    assert.ok(part.images.subarray(s * 784, (s + 1) * 784).every((v, j) => v === all.images[g * 784 + j]));
  });
  try { loadMnist({ indices: [10000] }); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /mnist: index 10000 .* not an integer in 0\.\.9999/); }
});

test.run();
