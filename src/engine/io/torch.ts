// PyTorch checkpoints (`torch.save`) read into a state dict, without Python and without running
// anything from the file. Two container formats:
// - zip (torch >= 1.6): `<any folder>/data.pkl` is the pickled object, whose tensors name storages by
//   persistent id ('storage', StorageType, key, location, numel); storage `key` is the raw entry
//   `<folder>/data/<key>` (written uncompressed; a deflated one is read too);
// - legacy: back-to-back pickles of the magic number, the protocol version (1001), system info,
//   the object (persistent ids ('storage', StorageType, key, location, numel, view)), the list of
//   storage keys, then for each key an 8-byte little-endian element count and the raw data.
// Floating tensors become f32 and integer ones i32 (an int64 value outside the int32 range is an
// error naming the tensor); strided views are copied out contiguously.
import { unzipSync, type UnzipFileInfo } from 'fflate';
import { type HostTensor, type StateDict, numelOf, asFormatError, plainBytes, readF32, readI32, readF16, readBF16, readF64, readI64, readSmallInt } from './host-tensor.js';
import { unpickle, pyGlobal, describe, PyOrderedDict, type PyGlobal } from './pickle.js';

export interface TorchCheckpoint extends StateDict {
  /** Which `torch.save` container the file was. */
  format: 'zip' | 'legacy';
  /** Entries that are neither tensors nor scalars (lists, None, an optimizer state...), not loaded. */
  skipped: string[];
}

type Kind = 'f32' | 'f64' | 'f16' | 'bf16' | 'i64' | 'i32' | 'i16' | 'i8' | 'u8' | 'bool';
const STORAGE_TYPES: Record<string, [Kind, number]> = {
  FloatStorage: ['f32', 4], DoubleStorage: ['f64', 8], HalfStorage: ['f16', 2], BFloat16Storage: ['bf16', 2],
  LongStorage: ['i64', 8], IntStorage: ['i32', 4], ShortStorage: ['i16', 2], CharStorage: ['i8', 1],
  ByteStorage: ['u8', 1], BoolStorage: ['bool', 1],
};

/** The first pickle of a legacy file: PROTO 2, LONG1 of 10 bytes holding 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/**
 * Keys under which training scripts nest the model's state dict, tried in this order. An `ema`
 * entry (the weights' moving average, as EDM-style training checkpoints {model, ema, opt, args}
 * hold it) comes first: it is what their samplers load.
 */
const WRAPPERS = ['ema', 'state_dict', 'model_state_dict', 'model', 'net'];

/** One storage: its element type and count from the persistent id, its bytes once located. */
class StorageRef {
  bytes: Uint8Array | undefined;
  private decoded: Float32Array | Int32Array | undefined;
  constructor(readonly key: string, readonly kind: Kind, readonly elemBytes: number, readonly numel: number,
    readonly root?: StorageRef, readonly offset = 0) {}

  /** The storage's elements as f32 or i32 (decoded once, shared by the tensors that view it). */
  values(what: string): Float32Array | Int32Array {
    if (this.root) return this.root.values(what).subarray(this.offset, this.offset + this.numel);
    if (this.decoded) return this.decoded;
    const b = this.bytes;
    if (!b) throw new Error(`${what}: storage '${this.key}' has no data in the file`);
    const n = this.numel;
    switch (this.kind) {
      case 'f32': return (this.decoded = readF32(b, 0, n));
      case 'f64': return (this.decoded = readF64(b, 0, n));
      case 'f16': return (this.decoded = readF16(b, 0, n));
      case 'bf16': return (this.decoded = readBF16(b, 0, n));
      case 'i64': return (this.decoded = readI64(b, 0, n, `${what} (storage '${this.key}')`));
      case 'i32': return (this.decoded = readI32(b, 0, n));
      default: return (this.decoded = readSmallInt(b, 0, n, this.kind));
    }
  }
}

/** A tensor as the pickle describes it: a strided view of a storage, materialized at the end. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly size: number[], readonly stride: number[]) {}

  materialize(what: string): HostTensor {
    const { storage, offset, size, stride } = this;
    const numel = numelOf(size, what);
    const dtype = storage.kind.startsWith('f') || storage.kind === 'bf16' ? 'f32' : 'i32';
    // Never allocate beyond what the file holds: a view may not have more elements than its storage
    // (expanded, stride-0 tensors are therefore refused), and every element must lie inside it.
    if (numel > storage.numel) throw new Error(`${what}: shape [${size}] has ${numel} elements but its storage only ${storage.numel} (expanded tensors are not supported)`);
    let last = offset;
    for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
    if (numel > 0 && last >= storage.numel) {
      throw new Error(`${what}: offset ${offset}, shape [${size}] and stride [${stride}] reach element ${last} of a storage of ${storage.numel}`);
    }
    const src = storage.values(what);
    const out = dtype === 'f32' ? new Float32Array(numel) : new Int32Array(numel);
    if (numel === 0) return { shape: size, dtype, data: out };
    if (isContiguous(size, stride)) {
      out.set(src.subarray(offset, offset + numel));
      return { shape: size, dtype, data: out };
    }
    // General strided copy: an odometer over the index, the source position kept incrementally.
    const rank = size.length, idx = new Array<number>(rank).fill(0);
    let p = offset;
    for (let i = 0; i < numel; i++) {
      out[i] = src[p];
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) { p += stride[d]; break; }
        p -= (size[d] - 1) * stride[d];
        idx[d] = 0;
      }
    }
    return { shape: size, dtype, data: out };
  }
}

function isContiguous(size: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) return false;
    expect *= size[d];
  }
  return true;
}

const isTuple = (v: unknown): v is readonly unknown[] => Array.isArray(v) && Object.isFrozen(v);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function intTuple(v: unknown, what: string, field: string): number[] {
  if (!isTuple(v) || !v.every(isIndex)) throw new Error(`${what}: ${field} is ${describe(v)}, not a tuple of non-negative integers`);
  return [...v] as number[];
}

/** `_rebuild_tensor(storage, offset, size, stride, ...)`: the part every version shares. */
function rebuildTensor(args: readonly unknown[], what: string, minArgs: number): TensorRef {
  if (args.length < minArgs) throw new Error(`${what}: expects at least ${minArgs} arguments, got ${args.length}`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new Error(`${what}: the first argument is ${describe(storage)}, not a storage`);
  if (!isIndex(offset)) throw new Error(`${what}: storage offset is ${describe(offset)}`);
  const sz = intTuple(size, what, 'size'), st = intTuple(stride, what, 'stride');
  if (sz.length !== st.length) throw new Error(`${what}: size [${sz}] and stride [${st}] differ in length`);
  return new TensorRef(storage, offset, sz, st);
}

/** The globals a state dict needs: storage types, tensor and parameter rebuilders, OrderedDict. */
function torchGlobals(): Record<string, PyGlobal> {
  const g: Record<string, PyGlobal> = {};
  const add = (name: string, call?: PyGlobal['call']): void => { g[name] = pyGlobal(name, call); };
  for (const t of Object.keys(STORAGE_TYPES)) add(`torch.${t}`);
  add('torch.Tensor');
  add('torch.nn.parameter.Parameter');
  add('collections.OrderedDict', (args, what) => {
    if (args.length === 0) return new PyOrderedDict();
    if (args.length === 1 && Array.isArray(args[0]) && args[0].length === 0) return new PyOrderedDict();
    throw new Error(`${what}: only an empty OrderedDict() is expected, got ${args.length} arguments`);
  });
  add('torch._utils._rebuild_tensor', (args, what) => rebuildTensor(args, what, 4));
  add('torch._utils._rebuild_tensor_v2', (args, what) => rebuildTensor(args, what, 4));
  // nn.Parameter(data, requires_grad, hooks[, state]): the data is all a state dict needs.
  const parameter: PyGlobal['call'] = (args, what) => {
    if (!(args[0] instanceof TensorRef)) throw new Error(`${what}: the first argument is ${describe(args[0])}, not a tensor`);
    return args[0];
  };
  add('torch._utils._rebuild_parameter', parameter);
  add('torch._utils._rebuild_parameter_with_state', parameter);
  // Tensor subclasses: _rebuild_from_type_v2(func, type, args, state) for Tensor and Parameter only.
  add('torch._tensor._rebuild_from_type_v2', (args, what) => {
    const [fn, type, inner] = args;
    const fname = (fn as PyGlobal | undefined)?.name, tname = (type as PyGlobal | undefined)?.name;
    if (!fname || g[fname] !== fn || !g[fname].call || !fname.startsWith('torch._utils._rebuild_')) throw new Error(`${what}: ${describe(fn)} is not a tensor rebuild function`);
    if (tname !== 'torch.Tensor' && tname !== 'torch.nn.parameter.Parameter') throw new Error(`${what}: ${describe(type)} is not torch.Tensor or Parameter`);
    if (!isTuple(inner)) throw new Error(`${what}: its arguments are ${describe(inner)}, not a tuple`);
    return g[fname].call!(inner, what);
  });
  return g;
}

function storageType(v: unknown, what: string): [string, Kind, number] {
  const name = (v as PyGlobal | undefined)?.name?.replace(/^torch\./, '');
  if (!name || !Object.hasOwn(STORAGE_TYPES, name)) throw new Error(`${what}: ${describe(v)} is not a torch storage type`);
  return [name, ...STORAGE_TYPES[name]];
}

/** Resolves persistent ids to StorageRefs, one per key (a key seen twice must agree). */
function storageTable(legacy: boolean): { load: (pid: unknown, what: string) => StorageRef; byKey: Map<string, StorageRef> } {
  const byKey = new Map<string, StorageRef>();
  const load = (pid: unknown, what: string): StorageRef => {
    const want = legacy ? 6 : 5;
    if (!isTuple(pid) || pid.length !== want || pid[0] !== 'storage') throw new Error(`${what}: ${describe(pid)} is not a ('storage', type, key, location, numel${legacy ? ', view' : ''}) id`);
    const [, type, key, , numel, view] = pid;
    const [tname, kind, elemBytes] = storageType(type, what);
    if (typeof key !== 'string') throw new Error(`${what}: storage key is ${describe(key)}, not a string`);
    if (!isIndex(numel)) throw new Error(`${what}: storage '${key}' has element count ${describe(numel)}`);
    let root = byKey.get(key);
    if (root && (root.kind !== kind || root.numel !== numel)) throw new Error(`${what}: storage '${key}' is named twice with different types or sizes (${tname} ${numel})`);
    if (!root) byKey.set(key, (root = new StorageRef(key, kind, elemBytes, numel)));
    if (view === null || view === undefined) return root;
    // Legacy storage views (torch < 0.4): (view key, element offset, element count) into the root.
    if (!isTuple(view) || view.length !== 3 || typeof view[0] !== 'string' || !isIndex(view[1]) || !isIndex(view[2]) || view[1] + view[2] > numel) {
      throw new Error(`${what}: storage view ${describe(view)} does not lie within storage '${key}' of ${numel} elements`);
    }
    return new StorageRef(view[0], kind, elemBytes, view[2], root, view[1]);
  };
  return { load, byKey };
}

/** Whether the bytes look like a `torch.save` file (zip or legacy). */
export function isTorchCheckpoint(bytes: Uint8Array): boolean {
  return isZip(bytes) || isLegacy(bytes);
}
const isZip = (b: Uint8Array): boolean => b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6);
const isLegacy = (b: Uint8Array): boolean => b.length >= 4 && b[0] === 0x80 && b[2] === 0x8a && b[3] === 0x0a;

/** Loads a `torch.save` checkpoint (zip or legacy) as a state dict. Nested `ema`, `state_dict`, `model`,
 * `model_state_dict` or `net` entries are unwrapped, a `module.` prefix shared by every key is
 * stripped, and scalar entries (best_prec1, epoch...) become metadata strings. */
export function loadTorch(bytes: Uint8Array, name = 'checkpoint'): TorchCheckpoint {
  try {
    bytes = plainBytes(bytes);
    if (isZip(bytes)) return toStateDict(loadZip(bytes, name), name, 'zip');
    if (isLegacy(bytes)) return toStateDict(loadLegacy(bytes, name), name, 'legacy');
  } catch (e) {
    throw asFormatError(e, name);
  }
  throw new Error(`${name}: not a PyTorch checkpoint (neither a zip archive nor the legacy torch.save format)`);
}

function loadZip(bytes: Uint8Array, name: string): unknown {
  const wanted = /^[^/]+\/(data\.pkl|byteorder|data\/[^/]+)$/;
  // A corrupt (zip64) entry count could make the directory walk run for billions of entries: each
  // central-directory record takes at least 46 bytes, so more than that many is an error.
  const maxEntries = Math.floor(bytes.length / 46);
  let entries = 0;
  const filter = (f: UnzipFileInfo): boolean => {
    if (++entries > maxEntries) throw new Error(`${name}: the zip directory claims more entries than the file can hold`);
    if (!wanted.test(f.name)) return false;
    // Deflate expands at most ~1032×: a larger claim is a corrupt header, refused before allocating it.
    if (f.compression === 0 ? f.originalSize !== f.size : f.originalSize > f.size * 1032 + 1024) {
      throw new Error(`${name}: zip entry '${f.name}' claims ${f.originalSize} bytes from ${f.size} stored`);
    }
    return true;
  };
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter });
  } catch (e) {
    if (!(e instanceof Error) || e.constructor !== Error) throw e; // not fflate's own check: wrapped by loadTorch
    const msg = e.message;
    throw new Error(msg.startsWith(`${name}: `) ? msg : `${name}: the zip archive cannot be read (${msg})`, { cause: e });
  }
  const pkls = Object.keys(files).filter((f) => f.endsWith('/data.pkl'));
  if (pkls.length !== 1) throw new Error(`${name}: the zip archive holds ${pkls.length ? `${pkls.length} data.pkl files` : 'no <folder>/data.pkl'} (not a torch.save file?)`);
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  const order = files[`${prefix}byteorder`];
  if (order && new TextDecoder().decode(order) !== 'little') throw new Error(`${name}: byte order '${new TextDecoder().decode(order).slice(0, 16)}' is not supported (only little-endian)`);

  const table = storageTable(false);
  const { value, end } = unpickle(files[pkls[0]], { globals: torchGlobals(), persistentLoad: table.load, name: `${name}: ${pkls[0]}` });
  if (end !== files[pkls[0]].length) throw new Error(`${name}: ${pkls[0]} has ${files[pkls[0]].length - end} bytes after its STOP opcode`);
  for (const s of table.byKey.values()) {
    const entry = `${prefix}data/${s.key}`, data = files[entry];
    if (!data) throw new Error(`${name}: storage '${s.key}' has no entry ${entry}`);
    if (data.length !== s.numel * s.elemBytes) throw new Error(`${name}: ${entry} holds ${data.length} bytes but ${s.numel} elements of ${s.elemBytes} bytes are expected`);
    s.bytes = data;
  }
  return value;
}

function loadLegacy(bytes: Uint8Array, name: string): unknown {
  let r = unpickle(bytes, { globals: {}, name: `${name}: magic number` });
  if (r.value !== LEGACY_MAGIC) throw new Error(`${name}: legacy magic number ${describe(r.value)} is not 0x1950a86a20f9469cfc6c`);
  r = unpickle(bytes, { globals: {}, name: `${name}: protocol version`, start: r.end });
  if (r.value !== LEGACY_PROTOCOL) throw new Error(`${name}: legacy protocol version ${describe(r.value)} is not ${LEGACY_PROTOCOL}`);
  r = unpickle(bytes, { globals: {}, name: `${name}: system info`, start: r.end });
  if (!(r.value instanceof Map) || r.value.get('little_endian') !== true) throw new Error(`${name}: system info does not say little_endian=True (big-endian files are not supported)`);
  const table = storageTable(true);
  r = unpickle(bytes, { globals: torchGlobals(), persistentLoad: table.load, name: `${name}: object`, start: r.end });
  const value = r.value;
  r = unpickle(bytes, { globals: {}, name: `${name}: storage keys`, start: r.end });
  const keys = r.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new Error(`${name}: the storage key list is ${describe(keys)}, not a list of strings`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = r.end;
  for (const key of keys as string[]) {
    const s = table.byKey.get(key);
    if (!s) throw new Error(`${name}: storage '${key}' in the key list is not used by any tensor`);
    if (s.bytes) throw new Error(`${name}: storage '${key}' is listed twice`);
    if (bytes.length - pos < 8) throw new Error(`${name}: the file ends at byte ${bytes.length} before the element count of storage '${key}' (at ${pos})`);
    const count = view.getUint32(pos + 4, true) * 2 ** 32 + view.getUint32(pos, true);
    pos += 8;
    if (count !== s.numel) throw new Error(`${name}: storage '${key}' at byte ${pos - 8} counts ${count} elements but its id says ${s.numel}`);
    const n = count * s.elemBytes;
    if (n > bytes.length - pos) throw new Error(`${name}: storage '${key}' needs ${n} bytes at byte ${pos} but the file ends ${bytes.length - pos} bytes later`);
    s.bytes = bytes.subarray(pos, pos + n);
    pos += n;
  }
  return value;
}

const MAX_DEPTH = 16;

function toStateDict(root: unknown, name: string, format: 'zip' | 'legacy'): TorchCheckpoint {
  const tensors = new Map<string, HostTensor>(), metadata: Record<string, string> = {}, skipped: string[] = [];
  if (!(root instanceof Map)) throw new Error(`${name}: the checkpoint holds ${root instanceof TensorRef ? 'a single tensor' : describe(root)}, not a dict of tensors`);
  // Unwrap {'state_dict': {...}, 'best_prec1': ...}-style nesting, keeping the scalars on the way.
  let level: Map<unknown, unknown> = root, path = '';
  for (let depth = 0; ; depth++) {
    const inner = depth < MAX_DEPTH ? WRAPPERS.find((k) => level.get(k) instanceof Map) : undefined;
    if (!inner) break;
    for (const [k, v] of level) {
      if (k === inner) continue;
      if (!addScalar(metadata, `${path}${String(k)}`, v)) skipped.push(`${path}${String(k)}`);
    }
    level = level.get(inner) as Map<unknown, unknown>;
    path += `${inner}.`;
  }
  // Flatten what remains: tensors (nested dicts of them with dotted names), scalars as metadata.
  const seen = new Set<unknown>();
  const walk = (m: Map<unknown, unknown>, prefix: string, depth: number): void => {
    if (seen.has(m) || depth > MAX_DEPTH) { skipped.push(prefix.slice(0, -1) || '(root)'); return; }
    seen.add(m);
    for (const [k, v] of m) {
      const key = `${prefix}${String(k)}`;
      if (typeof k !== 'string' && typeof k !== 'number') skipped.push(key);
      else if (v instanceof TensorRef) tensors.set(key, v.materialize(`${name}: tensor '${key}'`));
      else if (v instanceof Map) walk(v, `${key}.`, depth + 1);
      else if (!addScalar(metadata, path + key, v)) skipped.push(path + key);
    }
  };
  walk(level, '', 0);
  const keys = [...tensors.keys()];
  if (keys.length && keys.every((k) => k.startsWith('module.'))) {
    const stripped = new Map<string, HostTensor>();
    for (const [k, v] of tensors) stripped.set(k.slice('module.'.length), v);
    return { tensors: stripped, metadata, skipped, format };
  }
  return { tensors, metadata, skipped, format };
}

/** Python scalars as metadata strings (floats as JS writes them, which matches Python's repr). */
function addScalar(meta: Record<string, string>, key: string, v: unknown): boolean {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string') meta[key] = String(v);
  else if (typeof v === 'boolean') meta[key] = v ? 'True' : 'False';
  else return false;
  return true;
}
