import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'fflate';
import {
  loadCifar10, loadCifar100, cifarFromTarGz, labelHistogram, CIFAR10_CLASSES, CIFAR100_FINE_CLASSES,
  CIFAR100_COARSE_CLASSES, sampleIndices,
} from '../../src/data/node.js';
import { cifarRecords, scratch, tarArchive, writeFiles } from './fixtures.js';

const test = suite('data: cifar');
const R10 = 3073, R100 = 3074;

// A fake CIFAR-10: 5 train batches of 3..7 records and a test batch of 6, labels i mod 10.
const TRAIN_SIZES = [3, 4, 5, 6, 7];
const train10 = TRAIN_SIZES.map((n, b) => cifarRecords(n, 1, (i) => [(i + b) % 10], 100 + b));
const test10 = cifarRecords(6, 1, (i) => [(i * 3) % 10], 7);
const meta10 = 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n\n';
const files10: Record<string, Uint8Array | string> = { 'test_batch.bin': test10, 'batches.meta.txt': meta10 };
train10.forEach((b, i) => { files10[`data_batch_${i + 1}.bin`] = b; });
const trainAll = new Uint8Array(train10.reduce((s, b) => s + b.length, 0));
{ let o = 0; for (const b of train10) { trainAll.set(b, o); o += b.length; } }

/** Every record of `raw` (concatenated records) against the loaded set. */
function expectRecords(set: { images: Float32Array; labels: Int32Array; n: number }, raw: Uint8Array, R: number, labelAt: number, picks?: number[]) {
  const lb = R - 3072;
  const ids = picks ?? Array.from({ length: raw.length / R }, (_, i) => i);
  assert.is(set.n, ids.length);
  assert.is(set.images.length, ids.length * 3072);
  ids.forEach((g, s) => {
    assert.is(set.labels[s], raw[g * R + labelAt], `label of record ${g}`);
    for (let j = 0; j < 3072; j += 97) assert.is(set.images[s * 3072 + j], Math.fround(raw[g * R + lb + j] / 255));
    assert.is(set.images[s * 3072 + 3071], Math.fround(raw[g * R + lb + 3071] / 255));
  });
}

test('CIFAR-10 from a folder, its parent folder and the .tar.gz: same records, labels and class names', () => {
  const s = scratch('cifar10');
  try {
    writeFiles(join(s.dir, 'cifar-10-batches-bin'), files10);
    const tgz = gzipSync(tarArchive([
      { name: 'cifar-10-batches-bin/', type: '5' },
      ...Object.entries(files10).map(([name, d]) => ({ name: `cifar-10-batches-bin/${name}`, data: typeof d === 'string' ? new TextEncoder().encode(d) : d })),
    ]));
    writeFileSync(join(s.dir, 'cifar-10-binary.tar.gz'), tgz);
    for (const src of [join(s.dir, 'cifar-10-batches-bin'), s.dir, join(s.dir, 'cifar-10-binary.tar.gz')]) {
      const te = loadCifar10(src, { split: 'test' });
      assert.equal(te.shape, [6, 3, 32, 32]);
      assert.equal(te.classes, meta10.trim().split('\n'));
      expectRecords(te, test10, R10, 0);
      const tr = loadCifar10(src);
      assert.is(tr.n, 25);
      expectRecords(tr, trainAll, R10, 0);
      // Indices across batch boundaries, out of order, repeated.
      const picks = [24, 0, 3, 2, 7, 7, 18];
      expectRecords(loadCifar10(src, { split: 'train', indices: picks }), trainAll, R10, 0, picks);
    }
    const fromBytes = cifarFromTarGz(tgz, 'cifar10', { split: 'test', indices: [5, 1] });
    expectRecords(fromBytes, test10, R10, 0, [5, 1]);
  } finally { s.cleanup(); }
});

test('CIFAR-10 without batches.meta.txt uses the official class names', () => {
  const s = scratch('cifar10b');
  try {
    writeFiles(s.dir, { 'test_batch.bin': test10 });
    assert.equal(loadCifar10(s.dir, { split: 'test' }).classes, CIFAR10_CLASSES);
  } finally { s.cleanup(); }
});

test('CIFAR-100 from a folder and the .tar.gz: fine and coarse labels', () => {
  const s = scratch('cifar100');
  try {
    const trainRaw = cifarRecords(9, 2, (i) => [(i * 7) % 20, (i * 37) % 100], 3);
    const testRaw = cifarRecords(4, 2, (i) => [19 - i, 99 - i], 4);
    const files = { 'train.bin': trainRaw, 'test.bin': testRaw };
    writeFiles(join(s.dir, 'cifar-100-binary'), files);
    const tgz = gzipSync(tarArchive(Object.entries(files).map(([name, data]) => ({ name: `cifar-100-binary/${name}`, data }))));
    writeFileSync(join(s.dir, 'c100.tar.gz'), tgz);
    for (const src of [s.dir, join(s.dir, 'c100.tar.gz')]) {
      const fine = loadCifar100(src);
      assert.equal(fine.classes, CIFAR100_FINE_CLASSES);
      expectRecords(fine, trainRaw, R100, 1);
      const coarse = loadCifar100(src, { split: 'test', label: 'coarse' });
      assert.equal(coarse.classes, CIFAR100_COARSE_CLASSES);
      expectRecords(coarse, testRaw, R100, 0);
      expectRecords(loadCifar100(src, { split: 'test', indices: [3, 0] }), testRaw, R100, 1, [3, 0]);
    }
    assert.is(CIFAR100_FINE_CLASSES.length, 100);
    assert.is(new Set(CIFAR100_FINE_CLASSES).size, 100);
    assert.equal(CIFAR100_FINE_CLASSES.slice().sort(), CIFAR100_FINE_CLASSES);
    assert.is(CIFAR100_COARSE_CLASSES.length, 20);
  } finally { s.cleanup(); }
});

test('bad inputs give errors naming the file and the problem', () => {
  const s = scratch('cifarbad');
  try {
    const throwsLike = (f: () => unknown, re: RegExp) => {
      try { f(); } catch (e) { assert.match((e as Error).message, re); return; }
      assert.unreachable(`expected an error matching ${re}`);
    };
    writeFiles(join(s.dir, 'a'), { 'test_batch.bin': test10.subarray(0, R10 * 2 + 100) });
    throwsLike(() => loadCifar10(join(s.dir, 'a'), { split: 'test' }), /test_batch\.bin has 6246 bytes, not a positive multiple of the 3073-byte record/);
    const badLabel = test10.slice(); badLabel[R10 * 4] = 10;
    writeFiles(join(s.dir, 'b'), { 'test_batch.bin': badLabel });
    throwsLike(() => loadCifar10(join(s.dir, 'b'), { split: 'test' }), /b\/test_batch\.bin record 4 has label 10, outside 0\.\.9/);
    throwsLike(() => loadCifar10(join(s.dir, 'b'), { split: 'train' }), /missing .*data_batch_1\.bin/);
    throwsLike(() => loadCifar10(join(s.dir, 'nowhere')), /does not exist/);
    throwsLike(() => loadCifar10(join(s.dir, 'b'), { split: 'test', indices: [6] }), /index 6 .* not an integer in 0\.\.5/);
    throwsLike(() => loadCifar10(join(s.dir, 'b'), { split: 'valid' as 'test' }), /split must be 'train' or 'test'/);
    writeFiles(join(s.dir, 'c'), { 'test_batch.bin': test10, 'batches.meta.txt': 'cat\ndog\n' });
    throwsLike(() => loadCifar10(join(s.dir, 'c'), { split: 'test' }), /batches\.meta\.txt lists 2 class names, expected 10/);
    writeFiles(s.dir, { 'not.tar.gz': 'hello' });
    throwsLike(() => loadCifar10(join(s.dir, 'not.tar.gz')), /not gzip data/);
    const tgz = gzipSync(tarArchive([{ name: 'cifar-10-batches-bin/data_batch_1.bin', data: train10[0] }]));
    throwsLike(() => cifarFromTarGz(tgz, 'cifar10', { split: 'test' }, 'x.tar.gz'), /x\.tar\.gz has no cifar-10-batches-bin\/test_batch\.bin/);
    throwsLike(() => cifarFromTarGz(tgz.subarray(0, tgz.length - 30), 'cifar10', { split: 'test' }, 'x.tar.gz'), /x\.tar\.gz: (gzip|tar): /);
    const bad100 = cifarRecords(2, 2, () => [20, 5], 1);
    throwsLike(() => cifarFromTarGz(gzipSync(tarArchive([{ name: 'cifar-100-binary/test.bin', data: bad100 }])), 'cifar100', { split: 'test' }), /record 0 has labels \(coarse 20, fine 5\)/);
  } finally { s.cleanup(); }
});

// The real test set, when this machine has it (../shared/data, see its README).
const REAL = resolve(process.env.AMRM_DATA ?? '../shared/data', 'cifar-10-batches-bin');
test('real CIFAR-10 test batch: 10,000 images, 1,000 per class, first label cat, pixels match the file', () => {
  if (!existsSync(join(REAL, 'test_batch.bin'))) {
    console.log(`  NOTICE: ${REAL} is absent; the real CIFAR-10 checks were skipped`);
    return;
  }
  const set = loadCifar10(REAL, { split: 'test' });
  assert.is(set.n, 10000);
  assert.equal(set.shape, [10000, 3, 32, 32]);
  assert.equal(labelHistogram(set.labels, 10), new Array(10).fill(1000));
  assert.is(set.labels[0], 3);
  assert.is(set.classes[3], 'cat');
  // Image 0 and image 9999 against the raw bytes: 1 label byte, then R, G, B planes.
  const fd = openSync(join(REAL, 'test_batch.bin'), 'r');
  const raw = new Uint8Array(R10);
  for (const k of [0, 9999]) {
    readSync(fd, raw, 0, R10, k * R10);
    assert.is(set.labels[k], raw[0]);
    for (const j of [0, 1, 31, 32, 1023, 1024, 2047, 2048, 3071]) assert.is(set.images[k * 3072 + j], Math.fround(raw[1 + j] / 255), `image ${k} value ${j}`);
  }
  closeSync(fd);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < 3072 * 50; i++) { lo = Math.min(lo, set.images[i]); hi = Math.max(hi, set.images[i]); }
  assert.ok(lo >= 0 && hi <= 1 && hi > lo);
  // A seeded 500-image slice reads only those records and agrees with the full load.
  const picks = sampleIndices(10000, 500, 11);
  const t0 = performance.now();
  const part = loadCifar10(REAL, { split: 'test', indices: picks });
  const ms = performance.now() - t0;
  console.log(`  500-image slice of the real test batch read in ${ms.toFixed(0)} ms`);
  for (let s = 0; s < 500; s += 37) {
    const g = picks[s];
    assert.is(part.labels[s], set.labels[g]);
    assert.ok(part.images.subarray(s * 3072, (s + 1) * 3072).every((v, j) => v === set.images[g * 3072 + j]));
  }
});

test.run();
