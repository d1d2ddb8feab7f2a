// Host-side tensors and state dicts: what checkpoint files are read into before any of it goes to
// the GPU. Plain typed arrays only, so this bundles for Node and the browser alike.

/** A tensor in host memory: contiguous, row-major, little-endian typed array. */
export interface HostTensor {
  shape: number[];
  dtype: 'f32' | 'i32';
  data: Float32Array | Int32Array;
}

/** Named tensors in file order, plus the file's string metadata (safetensors `__metadata__`). */
export interface StateDict {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

/** Element count of a shape, or an error when it is not a list of non-negative safe integers. */
export function numelOf(shape: readonly unknown[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw new Error(`${what}: shape [${shape}] must hold non-negative integers`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new Error(`${what}: shape [${shape}] has more elements than can be addressed`);
  return n;
}

/** Checks that a tensor's data matches its shape and dtype (before writing it anywhere). */
export function checkHostTensor(t: HostTensor, what: string): void {
  if (!Array.isArray(t.shape)) throw new Error(`${what}: shape must be an array`);
  const n = numelOf(t.shape, what);
  const want = t.dtype === 'f32' ? Float32Array : t.dtype === 'i32' ? Int32Array : null;
  if (!want) throw new Error(`${what}: dtype '${t.dtype}' is not f32 or i32`);
  if (!(t.data instanceof want)) throw new Error(`${what}: dtype ${t.dtype} needs a ${want.name}, got ${(t.data as object)?.constructor?.name}`);
  if (t.data.length !== n) throw new Error(`${what}: shape [${t.shape}] holds ${n} elements but the data has ${t.data.length}`);
}

// Every engine this runs on is little-endian in practice; the typed-array fast paths rely on it
// and the DataView paths below keep a big-endian host correct.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A plain Uint8Array view of the same bytes: Node's Buffer overrides `slice` to return a view,
 * which the copying readers below must not get. */
export function plainBytes(b: Uint8Array): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new Error(`expected a Uint8Array of file bytes, got ${(b as object)?.constructor?.name ?? typeof b}`);
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Copies `n` little-endian f32 values starting at byte `off` (any alignment). */
export function readF32(bytes: Uint8Array, off: number, n: number): Float32Array {
  if (LITTLE_ENDIAN) return new Float32Array(bytes.slice(off, off + 4 * n).buffer);
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, 4 * n), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true);
  return out;
}

/** Copies `n` little-endian i32 values starting at byte `off` (any alignment). */
export function readI32(bytes: Uint8Array, off: number, n: number): Int32Array {
  if (LITTLE_ENDIAN) return new Int32Array(bytes.slice(off, off + 4 * n).buffer);
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, 4 * n), out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = v.getInt32(4 * i, true);
  return out;
}

/** The bytes of a typed array in little-endian order (a view when the host already is). */
export function leBytes(data: Float32Array | Int32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength), v = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) v.setFloat32(4 * i, data[i], true); else v.setInt32(4 * i, data[i], true);
  }
  return out;
}

/** IEEE half (binary16) bits to a number: exact, including subnormals, infinities and NaN. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let f16Table: Float32Array | undefined;
/** Decodes `n` little-endian f16 values at byte `off` through a 64K-entry table (built once). */
export function readF16(bytes: Uint8Array, off: number, n: number): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  const out = new Float32Array(n), t = f16Table;
  for (let i = 0, p = off; i < n; i++, p += 2) out[i] = t[bytes[p] | (bytes[p + 1] << 8)];
  return out;
}

/** Decodes `n` little-endian bfloat16 values at byte `off`: each is the top half of an f32's bits
 * (assembled from bytes, so host byte order does not matter). */
export function readBF16(bytes: Uint8Array, off: number, n: number): Float32Array {
  const out = new Float32Array(n), bits = new Uint32Array(out.buffer);
  for (let i = 0, p = off; i < n; i++, p += 2) bits[i] = ((bytes[p] | (bytes[p + 1] << 8)) << 16) >>> 0;
  return out;
}

/** Decodes `n` little-endian f64 values at byte `off`, rounded to f32. */
export function readF64(bytes: Uint8Array, off: number, n: number): Float32Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, 8 * n), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
  return out;
}

/** Decodes `n` little-endian i64 values at byte `off` into i32, refusing values outside its range. */
export function readI64(bytes: Uint8Array, off: number, n: number, what: string): Int32Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, 8 * n), out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = v.getUint32(8 * i, true), hi = v.getInt32(8 * i + 4, true);
    // In range exactly when the high word is the sign extension of the low word.
    if (hi !== (lo >= 0x80000000 ? -1 : 0)) throw new Error(`${what}: int64 element ${i} (${v.getBigInt64(8 * i, true)}) does not fit in int32`);
    out[i] = lo | 0;
  }
  return out;
}

/** Small integer types (i16, i8, u8, bool) widened to i32. */
export function readSmallInt(bytes: Uint8Array, off: number, n: number, kind: 'i16' | 'i8' | 'u8' | 'bool'): Int32Array {
  const out = new Int32Array(n), v = new DataView(bytes.buffer, bytes.byteOffset + off);
  for (let i = 0; i < n; i++) {
    out[i] = kind === 'i16' ? v.getInt16(2 * i, true) : kind === 'i8' ? v.getInt8(i) : kind === 'u8' ? v.getUint8(i) : v.getUint8(i) ? 1 : 0;
  }
  return out;
}

/** Wraps a non-`Error` exception (a RangeError from a corrupt length, say) into a plain Error naming the file. */
export function asFormatError(e: unknown, what: string): Error {
  if (e instanceof Error && e.constructor === Error) return e;
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new Error(`${what}: malformed input (${msg})`, { cause: e });
}

/**
 * Throws naming the file and the first tensor that holds a NaN or an infinity: a model with such
 * weights computes garbage (a classifier scores 0% without a word), so commands that evaluate or
 * purify with a loaded model check first.
 */
export function checkFiniteWeights(sd: StateDict, file: string): void {
  for (const [name, t] of sd.tensors) {
    if (t.dtype !== 'f32') continue;
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) throw new Error(`${file}: tensor '${name}' holds ${d[i]} at index ${i}; the weights are not usable`);
    }
  }
}
