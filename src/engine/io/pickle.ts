// A restricted unpickler: the opcodes of protocols 2-5 that `torch.save` emits for state dicts and
// nothing that could run code. Python objects map to JS values as: None → null, bool → boolean,
// int → number (bigint beyond 2^53), float → number, str → string, bytes → Uint8Array,
// list → array, tuple → frozen array, dict → Map, collections.OrderedDict → PyOrderedDict (a Map).
// A GLOBAL is only resolved from the caller's allow-list, and REDUCE only calls what that list
// provides (a JS function building a plain value); everything else is an error naming the opcode
// and its byte offset.
import { plainBytes } from './host-tensor.js';

/** A `collections.OrderedDict` (BUILD may set its instance attributes, kept in `attrs`). */
export class PyOrderedDict extends Map<unknown, unknown> {
  attrs: unknown = null;
}

/** What an allowed GLOBAL stands for: a value passed around (a storage type) or a callable for REDUCE. */
export interface PyGlobal {
  readonly name: string; // "module.qualname"
  readonly call?: (args: readonly unknown[], where: string) => unknown;
}

export interface UnpickleOptions {
  /** Allowed globals by "module.qualname"; any other GLOBAL is an error. */
  globals: Record<string, PyGlobal>;
  /** Resolves BINPERSID ids (torch's storages); without it a persistent id is an error. */
  persistentLoad?: (pid: unknown, where: string) => unknown;
  /** The file name that starts every error message. */
  name?: string;
  /** Byte offset to start at (a file may hold several pickles back to back). */
  start?: number;
}

const OPNAMES: Record<number, string> = {
  0x80: 'PROTO', 0x95: 'FRAME', 0x2e: 'STOP', 0x4e: 'NONE', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4d: 'BININT2', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x47: 'BINFLOAT',
  0x58: 'BINUNICODE', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8e: 'BINBYTES8', 0x96: 'BYTEARRAY8',
  0x5d: 'EMPTY_LIST', 0x7d: 'EMPTY_DICT', 0x29: 'EMPTY_TUPLE', 0x28: 'MARK', 0x74: 'TUPLE',
  0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x6c: 'LIST', 0x64: 'DICT',
  0x61: 'APPEND', 0x65: 'APPENDS', 0x73: 'SETITEM', 0x75: 'SETITEMS',
  0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP',
  0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x94: 'MEMOIZE', 0x68: 'BINGET', 0x6a: 'LONG_BINGET',
  0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x52: 'REDUCE', 0x62: 'BUILD', 0x51: 'BINPERSID',
  // Known but refused: they create arbitrary objects, or belong to the text protocols torch does not use.
  0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x69: 'INST', 0x6f: 'OBJ', 0x50: 'PERSID', 0x82: 'EXT1', 0x83: 'EXT2',
  0x84: 'EXT4', 0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x70: 'PUT',
  0x67: 'GET', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads one pickle from `bytes` (from `start`), returning its value and the offset after STOP. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): { value: unknown; end: number } {
  bytes = plainBytes(bytes);
  const name = opts.name ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = opts.start ?? 0;
  let op = 0, at = 0;

  const where = (): string => `${OPNAMES[op] ?? `opcode 0x${op.toString(16).padStart(2, '0')}`} at byte ${at}`;
  const fail = (msg: string): never => { throw new Error(`${name}: pickle ${where()}: ${msg}`); };
  const need = (n: number): number => {
    if (n > bytes.length - pos) fail(`needs ${n} bytes but the file ends ${bytes.length - pos} bytes later`);
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = (): number => bytes[need(1)];
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): number => { const p = need(8); return view.getUint32(p + 4, true) * 2 ** 32 + view.getUint32(p, true); };
  const take = (n: number): Uint8Array => { const p = need(n); return bytes.subarray(p, p + n); };
  const text = (n: number): string => {
    const b = take(n);
    try { return utf8.decode(b); } catch { return fail('the string is not valid UTF-8'); }
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('no newline before the end of the file');
    const s = text(nl - pos);
    pos++;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length <= (marks.length ? marks[marks.length - 1] : 0)) fail('the stack is empty');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= (marks.length ? marks[marks.length - 1] : 0)) fail('the stack is empty');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) return fail('no MARK before it');
    return stack.splice(m);
  };
  const list = (v: unknown): unknown[] => {
    if (!Array.isArray(v) || Object.isFrozen(v)) fail(`expected a list, got ${describe(v)}`);
    return v as unknown[];
  };
  const dict = (v: unknown): Map<unknown, unknown> => {
    if (!(v instanceof Map)) fail(`expected a dict, got ${describe(v)}`);
    return v as Map<unknown, unknown>;
  };
  const global = (module: string, qual: string): PyGlobal => {
    const g = Object.hasOwn(opts.globals, `${module}.${qual}`) ? opts.globals[`${module}.${qual}`] : undefined;
    return g ?? fail(`global '${module}.${qual}' is not allowed (this loader only rebuilds tensors, storages and dicts)`);
  };
  const int = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    at = pos;
    if (pos >= bytes.length) { op = -1; throw new Error(`${name}: pickle at byte ${at}: the file ends before STOP`); }
    op = bytes[pos++];
    switch (op) {
      case 0x80: { const p = u8(); if (p < 2 || p > 5) fail(`protocol ${p} is not one of 2-5`); break; }
      case 0x95: { const n = u64(); if (n > bytes.length - pos) fail(`frame of ${n} bytes runs past the end of the file`); break; }
      case 0x2e: { // STOP
        const v = pop();
        return { value: v, end: pos };
      }
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: stack.push(view.getInt32(need(4), true)); break;
      case 0x4b: stack.push(u8()); break;
      case 0x4d: stack.push(u16()); break;
      case 0x8a: stack.push(int(take(u8()))); break;
      case 0x8b: { const n = view.getInt32(need(4), true); if (n < 0) fail(`negative length ${n}`); stack.push(int(take(n))); break; }
      case 0x47: stack.push(view.getFloat64(need(8), false)); break;
      case 0x58: stack.push(text(u32())); break;
      case 0x8c: stack.push(text(u8())); break;
      case 0x8d: stack.push(text(u64())); break;
      case 0x54: { const n = view.getInt32(need(4), true); if (n < 0) fail(`negative length ${n}`); stack.push(text(n)); break; }
      case 0x55: stack.push(text(u8())); break;
      case 0x42: stack.push(take(u32()).slice()); break;
      case 0x43: stack.push(take(u8()).slice()); break;
      case 0x8e: case 0x96: stack.push(take(u64()).slice()); break;
      case 0x5d: stack.push([]); break;
      case 0x7d: stack.push(new Map()); break;
      case 0x29: stack.push(Object.freeze([])); break;
      case 0x28: marks.push(stack.length); break;
      case 0x74: stack.push(Object.freeze(popMark())); break;
      case 0x85: { const a = pop(); stack.push(Object.freeze([a])); break; }
      case 0x86: { const b = pop(), a = pop(); stack.push(Object.freeze([a, b])); break; }
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(Object.freeze([a, b, c])); break; }
      case 0x6c: stack.push(popMark()); break;
      case 0x64: { const items = popMark(); stack.push(setItems(new Map(), items, fail)); break; }
      case 0x61: { const v = pop(); list(top()).push(v); break; }
      case 0x65: { const items = popMark(), l = list(top()); for (const v of items) l.push(v); break; }
      case 0x73: { const v = pop(), k = pop(); dict(top()).set(k, v); break; }
      case 0x75: { const items = popMark(); setItems(dict(top()), items, fail); break; }
      case 0x30: if (stack.length > (marks.length ? marks[marks.length - 1] : 0)) stack.pop(); else popMark(); break;
      case 0x31: popMark(); break;
      case 0x32: stack.push(top()); break;
      case 0x71: memo.set(u8(), top()); break;
      case 0x72: memo.set(u32(), top()); break;
      case 0x94: memo.set(memo.size, top()); break;
      case 0x68: case 0x6a: {
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} was never stored`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: { const module = line(), qual = line(); stack.push(global(module, qual)); break; }
      case 0x93: {
        const qual = pop(), module = pop();
        if (typeof module !== 'string' || typeof qual !== 'string') fail('module and name must be strings');
        stack.push(global(module as string, qual as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!isGlobal(fn) || !fn.call) return fail(`${describe(fn)} is not an allowed callable`);
        if (!Array.isArray(args) || !Object.isFrozen(args)) fail(`the arguments of ${fn.name} are not a tuple`);
        stack.push(fn.call(args as unknown[], `${name}: ${fn.name} (${where()})`));
        break;
      }
      case 0x62: { // BUILD: only an OrderedDict's attributes (torch's state_dict._metadata) are accepted.
        const state = pop(), obj = top();
        if (!(obj instanceof PyOrderedDict)) fail(`setting the state of ${describe(obj)} is not allowed`);
        (obj as PyOrderedDict).attrs = state;
        break;
      }
      case 0x51: {
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent ids are not expected here');
        stack.push(opts.persistentLoad!(pid, `${name}: persistent id (${where()})`));
        break;
      }
      default:
        fail(OPNAMES[op] ? 'this opcode is not supported by the restricted loader' : 'unknown opcode');
    }
  }
}

function setItems(d: Map<unknown, unknown>, items: unknown[], fail: (m: string) => never): Map<unknown, unknown> {
  if (items.length % 2) fail(`${items.length} items after MARK: keys and values must come in pairs`);
  for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  return d;
}

function isGlobal(v: unknown): v is PyGlobal {
  return typeof v === 'object' && v !== null && typeof (v as PyGlobal).name === 'string' && Object.isFrozen(v) && GLOBAL_TAG in v;
}

const GLOBAL_TAG = Symbol('pyGlobal');
/** Declares an allowed global (frozen and tagged, so no unpickled value can pass for one). */
export function pyGlobal(name: string, call?: PyGlobal['call']): PyGlobal {
  return Object.freeze({ name, call, [GLOBAL_TAG]: true });
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return Object.isFrozen(v) ? `a tuple of ${v.length}` : `a list of ${v.length}`;
  if (v instanceof PyOrderedDict) return 'an OrderedDict';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Uint8Array) return `bytes (${v.length})`;
  if (typeof v === 'object' && typeof (v as PyGlobal).name === 'string') return `global ${(v as PyGlobal).name}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'object'}`;
  return `${typeof v} ${String(v)}`;
}
