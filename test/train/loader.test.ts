import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../harness.js';
import { BatchLoader, cropFlip } from '../../src/train/loader.js';
import type { ImageSet } from '../../src/data/dataset.js';

await setup();
const test = suite('loader');

/** n images [c, h, w] whose every pixel value is unique and positive (image k, pixel j: 1 + k·per + j). */
function uniqueSet(n: number, c: number, h: number, w: number): ImageSet {
  const per = c * h * w;
  const images = Float32Array.from({ length: n * per }, (_, i) => 1 + i);
  return { images, labels: Int32Array.from({ length: n }, (_, k) => k), n, shape: [n, c, h, w], classes: [] };
}

test('seeded shuffling: each epoch a permutation, the same for the same seed, different across epochs', async () => {
  const set = uniqueSet(37, 1, 2, 2);
  const a = new BatchLoader(set, { batch: 5, seed: 7 }), b = new BatchLoader(set, { batch: 5, seed: 7 }), c = new BatchLoader(set, { batch: 5, seed: 8 });
  assert.is(a.batchesPerEpoch, 7);
  const labelsOf = (l: BatchLoader): number[] => { const bt = l.take(); const y = Array.from(bt.labels); bt.dispose(); return y; };
  const e0: number[] = [], e1: number[] = [];
  for (let i = 0; i < 7; i++) { const y = labelsOf(a); e0.push(...y); assert.equal(y, labelsOf(b)); }
  for (let i = 0; i < 7; i++) e1.push(...labelsOf(a));
  assert.is(new Set(e0).size, 35, 'no image twice in an epoch (2 dropped with the last partial batch)');
  assert.not.equal(e0, e1, 'a new order each epoch');
  assert.not.equal(labelsOf(c), e0.slice(0, 5), 'another seed, another order');
  assert.equal(a.position, { epoch: 2, index: 0 });
  // A loader started at a position gives the batches an uninterrupted one gives there.
  const resumed = new BatchLoader(set, { batch: 5, seed: 7 }, { epoch: 1, index: 3 });
  assert.equal(Array.from(resumed.take().labels), e1.slice(15, 20));
  a.dispose(); b.dispose(); c.dispose(); resumed.dispose();
});

test('prefetched batches are uploaded and equal the host batch', async () => {
  const set = uniqueSet(12, 3, 4, 4);
  const l = new BatchLoader(set, { batch: 4, seed: 1, augment: 'crop-flip' });
  l.take().dispose();
  l.prefetch();
  const want = l.hostBatch(0, 1);
  const b = l.take();
  assert.equal(Array.from(await b.x.data()), Array.from(want.images));
  assert.equal(Array.from(await b.y.read()), Array.from(want.labels));
  b.dispose(); l.dispose();
});

test('crop-flip augmentation: a shift by at most 4 pixels with zero fill, optionally mirrored, seeded', () => {
  const [c, h, w] = [3, 8, 9];
  const set = uniqueSet(40, c, h, w);
  const per = c * h * w;
  const l = new BatchLoader(set, { batch: 20, seed: 3, augment: 'crop-flip' });
  const seen = new Set<string>();
  for (const index of [0, 1]) {
    const hb = l.hostBatch(0, index);
    assert.equal(Array.from(l.hostBatch(0, index).images), Array.from(hb.images), 'deterministic');
    for (let i = 0; i < 20; i++) {
      const k = hb.labels[i];
      const src = set.images.subarray(k * per, (k + 1) * per);
      const got = hb.images.subarray(i * per, (i + 1) * per);
      const out = new Float32Array(per);
      let match = '';
      for (let dy = -4; dy <= 4 && !match; dy++) for (let dx = -4; dx <= 4 && !match; dx++) for (const flip of [false, true]) {
        cropFlip(src, out, c, h, w, dy, dx, flip);
        if (out.every((v, j) => v === got[j])) { match = `${dy},${dx},${flip}`; break; }
      }
      assert.ok(match, `image ${i} is no crop/flip of its source within 4 pixels`);
      seen.add(match);
      for (const v of got) assert.ok(v === 0 || (v >= src[0] && v <= src[per - 1]), 'values come from the source image or the zero padding');
    }
  }
  assert.ok(seen.size > 10, `augmentations vary (${seen.size} distinct of 40)`);
  // cropFlip itself: a shift right by 2 puts zeros in the first two columns.
  const img = Float32Array.from({ length: 12 }, (_, i) => i + 1), o = new Float32Array(12);
  cropFlip(img, o, 1, 3, 4, 0, -2, false);
  assert.equal(Array.from(o), [0, 0, 1, 2, 0, 0, 5, 6, 0, 0, 9, 10]);
  cropFlip(img, o, 1, 3, 4, 1, 0, true);
  assert.equal(Array.from(o), [8, 7, 6, 5, 12, 11, 10, 9, 0, 0, 0, 0]);
  l.dispose();
});

test('errors: batch larger than the set, bad batch size', () => {
  const set = uniqueSet(3, 1, 1, 1);
  assert.throws(() => new BatchLoader(set, { batch: 4, seed: 0 }), /fewer than one batch of 4/);
  assert.throws(() => new BatchLoader(set, { batch: 0, seed: 0 }), /positive integer/);
});

test.run();
