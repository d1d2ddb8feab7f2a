// Seeded fuzzing of the readers: mutated and truncated CIFAR batch files, CIFAR .tar.gz archives
// and PNG files. Every case must end in a load that makes sense or an Error with a message: no
// crash, no hang, no huge allocation.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import { PNG } from 'pngjs';
import { Rng } from '../../src/engine/random.js';
import { loadCifar10, cifarFromTarGz, decodePng, encodePng, type ImageSet, type ImageCHW } from '../../src/data/node.js';
import { cifarRecords, mutate, scratch, tarArchive, writeFiles } from './fixtures.js';

const test = suite('data: fuzz');
const CASES = 1000;
const META = 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n';

interface Tally { loaded: number; errors: Map<string, number>; worstMs: number; peakBuffers: number; }

/** Runs one case: the outcome must be a checked result or an Error with a message. */
function runCase<T>(t: Tally, what: string, f: () => T, check: (r: T) => void): void {
  const t0 = performance.now();
  let r: T;
  try {
    r = f();
  } catch (e) {
    assert.ok(e instanceof Error, `${what}: threw a non-Error ${String(e)}`);
    assert.ok(e.message.length > 0, `${what}: error without a message`);
    // A TypeError or RangeError would mean a reader walked off its data instead of checking it.
    assert.ok(!(e instanceof TypeError) && !(e instanceof RangeError), `${what}: ${e.name}: ${e.message}`);
    const key = e.message.replace(/\/tmp\/[^ :]*|\d+/g, '#').slice(0, 70);
    t.errors.set(key, (t.errors.get(key) ?? 0) + 1);
    r = undefined as T;
  }
  if (r !== undefined) { check(r); t.loaded++; }
  t.worstMs = Math.max(t.worstMs, performance.now() - t0);
  t.peakBuffers = Math.max(t.peakBuffers, process.memoryUsage().arrayBuffers);
}

function report(name: string, t: Tally): void {
  const top = [...t.errors.entries()].sort((a, b) => b[1] - a[1]).slice(0, process.env.AMRM_FUZZ_VERBOSE ? undefined : 4).map(([k, v]) => `${v}× ${k}`);
  console.log(`  ${name}: ${t.loaded} loaded, ${CASES - t.loaded} errors (${t.errors.size} kinds), slowest ${t.worstMs.toFixed(1)} ms, peak buffers ${(t.peakBuffers / 2 ** 20).toFixed(0)} MiB; most common:\n    ${top.join('\n    ')}`);
  assert.ok(t.worstMs < 2000, 'no case hangs');
  assert.ok(t.peakBuffers < 512 * 2 ** 20, 'no huge allocation');
}

const newTally = (): Tally => ({ loaded: 0, errors: new Map(), worstMs: 0, peakBuffers: 0 });

function checkCifar(set: ImageSet, n?: number): void {
  if (n !== undefined) assert.is(set.n, n);
  assert.is(set.images.length, set.n * 3072);
  assert.ok(set.labels.every((l) => l >= 0 && l < 10));
  assert.ok(set.images.every((v) => v >= 0 && v <= 1));
  assert.is(set.classes.length, 10);
}

test(`CIFAR-10 batch file in a folder: ${CASES} mutated or truncated files (and class-name files)`, () => {
  const rng = new Rng(2024);
  const batch = cifarRecords(4, 1, (i) => [i * 3], 1);
  const meta = new TextEncoder().encode(META);
  const s = scratch('fuzz-cifar');
  const t = newTally();
  try {
    for (let c = 0; c < CASES; c++) {
      const metaCase = c % 5 === 4;
      const bytes = metaCase ? batch : mutate(batch, rng);
      writeFiles(s.dir, { 'test_batch.bin': bytes, 'batches.meta.txt': metaCase ? mutate(meta, rng) : meta });
      const indices = c % 3 === 0 ? [0, 3, 1] : undefined;
      runCase(t, `case ${c}`, () => loadCifar10(s.dir, { split: 'test', indices }), (r) => {
        checkCifar(r, indices ? 3 : bytes.length / 3073);
        assert.is(bytes.length % 3073, 0, 'a loaded file is whole records');
      });
    }
  } finally { s.cleanup(); }
  report('cifar folder', t);
});

test(`CIFAR-10 .tar.gz: ${CASES} archives mutated before or after compression, or truncated`, () => {
  const rng = new Rng(77);
  const files = { 'test_batch.bin': cifarRecords(3, 1, (i) => [9 - i], 2), 'batches.meta.txt': new TextEncoder().encode(META) };
  const tar = tarArchive([
    { name: 'cifar-10-batches-bin/', type: '5' },
    ...Object.entries(files).map(([name, data]) => ({ name: `cifar-10-batches-bin/${name}`, data })),
  ]);
  const tgz = gzipSync(tar);
  const s = scratch('fuzz-tgz');
  const t = newTally();
  try {
    for (let c = 0; c < CASES; c++) {
      // Half the cases corrupt the tar inside a valid gzip stream, so the tar reader sees them.
      const bytes = c % 2 === 0 ? mutate(tgz, rng) : gzipSync(mutate(tar, rng));
      const viaFile = c % 10 === 1;
      if (viaFile) writeFileSync(join(s.dir, 'c.tar.gz'), bytes);
      runCase(t, `case ${c}`, () => (viaFile ? loadCifar10(join(s.dir, 'c.tar.gz'), { split: 'test' }) : cifarFromTarGz(bytes, 'cifar10', { split: 'test' })), (r) => checkCifar(r));
    }
  } finally { s.cleanup(); }
  report('cifar tar.gz', t);
});

// CRC-32 as PNG uses it, so mutated chunks can be made to pass pngjs's CRC check.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
function crc32(b: Uint8Array): number { let c = 0xffffffff; for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; }

/** Corrupts the data of one chunk and rewrites its CRC, so the damage reaches the decoder proper. */
function mutateChunk(png: Uint8Array, rng: Rng): Uint8Array {
  const b = png.slice();
  const dv = new DataView(b.buffer);
  const chunks: [number, number][] = [];
  for (let o = 8; o + 12 <= b.length;) { const len = dv.getUint32(o); chunks.push([o, len]); o += 12 + len; }
  const [o, len] = chunks[rng.int(chunks.length)];
  if (len > 0) {
    for (let e = 0, edits = 1 + rng.int(3); e < edits; e++) {
      const at = o + 8 + rng.int(len);
      b[at] = rng.next() < 0.5 ? rng.int(256) : b[at] ^ (1 << rng.int(8));
    }
  }
  // Sometimes an absurd width or height in the header, with a valid CRC.
  if (rng.next() < 0.15) dv.setUint32(16 + 4 * rng.int(2), [0x7fffffff, 0xffffffff, 65536, 3000, 0][rng.int(5)]);
  dv.setUint32(o + 8 + len, crc32(b.subarray(o + 4, o + 8 + len)));
  if (o !== 8) dv.setUint32(8 + 8 + 13, crc32(b.subarray(12, 8 + 8 + 13)));
  return b;
}

test(`PNG reader: ${CASES} mutated, re-checksummed or truncated files`, () => {
  const rng = new Rng(99);
  const img = (c: number, h: number, w: number): ImageCHW => ({ data: Float32Array.from({ length: c * h * w }, () => rng.int(256) / 255), shape: [c, h, w] });
  const rgba = new PNG({ width: 6, height: 5 });
  for (let i = 0; i < rgba.data.length; i++) rgba.data[i] = rng.int(256);
  const bases = [encodePng(img(3, 9, 7)), encodePng(img(1, 6, 5)), new Uint8Array(PNG.sync.write(rgba)), new Uint8Array(PNG.sync.write(rgba, { colorType: 4 }))];
  const t = newTally();
  for (let c = 0; c < CASES; c++) {
    const base = bases[c % bases.length];
    const bytes = c % 2 === 0 ? mutate(base, rng) : mutateChunk(base, rng);
    runCase(t, `case ${c}`, () => decodePng(bytes), (r) => {
      const [ch, h, w] = r.shape;
      assert.ok((ch === 1 || ch === 3) && h > 0 && w > 0 && r.data.length === ch * h * w);
      assert.ok(r.data.every((v) => v >= 0 && v <= 1));
    });
  }
  report('png', t);
});

test.run();
