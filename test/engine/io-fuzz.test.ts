// Fuzzing the checkpoint readers: seeded byte flips, random bytes, edited length fields, shifted
// ranges and truncations of a safetensors file, a zip-format and a legacy torch.save file. Every
// case must end in a loaded state dict or a plain Error with a message naming the file: no other
// exception type, no hang, and no allocation far beyond the file's size.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Rng } from '../../src/engine/random.js';
import { type HostTensor, type StateDict, readSafetensors, writeSafetensors, loadTorch } from '../../src/engine/io/index.js';

const test = suite('io fuzz');
const CASES = 2000;

function mutate(rng: Rng, src: Uint8Array, lengthAt: () => number): Uint8Array {
  const b = src.slice();
  const kind = rng.int(6);
  if (kind === 0) { // flip a few bits
    for (let k = 1 + rng.int(8); k > 0; k--) b[rng.int(b.length)] ^= 1 << rng.int(8);
  } else if (kind === 1) { // overwrite a few bytes at random
    for (let k = 1 + rng.int(16); k > 0; k--) b[rng.int(b.length)] = rng.int(256);
  } else if (kind === 2 || kind === 3) { // a length field set to an edge value, at a length field or anywhere
    const at = kind === 2 ? lengthAt() : rng.int(b.length - 3);
    const edges = [0, 1, 0x7fffffff, 0xffffffff, 0x80000000, b.length, b.length - 8, src.length + 1 + rng.int(8), rng.int(2 ** 32), rng.int(256)];
    const v = edges[rng.int(edges.length)] >>> 0;
    for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = (v >>> (8 * i)) & 255;
    if (rng.next() < 0.3 && at + 7 < b.length) for (let i = 4; i < 8; i++) b[at + i] = rng.next() < 0.5 ? 0 : 255;
  } else if (kind === 4) { // delete or duplicate a range (everything after it shifts)
    const i = rng.int(b.length), n = 1 + rng.int(32);
    return rng.next() < 0.5 ? Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + n)])
      : Uint8Array.from([...b.subarray(0, i + n), ...b.subarray(i, i + n), ...b.subarray(i + n)]);
  } else { // random bytes behind an intact prefix
    const from = rng.int(b.length);
    for (let i = from; i < b.length; i++) b[i] = rng.int(256);
  }
  return b;
}

interface Tally { loaded: number; errors: number; wrapped: number; maxOutRatio: number; ms: number; }

/** Runs `load` on every case; asserts the outcome contract and returns what happened. */
function fuzz(name: string, inputs: Uint8Array[], load: (b: Uint8Array) => StateDict): Tally {
  const t0 = performance.now();
  const tally: Tally = { loaded: 0, errors: 0, wrapped: 0, maxOutRatio: 0, ms: 0 };
  const messages = new Set<string>(); // AMRM_FUZZ_MESSAGES=1 lists the distinct errors (digits masked)
  for (const [i, b] of inputs.entries()) {
    let sd: StateDict;
    try {
      sd = load(b);
    } catch (e) {
      const err = e as Error;
      if (err?.constructor !== Error || typeof err.message !== 'string' || !err.message.startsWith(`${name}: `)) {
        assert.unreachable(`${name} case ${i}: ${err?.constructor?.name}: ${err?.message}`);
      }
      tally.errors++;
      if (err.message.includes(': malformed input (')) tally.wrapped++;
      messages.add(err.message.replace(/\d+/g, 'N').slice(0, 110));
      continue;
    }
    tally.loaded++;
    let out = 0;
    for (const [k, t] of sd.tensors) {
      out += t.data.byteLength;
      assert.is(t.data.length, (t as HostTensor).shape.reduce((a, d) => a * d, 1), `${name} case ${i}: ${k}`);
    }
    tally.maxOutRatio = Math.max(tally.maxOutRatio, out / Math.max(b.length, 1));
  }
  tally.ms = performance.now() - t0;
  if (process.env.AMRM_FUZZ_MESSAGES) console.log([...messages].sort().join('\n'));
  return tally;
}

function cases(seed: number, src: Uint8Array, lengthAt: (rng: Rng) => number): { mutated: Uint8Array[]; truncated: Uint8Array[] } {
  const rng = new Rng(seed);
  const mutated = Array.from({ length: CASES }, () => mutate(rng, src, () => lengthAt(rng)));
  const truncated = Array.from({ length: CASES }, () => src.slice(0, rng.int(src.length)));
  return { mutated, truncated };
}

function report(label: string, t: Tally): void {
  console.log(`  ${label}: ${t.loaded} loaded, ${t.errors} errors (${t.wrapped} from outside the loader's own checks), output ≤ ${t.maxOutRatio.toFixed(2)}× input, ${t.ms.toFixed(0)} ms`);
}

function safetensorsBase(): Uint8Array {
  const rng = new Rng(9);
  const tensors = new Map<string, HostTensor>();
  const shapes = [[3, 4], [], [0, 2], [5], [2, 1, 3]];
  shapes.forEach((shape, i) => {
    const n = shape.reduce((a, d) => a * d, 1);
    const data = i % 2 ? Int32Array.from({ length: n }, () => rng.int(1000) - 500) : Float32Array.from({ length: n }, () => rng.normal());
    tensors.set(`layer${i}.weight`, { shape, dtype: i % 2 ? 'i32' : 'f32', data });
  });
  return writeSafetensors({ tensors, metadata: { format: 'pt', epoch: '3' } });
}

test('safetensors: 2000 mutated and 2000 truncated files load or fail with a clear Error', () => {
  const src = safetensorsBase();
  const headerLen = Number(new DataView(src.buffer).getBigUint64(0, true));
  // Half of the length edits hit the header length, the rest land inside the JSON (digits of offsets).
  const { mutated, truncated } = cases(101, src, (rng) => (rng.next() < 0.5 ? 0 : 8 + rng.int(headerLen)));
  const m = fuzz('f.safetensors', mutated, (b) => readSafetensors(b, 'f.safetensors'));
  const t = fuzz('f.safetensors', truncated, (b) => readSafetensors(b, 'f.safetensors'));
  report('safetensors mutated', m);
  report('safetensors truncated', t);
  assert.is(m.wrapped + t.wrapped, 0, 'every error comes from an explicit check');
  assert.ok(m.errors > CASES / 2 && t.errors === CASES, 'most mutations and every truncation are caught');
  assert.ok(m.maxOutRatio <= 1);
});

// Offsets of the little-endian length and count fields in a zip archive (local and central headers).
function zipLengthFields(b: Uint8Array): number[] {
  const at: number[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i + 4 <= b.length; i++) {
    const sig = v.getUint32(i, true);
    if (sig === 0x04034b50) at.push(i + 18, i + 22, i + 26, i + 28);
    else if (sig === 0x02014b50) at.push(i + 20, i + 24, i + 28, i + 30, i + 42);
    else if (sig === 0x06054b50) at.push(i + 8, i + 10, i + 12, i + 16);
    else if (sig === 0x06064b50) at.push(i + 24, i + 32, i + 40, i + 48);
    else if (sig === 0x07064b50) at.push(i + 8);
  }
  return at;
}

test('torch zip: 2000 mutated and 2000 truncated archives load or fail with a clear Error', () => {
  for (const [seed, file] of [[201, 'zip_mixed.pt'], [202, 'zip_nested_p4.pt']] as const) {
    const src = new Uint8Array(readFileSync(`test/fixtures/${file}`));
    const fields = zipLengthFields(src);
    const { mutated, truncated } = cases(seed, src, (rng) => fields[rng.int(fields.length)]);
    const half = (a: Uint8Array[]) => a.slice(0, CASES / 2);
    const m = fuzz(file, half(mutated), (b) => loadTorch(b, file));
    const t = fuzz(file, half(truncated), (b) => loadTorch(b, file));
    report(`${file} mutated`, m);
    report(`${file} truncated`, t);
    assert.is(m.wrapped + t.wrapped, 0, 'every error comes from an explicit check (ours or fflate\'s)');
    assert.ok(m.maxOutRatio <= 8, 'output stays within a few times the input');
    assert.is(t.loaded, 0);
  }
});

// Offsets of BINUNICODE/BINPUT-style length operands and of the storages' 8-byte counts.
function legacyLengthFields(b: Uint8Array): number[] {
  const at: number[] = [];
  for (let i = 0; i < b.length; i++) if (b[i] === 0x58 || b[i] === 0x72 || b[i] === 0x4a) at.push(i + 1);
  return at;
}

test('torch legacy: 2000 mutated and 2000 truncated files load or fail with a clear Error', () => {
  const file = 'legacy_small.pt';
  const src = new Uint8Array(readFileSync(`test/fixtures/${file}`));
  const fields = legacyLengthFields(src);
  const { mutated, truncated } = cases(301, src, (rng) => (rng.next() < 0.25 ? src.length - 8 - rng.int(64) : fields[rng.int(fields.length)]));
  const m = fuzz(file, mutated, (b) => loadTorch(b, file));
  const t = fuzz(file, truncated, (b) => loadTorch(b, file));
  report('legacy mutated', m);
  report('legacy truncated', t);
  assert.is(m.wrapped + t.wrapped, 0, 'every error comes from an explicit check');
  assert.ok(m.maxOutRatio <= 4);
  assert.is(t.loaded, 0);
});

test.run();
