// Checkpoint I/O: safetensors read/write, the restricted unpickler, torch.save (zip and legacy)
// import against values torch itself read back, and `amrm convert`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { Rng } from '../../src/engine/random.js';
import { type HostTensor, readSafetensors, writeSafetensors, loadTorch, loadStateDict, f16ToF32 } from '../../src/engine/io/index.js';
import { unpickle, pyGlobal, PyOrderedDict } from '../../src/engine/io/pickle.js';
import { main } from '../../src/cli/main.js';

const test = suite('io');
const rng = new Rng(4242);
const FIX = 'test/fixtures';
const MODELS = '../shared/models';
const enc = new TextEncoder();

// ---------- helpers ----------

function randomTensor(shape: number[], dtype: 'f32' | 'i32'): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'f32' ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = dtype === 'f32' ? rng.normal() * 10 : rng.int(2 ** 32) - 2 ** 31;
  return { shape, dtype, data };
}

/** A safetensors file from a header (object or raw JSON text) and data bytes. */
function st(header: object | string, data: Uint8Array = new Uint8Array(0), headerLen?: number): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const v = new DataView(out.buffer);
  const n = headerLen ?? json.length;
  v.setUint32(0, n % 2 ** 32, true);
  v.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const u16 = (vals: number[]): Uint8Array => new Uint8Array(new Uint16Array(vals).buffer);
const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

function throwsMsg(fn: () => unknown, re: RegExp, label: string): void {
  try {
    fn();
  } catch (e) {
    assert.is((e as Error).constructor, Error, `${label}: ${(e as Error).constructor.name}: ${(e as Error).message}`);
    assert.match((e as Error).message, re, `${label}: ${(e as Error).message}`);
    return;
  }
  assert.unreachable(`${label}: no error`);
}

/** A tiny pickle writer for hand-built (and deliberately hostile) streams. */
class P {
  private b: number[] = [];
  op(...bytes: number[]): this { this.b.push(...bytes); return this; }
  proto(p = 2): this { return this.op(0x80, p); }
  str(s: string): this { const e = enc.encode(s); return this.op(0x58, ...le32(e.length), ...e); }
  int(n: number): this { return n >= 0 && n < 256 ? this.op(0x4b, n) : this.op(0x4a, ...le32(n)); }
  global(m: string, n: string): this { return this.op(0x63, ...enc.encode(`${m}\n${n}\n`)); }
  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  get bytes(): Uint8Array { return Uint8Array.from(this.b); }
  /** ('storage', torch.<type>, key, 'cpu', numel) then BINPERSID. */
  storage(type: string, key: string, numel: number): this {
    return this.mark().str('storage').global('torch', type).str(key).str('cpu').int(numel).tuple().op(0x51);
  }
  ints(v: number[]): this { this.mark(); for (const x of v) this.int(x); return this.tuple(); }
  /** _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
  tensor(key: string, numel: number, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark().storage('FloatStorage', key, numel).int(offset).ints(size).ints(stride);
    return this.op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52).tuple().op(0x52);
  }
}
const le32 = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];

/** A zip-format checkpoint {name: tensor} over one f32 storage holding `values`. */
function zipCheckpoint(pkl: Uint8Array, storages: Record<string, Uint8Array>, folder = 'anything'): Uint8Array {
  const files: Record<string, Uint8Array> = { [`${folder}/data.pkl`]: pkl };
  for (const [k, v] of Object.entries(storages)) files[`${folder}/data/${k}`] = v;
  return zipSync(files, { level: 0 });
}
const f32bytes = (v: number[]): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);
const oneTensorPickle = (numel: number, offset: number, size: number[], stride: number[]): Uint8Array =>
  new P().proto().op(0x7d).str('w').tensor('0', numel, offset, size, stride).op(0x73, 0x2e).bytes;

// ---------- safetensors ----------

test('safetensors: write then read returns the same tensors, order, metadata and bits', () => {
  const shapes: number[][] = [[], [0], [2, 0, 3], [1], [7], [3, 1, 5], [2, 3, 4, 5], [1, 1, 1, 1, 1], [13, 17]];
  const tensors = new Map<string, HostTensor>();
  // Integer-like and unusual names must keep their order and spelling.
  const names = ['z.last', '0', 'a.b.c', 'é ünïcode', '10', '', 'x"quote\\', 'weight', 'bias'];
  shapes.forEach((s, i) => tensors.set(names[i], randomTensor(s, i % 3 === 2 ? 'i32' : 'f32')));
  const special = randomTensor([6], 'f32');
  special.data.set([NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38]);
  tensors.set('special', special);
  const metadata = { format: 'pt', note: 'ünïcode ✓', empty: '' };
  const bytes = writeSafetensors({ tensors, metadata });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is(n % 8, 0, 'header padded to 8 bytes');
  assert.is(bytes[8 + n - 1] === 0x20 || bytes[8 + n - 1] === 0x7d, true);
  const back = readSafetensors(bytes, 'round.safetensors');
  assert.equal([...back.tensors.keys()], [...tensors.keys()]);
  assert.equal(back.metadata, metadata);
  for (const [k, t] of tensors) {
    const b = back.tensors.get(k)!;
    assert.equal(b.shape, t.shape, k);
    assert.is(b.dtype, t.dtype, k);
    assert.ok(sameBits(b.data, t.data), `${k} bits`);
  }
  // Without metadata, no __metadata__ entry; an empty dict is a valid file.
  const empty = writeSafetensors({ tensors: new Map() });
  assert.equal(readSafetensors(empty), { tensors: new Map(), metadata: {} });
  assert.is(new TextDecoder().decode(empty.subarray(8)).trim(), '{}');
  // A Node Buffer (whose slice is a view) reads the same.
  assert.ok(sameBits(readSafetensors(Buffer.from(bytes)).tensors.get('weight')!.data, tensors.get('weight')!.data));
});

test('safetensors: F16, BF16, F64 and integer dtypes decode to hand-computed values', () => {
  const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555, 0x2e66];
  const f16want = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, NaN, 0.333251953125, 0.0999755859375];
  const bf16 = [0x3f80, 0xc049, 0x7f80, 0x0001, 0x4049, 0xff80, 0x7fc0, 0x8000, 0x3dcd];
  const bf16want = [1, -3.140625, Infinity, 2 ** -133, 3.140625, -Infinity, NaN, -0, 0.10009765625];
  const f64 = new Float64Array([1 / 3, -1e300, 2.5]);
  const i64 = new BigInt64Array([0n, -1n, 2147483647n, -2147483648n]);
  const parts = [u16(f16), u16(bf16), new Uint8Array(f64.buffer), new Uint8Array(i64.buffer),
    new Uint8Array(new Int16Array([-32768, 7]).buffer), Uint8Array.from([0x80, 0x7f]), Uint8Array.from([255, 0]), Uint8Array.from([1, 0, 2])];
  const dtypes = ['F16', 'BF16', 'F64', 'I64', 'I16', 'I8', 'U8', 'BOOL'];
  const header: Record<string, object> = {};
  let at = 0;
  parts.forEach((p, i) => {
    const size = { F16: 2, BF16: 2, F64: 8, I64: 8, I16: 2, I8: 1, U8: 1, BOOL: 1 }[dtypes[i]]!;
    header[dtypes[i]] = { dtype: dtypes[i], shape: [p.length / size], data_offsets: [at, at + p.length] };
    at += p.length;
  });
  const data = new Uint8Array(at);
  at = 0;
  for (const p of parts) { data.set(p, at); at += p.length; }
  const sd = readSafetensors(st(header, data));
  const get = (k: string) => sd.tensors.get(k)!;
  assert.ok(sameBits(get('F16').data, Float32Array.from(f16want)), `F16 ${get('F16').data}`);
  assert.ok(sameBits(get('BF16').data, Float32Array.from(bf16want)), `BF16 ${get('BF16').data}`);
  assert.ok(sameBits(get('F64').data, Float32Array.from([1 / 3, -Infinity, 2.5])), 'F64 rounds to f32');
  assert.is(get('F64').dtype, 'f32');
  assert.equal(Array.from(get('I64').data), [0, -1, 2147483647, -2147483648]);
  assert.is(get('I64').dtype, 'i32');
  assert.equal(Array.from(get('I16').data), [-32768, 7]);
  assert.equal(Array.from(get('I8').data), [-128, 127]);
  assert.equal(Array.from(get('U8').data), [255, 0]);
  assert.equal(Array.from(get('BOOL').data), [1, 0, 1]);
  for (let h = 0; h < 65536; h += 97) if (!Number.isNaN(f16ToF32(h))) assert.is(Math.fround(f16ToF32(h)), f16ToF32(h));
});

test('safetensors: every malformed input is an Error naming the file and the field', () => {
  const F = (shape: number[], data_offsets: unknown, dtype: unknown = 'F32') => ({ dtype, shape, data_offsets });
  const d8 = new Uint8Array(8);
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /f\.st: the file is 5 bytes, shorter than the 8-byte header length/],
    ['header length past the file', st({}, undefined, 1000), /header length 1000 is beyond the file size \(10 bytes\)/],
    ['header length over 100 MB', st({}, undefined, 2 ** 40), /header length 1099511627776 exceeds the format's limit/],
    ['no opening brace', st(' {}'), /does not start with '\{'/],
    ['empty header', st('', new Uint8Array(4), 0), /does not start with '\{'/],
    ['invalid UTF-8', (() => { const b = st('{"\xff":1}'); b[10] = 0xff; b[11] = 0xfe; return b; })(), /not valid UTF-8/],
    ['invalid JSON', st('{"a": }'), /the header is not valid JSON/],
    ['metadata not an object', st({ __metadata__: ['x'] }), /__metadata__ is not an object of strings/],
    ['metadata value not a string', st({ __metadata__: { epoch: 3 } }), /__metadata__\.epoch is 3, not a string/],
    ['entry not an object', st({ w: 5 }), /tensor 'w': its header entry is not an object/],
    ['unknown dtype', st({ w: F([2], [0, 8], 'F33') }, d8), /tensor 'w': dtype "F33" is not a safetensors dtype/],
    ['missing dtype', st({ w: { shape: [2], data_offsets: [0, 8] } }, d8), /tensor 'w': dtype undefined/],
    ['shape not a list', st({ w: F(2 as unknown as number[], [0, 8]) }, d8), /tensor 'w': shape 2 is not a list/],
    ['negative dim', st({ w: F([-2], [0, 8]) }, d8), /tensor 'w': shape \[-2\] must hold non-negative integers/],
    ['fractional dim', st({ w: F([1.5], [0, 8]) }, d8), /shape \[1\.5\] must hold non-negative integers/],
    ['overflowing shape', st({ w: F([2 ** 40, 2 ** 40], [0, 8]) }, d8), /more elements than can be addressed/],
    ['offsets not a pair', st({ w: F([2], [0]) }, d8), /tensor 'w': data_offsets \[0\] is not a pair/],
    ['negative offset', st({ w: F([2], [-8, 0]) }, d8), /data_offsets \[-8,0\] is not a pair of non-negative integers/],
    ['end before begin', st({ w: F([0], [8, 0]) }, d8), /data_offsets \[8, 0\] end before they begin/],
    ['size mismatch', st({ w: F([3], [0, 8]) }, d8), /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/],
    ['gap at start', st({ w: F([1], [4, 8]) }, d8), /tensor 'w' starts at byte 4 of the data but the data starts at 0 \(a gap\)/],
    ['gap between', st({ a: F([1], [0, 4]), b: F([1], [8, 12]) }, new Uint8Array(12)), /'b' starts at byte 8 of the data but 'a' ends at 4 \(a gap\)/],
    ['overlap', st({ a: F([2], [0, 8]), b: F([1], [4, 8]) }, d8), /'b' starts at byte 4 of the data but 'a' ends at 8 \(overlapping\)/],
    ['past the data', st({ w: F([4], [0, 16]) }, d8), /tensor 'w' ends at byte 16, beyond the 8 data bytes/],
    ['trailing bytes', st({ w: F([1], [0, 4]) }, d8), /the tensors cover 4 bytes but the file holds 8 data bytes/],
    ['unsupported dtype', st({ w: F([2], [0, 8], 'U32') }, d8), /tensor 'w': dtype U32 is not supported/],
    ['int64 out of range', st({ w: F([1], [0, 8], 'I64') }, new Uint8Array(new BigInt64Array([2n ** 40n]).buffer)), /tensor 'w': int64 element 0 \(1099511627776\) does not fit in int32/],
  ];
  for (const [label, bytes, re] of cases) throwsMsg(() => readSafetensors(bytes, 'f.st'), re, label);

  const t = (data: Float32Array | Int32Array, shape: number[], dtype: 'f32' | 'i32' = 'f32') => new Map([['w', { shape, dtype, data } as HostTensor]]);
  throwsMsg(() => writeSafetensors({ tensors: t(new Float32Array(3), [2, 2]) }), /tensor 'w': shape \[2,2\] holds 4 elements but the data has 3/, 'write size');
  throwsMsg(() => writeSafetensors({ tensors: t(new Float32Array(3), [3], 'i32') }), /tensor 'w': dtype i32 needs a Int32Array, got Float32Array/, 'write dtype');
  throwsMsg(() => writeSafetensors({ tensors: new Map([['__metadata__', randomTensor([1], 'f32')]]) }), /'__metadata__' cannot name a tensor/, 'write name');
  throwsMsg(() => writeSafetensors({ tensors: new Map(), metadata: { a: 1 as unknown as string } }), /metadata 'a' is number, not a string/, 'write metadata');
});

// ---------- the restricted unpickler ----------

test('unpickle: Python values in protocols 2, 4 and 5', () => {
  for (const p of [2, 4, 5]) {
    const bytes = readFileSync(join(FIX, `plain_p${p}.pkl`));
    const { value, end } = unpickle(bytes, { globals: {} });
    assert.is(end, bytes.length);
    const m = value as Map<string, unknown>;
    const a = m.get('a') as unknown[];
    assert.equal(a.slice(0, 8), [1, -1, 255, 256, 65536, -(2 ** 31), 2 ** 31, 2 ** 40]);
    assert.is(a[8], -(2n ** 70n));
    assert.ok(Object.is(a[10], -0));
    assert.equal(a.slice(9, 15), [1.5, -0, 1e300, true, false, null]);
    assert.is(a[15], 'é€é€');
    assert.is(a[16], 'x'.repeat(300));
    assert.equal(a.slice(17), [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]);
    assert.ok(Object.isFrozen(a[18]) && !Object.isFrozen(a), 'tuples are frozen, lists are not');
    assert.equal((m.get('b') as Map<string, unknown>).get('n'), [1]);
    assert.is(m.get('c'), m.get('d'), 'a memoized object is shared');
    if (p >= 3) assert.equal(m.get('e'), Uint8Array.from([120, 121]));
  }
});

test('unpickle: anything beyond state dicts is refused with the opcode, global and offset', () => {
  const g = { 'collections.OrderedDict': pyGlobal('collections.OrderedDict', () => new PyOrderedDict()), 'torch.FloatStorage': pyGlobal('torch.FloatStorage') };
  const cases: [string, Uint8Array, RegExp][] = [
    ['os.system', new P().proto().global('os', 'system').str('echo hi').op(0x85, 0x52, 0x2e).bytes, /x\.pkl: pickle GLOBAL at byte 2: global 'os\.system' is not allowed/],
    ['builtins.eval via STACK_GLOBAL', new P().proto(4).str('builtins').str('eval').op(0x93, 0x2e).bytes, /pickle STACK_GLOBAL at byte 24: global 'builtins\.eval' is not allowed/],
    ['REDUCE on a storage type', new P().proto().global('torch', 'FloatStorage').op(0x29, 0x52, 0x2e).bytes, /REDUCE at byte 23: global torch\.FloatStorage is not an allowed callable/],
    ['REDUCE on a string', new P().proto().str('f').op(0x29, 0x52, 0x2e).bytes, /REDUCE at byte 9: the string "f" is not an allowed callable/],
    ['BUILD on a dict', new P().proto().op(0x7d, 0x7d, 0x62, 0x2e).bytes, /BUILD at byte 4: setting the state of a dict is not allowed/],
    ['INST', new P().proto().op(0x28).op(0x69, ...enc.encode('os\nsystem\n'), 0x2e).bytes, /pickle INST at byte 3: this opcode is not supported/],
    ['OBJ', new P().proto().op(0x28, 0x6f, 0x2e).bytes, /pickle OBJ at byte 3: this opcode is not supported/],
    ['NEWOBJ', new P().proto().global('collections', 'OrderedDict').op(0x29, 0x81, 0x2e).bytes, /pickle NEWOBJ at byte 28: this opcode is not supported/],
    ['unknown opcode', new P().proto().op(0xff).bytes, /pickle opcode 0xff at byte 2: unknown opcode/],
    ['protocol 6', new P().proto(6).op(0x4e, 0x2e).bytes, /PROTO at byte 0: protocol 6 is not one of 2-5/],
    ['truncated string', new P().proto().op(0x58, 100, 0, 0, 0, 0x61).bytes, /BINUNICODE at byte 2: needs 100 bytes but the file ends 1 bytes later/],
    ['no STOP', new P().proto().op(0x4e).bytes, /pickle at byte 3: the file ends before STOP/],
    ['empty stack', new P().proto().op(0x2e).bytes, /STOP at byte 2: the stack is empty/],
    ['APPEND to a tuple', new P().proto().op(0x29, 0x4e, 0x61, 0x2e).bytes, /APPEND at byte 4: expected a list, got a tuple of 0/],
    ['SETITEM on a list', new P().proto().op(0x5d, 0x4e, 0x4e, 0x73, 0x2e).bytes, /SETITEM at byte 5: expected a dict, got a list of 0/],
    ['odd SETITEMS', new P().proto().op(0x7d, 0x28, 0x4e, 0x75, 0x2e).bytes, /SETITEMS at byte 5: 1 items after MARK/],
    ['unknown memo', new P().proto().op(0x68, 3, 0x2e).bytes, /BINGET at byte 2: memo entry 3 was never stored/],
    ['TUPLE without MARK', new P().proto().op(0x74, 0x2e).bytes, /TUPLE at byte 2: no MARK before it/],
    ['persistent id without loader', new P().proto().str('k').op(0x51, 0x2e).bytes, /BINPERSID at byte 8: persistent ids are not expected here/],
    ['bad UTF-8', new P().proto().op(0x8c, 1, 0xff, 0x2e).bytes, /SHORT_BINUNICODE at byte 2: the string is not valid UTF-8/],
    ['frame past the end', new P().proto(4).op(0x95, 50, 0, 0, 0, 0, 0, 0, 0, 0x4e, 0x2e).bytes, /FRAME at byte 2: frame of 50 bytes runs past the end/],
  ];
  for (const [label, bytes, re] of cases) throwsMsg(() => unpickle(bytes, { globals: g, name: 'x.pkl' }), re, label);
});

// ---------- torch.save, zip format ----------

const expected = JSON.parse(readFileSync(join(FIX, 'torch_fixtures.json'), 'utf8')) as Record<string, { tensors: Record<string, { shape: number[]; dtype: string; values: number[] }> }>;

function checkAgainstTorch(file: string): ReturnType<typeof loadTorch> {
  const sd = loadTorch(readFileSync(join(FIX, file)), file);
  const want = expected[file].tensors;
  assert.equal([...sd.tensors.keys()], Object.keys(want), `${file} keys`);
  for (const [k, w] of Object.entries(want)) {
    const t = sd.tensors.get(k)!;
    assert.equal(t.shape, w.shape, `${file} ${k} shape`);
    assert.is(t.dtype, w.dtype, `${file} ${k} dtype`);
    assert.ok(sameBits(t.data, w.dtype === 'f32' ? Float32Array.from(w.values) : Int32Array.from(w.values)), `${file} ${k}: ${t.data} vs ${w.values}`);
  }
  return sd;
}

test('torch zip: every dtype, views with offsets and strides, parameters, as torch reads them', () => {
  const sd = checkAgainstTorch('zip_mixed.pt');
  assert.is(sd.format, 'zip');
  assert.equal(sd.tensors.get('transposed')!.shape, [5, 3]);
  assert.equal(Array.from(sd.tensors.get('view_offset')!.data), [-0.75, -0.5, -0.25, 0, 0.25, 0.5]);
  assert.equal(Array.from(sd.tensors.get('view_step')!.data), [-1.75, -0.75, 0.25, 1.25, 2.25]);
  assert.equal(sd.tensors.get('scalar')!.shape, []);
  assert.equal(sd.metadata, {});
});

test('torch zip (pickle protocol 4): {model: DataParallel state dict} unwrapped, module. stripped, scalars kept', () => {
  const sd = checkAgainstTorch('zip_nested_p4.pt');
  assert.ok([...sd.tensors.keys()].every((k) => !k.startsWith('module.')));
  assert.equal(sd.tensors.get('1.num_batches_tracked'), { shape: [], dtype: 'i32', data: Int32Array.from([42]) });
  assert.equal(sd.metadata, { epoch: '7', best_acc: '0.8125', arch: 'tiny' });
  assert.equal(sd.skipped, ['optimizer']);
});

test('torch zip: hand-built archives, strided and shared views, and their errors', () => {
  const vals = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  // Any folder name; a transposed view at an offset; two tensors on one storage.
  const pkl = new P().proto().op(0x7d).mark()
    .str('module.t').tensor('0', 12, 1, [3, 2], [1, 3])
    .str('module.u').tensor('0', 12, 10, [2], [1])
    .op(0x75, 0x2e).bytes;
  const sd = loadTorch(zipCheckpoint(pkl, { 0: f32bytes(vals) }, 'my-model.v2'), 'h.pt');
  assert.equal([...sd.tensors.keys()], ['t', 'u']);
  assert.equal(Array.from(sd.tensors.get('t')!.data), [1, 4, 2, 5, 3, 6]);
  assert.equal(Array.from(sd.tensors.get('u')!.data), [10, 11]);
  // Parameters through _rebuild_from_type_v2 (a Tensor subclass) and _rebuild_parameter.
  const param = new P().proto().op(0x7d).str('p').global('torch._tensor', '_rebuild_from_type_v2')
    .mark().global('torch._utils', '_rebuild_parameter').global('torch.nn.parameter', 'Parameter')
    .mark().tensor('0', 12, 0, [2], [1]).op(0x88).global('collections', 'OrderedDict').op(0x29, 0x52).tuple()
    .op(0x7d).tuple().op(0x52, 0x73, 0x2e);
  assert.equal(Array.from(loadTorch(zipCheckpoint(param.bytes, { 0: f32bytes(vals) }), 'p.pt').tensors.get('p')!.data), [0, 1]);

  const z = (p: Uint8Array, data: Record<string, Uint8Array> = { 0: f32bytes(vals) }) => () => loadTorch(zipCheckpoint(p, data), 'e.pt');
  throwsMsg(z(oneTensorPickle(12, 5, [3, 3], [3, 1])), /e\.pt: tensor 'w': offset 5, shape \[3,3\] and stride \[3,1\] reach element 13 of a storage of 12/, 'out of bounds');
  throwsMsg(z(oneTensorPickle(12, 0, [100, 12], [0, 1])), /tensor 'w': shape \[100,12\] has 1200 elements but its storage only 12 \(expanded tensors are not supported\)/, 'expanded');
  throwsMsg(z(oneTensorPickle(12, 0, [12], [1, 1])), /size \[12\] and stride \[1,1\] differ in length/, 'rank mismatch');
  throwsMsg(z(oneTensorPickle(12, 0, [12], [1]), { 1: f32bytes(vals) }), /e\.pt: storage '0' has no entry anything\/data\/0/, 'missing storage');
  throwsMsg(z(oneTensorPickle(12, 0, [12], [1]), { 0: f32bytes([1, 2]) }), /anything\/data\/0 holds 8 bytes but 12 elements of 4 bytes are expected/, 'short storage');
  throwsMsg(() => loadTorch(zipSync({ 'a/other.pkl': new Uint8Array(1) }), 'e.pt'), /the zip archive holds no <folder>\/data\.pkl/, 'no data.pkl');
  throwsMsg(() => loadTorch(zipSync({ 'a/data.pkl': oneTensorPickle(12, 0, [12], [1]), 'a/data/0': f32bytes(vals), 'a/byteorder': enc.encode('big') }), 'e.pt'), /byte order 'big' is not supported/, 'big endian');
  // A deflated entry claiming a huge size, and a directory claiming more entries than fit: refused
  // before anything is allocated or walked.
  const deflated = zipSync({ 'a/data.pkl': oneTensorPickle(12, 0, [12], [1]), 'a/data/0': f32bytes(vals) }, { level: 6 });
  const dv = new DataView(deflated.buffer);
  const central = deflated.findIndex((_, i) => i + 4 <= deflated.length && dv.getUint32(i, true) === 0x02014b50);
  const huge = deflated.slice();
  new DataView(huge.buffer).setUint32(central + 24, 0x7fffffff, true);
  throwsMsg(() => loadTorch(huge, 'e.pt'), /e\.pt: zip entry 'a\/data\.pkl' claims 2147483647 bytes from \d+ stored/, 'inflate bomb');
  const many = deflated.slice();
  new DataView(many.buffer).setUint16(many.length - 22 + 8, 65535, true);
  throwsMsg(() => loadTorch(many, 'e.pt'), /e\.pt: the zip directory claims more entries than the file can hold/, 'entry count');
  assert.equal(Array.from(loadTorch(deflated, 'd.pt').tensors.get('w')!.data), vals, 'deflated entries load too');
  const badGlobal = new P().proto().op(0x7d).str('w').global('torch._utils', '_rebuild_sparse_tensor').op(0x29, 0x52, 0x73, 0x2e).bytes;
  throwsMsg(z(badGlobal), /e\.pt: anything\/data\.pkl: pickle GLOBAL at byte 9: global 'torch\._utils\._rebuild_sparse_tensor' is not allowed/, 'other global');
  const tensorOnly = new P().proto().tensor('0', 12, 0, [12], [1]).op(0x2e).bytes;
  throwsMsg(z(tensorOnly), /e\.pt: the checkpoint holds a single tensor, not a dict of tensors/, 'bare tensor');
  throwsMsg(() => loadTorch(enc.encode('hello world, not a checkpoint'), 'e.pt'), /e\.pt: not a PyTorch checkpoint/, 'not torch');
  throwsMsg(() => loadStateDict(enc.encode('hello world, not a checkpoint'), 'e.pt'), /e\.pt: neither a PyTorch checkpoint .* nor a safetensors file/, 'neither');
});

// ---------- torch.save, legacy format ----------

test('torch legacy: small fixture as torch reads it (int64 scalar, transposed view)', () => {
  const sd = checkAgainstTorch('legacy_small.pt');
  assert.is(sd.format, 'legacy');
  assert.equal(sd.tensors.get('n'), { shape: [], dtype: 'i32', data: Int32Array.from([5]) });
});

/** A legacy-format file: magic, protocol, system info, the object, the key list, then the storages. */
function legacyFile(object: Uint8Array, keys: string[], storages: [number, Uint8Array][], magic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]): Uint8Array {
  const parts = [
    new P().proto().op(0x8a, 10, ...magic, 0x2e).bytes,
    new P().proto().op(0x4d, 0xe9, 0x03, 0x2e).bytes,
    new P().proto().op(0x7d).str('little_endian').op(0x88, 0x73, 0x2e).bytes,
    object,
    (() => { const k = new P().proto().op(0x5d).mark(); for (const x of keys) k.str(x); return k.op(0x65, 0x2e).bytes; })(),
  ];
  for (const [count, data] of storages) parts.push(new Uint8Array(new BigUint64Array([BigInt(count)]).buffer), data);
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of parts) { out.set(b, at); at += b.length; }
  return out;
}

test('torch legacy: hand-built files with a storage view, and their errors', () => {
  // ('storage', FloatStorage, 'root', 'cpu', 8, ('v', 2, 4)): a view of elements 2..5 of 'root'.
  const obj = new P().proto().op(0x7d).str('module.w').global('torch._utils', '_rebuild_tensor').mark()
    .mark().str('storage').global('torch', 'FloatStorage').str('root').str('cpu').int(8).mark().str('v').int(2).int(4).tuple().tuple().op(0x51)
    .int(1).ints([2]).ints([2]).tuple().op(0x52, 0x73, 0x2e).bytes;
  const data = f32bytes([0, 1, 2, 3, 4, 5, 6, 7]);
  const sd = loadTorch(legacyFile(obj, ['root'], [[8, data]]), 'l.th');
  assert.equal(sd.tensors.get('w'), { shape: [2], dtype: 'f32', data: Float32Array.from([3, 5]) });
  const L = (...a: Parameters<typeof legacyFile>) => () => loadTorch(legacyFile(...a), 'l.th');
  throwsMsg(L(obj, ['root'], [[8, data]], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), /l\.th: legacy magic number bigint \d+ is not 0x1950a86a20f9469cfc6c/, 'magic');
  throwsMsg(L(obj, ['root'], [[7, data]]), /l\.th: storage 'root' at byte \d+ counts 7 elements but its id says 8/, 'count');
  throwsMsg(L(obj, ['other'], [[8, data]]), /l\.th: storage 'other' in the key list is not used by any tensor/, 'unknown key');
  throwsMsg(L(obj, [], []), /l\.th: tensor 'module\.w': storage 'root' has no data in the file/, 'no data');
  throwsMsg(L(obj, ['root'], [[8, data.subarray(0, 20)]]), /storage 'root' needs 32 bytes at byte \d+ but the file ends 20 bytes later/, 'short data');
});

const RESNETS = [
  {
    file: 'resnet20-12fca82f.th', keys: 97, params: 271098, best: '91.78000183105469', lastConv: 'layer3.2.conv2.weight',
    conv1: [-0.13818146288394928, -0.1624176800251007, 0.8207383155822754, -0.34176430106163025], conv1Sum: 1.3100982000032673,
    linearBias: [0.19355906546115875, -0.3431008756160736, 0.11120541393756866, 0.32253673672676086, 0.14396445453166962, -0.180976003408432, 0.16311383247375488, -0.16210909187793732, 0.02210032008588314, -0.27025941014289856],
    linear963: 0.22667697072029114, linearAbsSum: 278.2912905118428, bn1Var: [2.2049126625061035, 3.6240038871765137, 4.057121276855469],
    lastConvLast: 0.002880609128624201, lastConvSum: 1.509974816668091,
  },
  {
    file: 'resnet56-4bfd9763.th', keys: 277, params: 857082, best: '93.62', lastConv: 'layer3.8.conv2.weight',
    conv1: [-0.21604876220226288, -0.536896288394928, -0.556312084197998, -0.202890083193779], conv1Sum: -2.5577811515686335,
    linearBias: [0.13465537130832672, -0.2430870682001114, 0.10410260409116745, 0.10669970512390137, 0.12867015600204468, 0.05990273505449295, 0.14495617151260376, -0.23406799137592316, 0.06879786401987076, -0.2721118628978729],
    linear963: 0.19989809393882751, linearAbsSum: 224.80305926443543, bn1Var: [1.982783555984497, 3.550461530685425, 0.13077886402606964],
    lastConvLast: -0.04599589481949806, lastConvSum: 12.557833285866934,
  },
];

const haveModels = existsSync(MODELS);
if (!haveModels) console.log(`NOTICE io.test: ${MODELS} is absent: the ResNet checkpoint tests are skipped`);

// The expected numbers were read with PyTorch 1.13's own torch.load, independently of this loader.
for (const r of RESNETS) {
  (haveModels ? test : test.skip)(`torch legacy: ${r.file} loads with its keys, shapes and values`, () => {
    const sd = loadTorch(readFileSync(join(MODELS, r.file)), r.file);
    assert.is(sd.format, 'legacy');
    assert.is(sd.tensors.size, r.keys);
    assert.equal(sd.metadata, { best_prec1: r.best });
    const keys = [...sd.tensors.keys()];
    assert.equal(keys.slice(0, 6), ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'layer1.0.conv1.weight']);
    assert.equal(keys.slice(-2), ['linear.weight', 'linear.bias']);
    assert.ok(keys.every((k) => !k.startsWith('module.')));
    let params = 0;
    for (const t of sd.tensors.values()) { params += t.data.length; assert.is(t.dtype, 'f32'); }
    assert.is(params, r.params);
    const t = (k: string) => sd.tensors.get(k)!;
    const sum = (a: ArrayLike<number>, f = (x: number) => x) => Array.from(a).reduce((s, x) => s + f(x), 0);
    assert.equal(t('conv1.weight').shape, [16, 3, 3, 3]);
    assert.equal(Array.from(t('conv1.weight').data.subarray(0, 4)), r.conv1);
    assert.ok(Math.abs(sum(t('conv1.weight').data) - r.conv1Sum) < 1e-9);
    assert.equal(t('linear.weight').shape, [10, 64]);
    assert.is(t('linear.weight').data[9 * 64 + 63], r.linear963);
    assert.ok(Math.abs(sum(t('linear.weight').data, Math.abs) - r.linearAbsSum) < 1e-9);
    assert.equal(Array.from(t('linear.bias').data), r.linearBias);
    assert.equal(Array.from(t('bn1.running_var').data.subarray(0, 3)), r.bn1Var);
    assert.equal(t(r.lastConv).shape, [64, 64, 3, 3]);
    assert.is(t(r.lastConv).data[64 * 64 * 9 - 1], r.lastConvLast);
    assert.ok(Math.abs(sum(t(r.lastConv).data) - r.lastConvSum) < 1e-9);
  });
}

// ---------- amrm convert ----------

async function amrm(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const log = console.log, error = console.error;
  let out = '', err = '';
  console.log = (...a: unknown[]) => { out += `${a.join(' ')}\n`; };
  console.error = (...a: unknown[]) => { err += `${a.join(' ')}\n`; };
  try {
    return { status: await main(args), out, err };
  } finally {
    console.log = log; console.error = error;
  }
}

test('amrm convert: a checkpoint to safetensors that reloads equal; clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'amrm-io-'));
  try {
    const sources = [join(FIX, 'zip_nested_p4.pt'), ...(haveModels ? [join(MODELS, 'resnet20-12fca82f.th')] : [])];
    for (const src of sources) {
      const out = join(dir, 'out.safetensors');
      const r = await amrm(['convert', src, out]);
      assert.is(r.status, 0, r.err);
      const orig = loadTorch(readFileSync(src), src);
      const back = readSafetensors(readFileSync(out), out);
      assert.match(r.out, new RegExp(`-> ${out}: ${orig.tensors.size} tensors \\(\\d+ f32, \\d+ i32\\), \\d+ bytes of tensor data, ${readFileSync(out).length} bytes written`));
      assert.equal([...back.tensors.keys()], [...orig.tensors.keys()]);
      assert.equal(back.metadata, orig.metadata);
      for (const [k, t] of orig.tensors) assert.equal(back.tensors.get(k), t, k);
      assert.equal(readdirSync(dir), ['out.safetensors'], 'no temporary file left behind');
    }
    if (haveModels) assert.match((await amrm(['convert', join(MODELS, 'resnet20-12fca82f.th'), join(dir, 'r.safetensors')])).out, /97 tensors \(97 f32, 0 i32\), 1084392 bytes of tensor data/);

    const missing = await amrm(['convert', join(dir, 'nope.pth'), join(dir, 'x.safetensors')]);
    assert.is(missing.status, 1);
    assert.match(missing.err, /amrm convert: cannot read .*nope\.pth: no such file/);
    writeFileSync(join(dir, 'bad.pth'), 'definitely not a checkpoint');
    const bad = await amrm(['convert', join(dir, 'bad.pth'), join(dir, 'x.safetensors')]);
    assert.is(bad.status, 1);
    assert.match(bad.err, /amrm convert: bad\.pth: neither a PyTorch checkpoint/);
    assert.ok(!existsSync(join(dir, 'x.safetensors')));
    const same = await amrm(['convert', join(dir, 'bad.pth'), join(dir, '.', 'bad.pth')]);
    assert.is(same.status, 2);
    assert.match(same.err, /amrm convert: OUT is IN/);
    assert.is(readFileSync(join(dir, 'bad.pth'), 'utf8'), 'definitely not a checkpoint');
    const usage = await amrm(['convert', 'only-one']);
    assert.is(usage.status, 2);
    assert.match(usage.err, /usage: amrm convert IN OUT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
