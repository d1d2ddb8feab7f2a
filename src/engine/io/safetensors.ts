// safetensors read and write (https://github.com/huggingface/safetensors, "Format"): an 8-byte
// little-endian header length N, N bytes of UTF-8 JSON, then the tensors' bytes. The JSON maps each
// tensor name to {dtype, shape, data_offsets: [begin, end]} (relative to the end of the header) and
// may hold `__metadata__`, a string-to-string map. Reading checks everything the reference
// implementation checks, so a file it rejects is rejected here too, and never allocates more than
// the file holds.
import {
  type HostTensor, type StateDict, numelOf, checkHostTensor, asFormatError, leBytes, plainBytes,
  readF32, readI32, readF16, readBF16, readF64, readI64, readSmallInt,
} from './host-tensor.js';

/** Byte size of each dtype the format names; the ones decoded are listed in `decode` below. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
  U64: 8, U32: 4, U16: 2, F8_E4M3: 1, F8_E5M2: 1, C64: 8,
};

/** The reference implementation's bound on the header (100 MB). */
const MAX_HEADER = 100_000_000;

interface Entry { key: string; dtype: string; shape: number[]; begin: number; end: number; }

/** Parses a safetensors file. Tensors come back in file (offset) order: floats (F32, F16, BF16,
 * F64) as f32; integers (I64, I32, I16, I8, U8, BOOL) as i32, an I64 value outside the int32
 * range being an error. `name` (the file name, say) starts every error message. */
export function readSafetensors(bytes: Uint8Array, name = 'safetensors'): StateDict {
  try {
    return parse(plainBytes(bytes), name);
  } catch (e) {
    throw asFormatError(e, name);
  }
}

function parse(bytes: Uint8Array, name: string): StateDict {
  if (bytes.length < 8) throw new Error(`${name}: the file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (n > MAX_HEADER) throw new Error(`${name}: header length ${n} exceeds the format's limit of ${MAX_HEADER} bytes`);
  if (n > bytes.length - 8) throw new Error(`${name}: header length ${n} is beyond the file size (${bytes.length} bytes)`);
  if (n < 2 || bytes[8] !== 0x7b) throw new Error(`${name}: the header does not start with '{'`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new Error(`${name}: the header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name}: the header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) throw new Error(`${name}: the header is not a JSON object`);

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, info] of Object.entries(header)) {
    if (key === '__metadata__') {
      if (!isObject(info)) throw new Error(`${name}: __metadata__ is not an object of strings`);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw new Error(`${name}: __metadata__.${k} is ${JSON.stringify(v)}, not a string`);
        metadata[k] = v;
      }
      continue;
    }
    entries.push(checkEntry(key, info, name));
  }

  // Tensors must tile the data area exactly: sorted by offset, each starting where the last ended.
  const dataStart = 8 + n, dataLen = bytes.length - dataStart;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0, prev = '';
  for (const e of entries) {
    if (e.begin !== at) {
      throw new Error(`${name}: tensor '${e.key}' starts at byte ${e.begin} of the data but ${prev ? `'${prev}' ends` : 'the data starts'} at ${at} (${e.begin > at ? 'a gap' : 'overlapping'})`);
    }
    if (e.end > dataLen) throw new Error(`${name}: tensor '${e.key}' ends at byte ${e.end}, beyond the ${dataLen} data bytes the file holds`);
    at = e.end; prev = e.key;
  }
  if (at !== dataLen) throw new Error(`${name}: the tensors cover ${at} bytes but the file holds ${dataLen} data bytes after the header`);

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) tensors.set(e.key, decode(bytes, dataStart + e.begin, e, `${name}: tensor '${e.key}'`));
  return { tensors, metadata };
}

function checkEntry(key: string, info: unknown, name: string): Entry {
  const what = `${name}: tensor '${key}'`;
  if (!isObject(info)) throw new Error(`${what}: its header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw new Error(`${what}: dtype ${JSON.stringify(dtype)} is not a safetensors dtype`);
  if (!Array.isArray(shape)) throw new Error(`${what}: shape ${JSON.stringify(shape)} is not a list`);
  const numel = numelOf(shape, what);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw new Error(`${what}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) throw new Error(`${what}: data_offsets [${begin}, ${end}] end before they begin`);
  const want = numel * DTYPE_BYTES[dtype];
  if (end - begin !== want) throw new Error(`${what}: shape [${shape}] of ${dtype} needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  return { key, dtype, shape: shape as number[], begin, end };
}

function decode(bytes: Uint8Array, off: number, e: Entry, what: string): HostTensor {
  const n = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
  const f32 = (data: Float32Array): HostTensor => ({ shape: e.shape, dtype: 'f32', data });
  const i32 = (data: Int32Array): HostTensor => ({ shape: e.shape, dtype: 'i32', data });
  switch (e.dtype) {
    case 'F32': return f32(readF32(bytes, off, n));
    case 'F16': return f32(readF16(bytes, off, n));
    case 'BF16': return f32(readBF16(bytes, off, n));
    case 'F64': return f32(readF64(bytes, off, n));
    case 'I32': return i32(readI32(bytes, off, n));
    case 'I64': return i32(readI64(bytes, off, n, what));
    case 'I16': return i32(readSmallInt(bytes, off, n, 'i16'));
    case 'I8': return i32(readSmallInt(bytes, off, n, 'i8'));
    case 'U8': return i32(readSmallInt(bytes, off, n, 'u8'));
    case 'BOOL': return i32(readSmallInt(bytes, off, n, 'bool'));
    default: throw new Error(`${what}: dtype ${e.dtype} is not supported (only F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)`);
  }
}

/** Serializes tensors (f32 as F32, i32 as I32) in the map's order, with optional string metadata.
 * The header is padded with spaces so that the data starts 8-byte aligned. */
export function writeSafetensors(sd: { tensors: Map<string, HostTensor>; metadata?: Record<string, string> }): Uint8Array {
  // Built by hand rather than from an object so that integer-like names keep their order.
  const parts: string[] = [];
  const meta = Object.entries(sd.metadata ?? {});
  for (const [k, v] of meta) if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata '${k}' is ${typeof v}, not a string`);
  if (meta.length) parts.push(`"__metadata__":${JSON.stringify(Object.fromEntries(meta))}`);
  let at = 0;
  for (const [key, t] of sd.tensors) {
    if (key === '__metadata__') throw new Error(`writeSafetensors: '__metadata__' cannot name a tensor`);
    checkHostTensor(t, `writeSafetensors: tensor '${key}'`);
    const end = at + t.data.byteLength;
    parts.push(`${JSON.stringify(key)}:${JSON.stringify({ dtype: t.dtype === 'f32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [at, end] })}`);
    at = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + at);
  const view = new DataView(out.buffer);
  view.setUint32(0, n % 2 ** 32, true);
  view.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let p = 8 + n;
  for (const t of sd.tensors.values()) { out.set(leBytes(t.data), p); p += t.data.byteLength; }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
