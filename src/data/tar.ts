// A small streaming tar reader (POSIX ustar, GNU and v7 headers), enough to take data sets out of
// their official archives. It keeps only the members a caller asks for, so a 180 MB archive can be
// read while holding one data file, and it never allocates more than the bytes actually present.
import { Gunzip } from 'fflate';

const BLOCK = 512;
/** Pax headers and GNU long names are read whole; larger ones are malformed, not metadata. */
const MAX_META_BYTES = 1 << 20;

export type TarEntryType = 'file' | 'directory' | 'other';

export interface TarEntry {
  /** Path inside the archive, as written there (a pax `path` or GNU long name when present). */
  name: string;
  type: TarEntryType;
  size: number;
  /** The member's bytes: present for the files that were asked for. */
  data?: Uint8Array;
}

export interface TarOptions {
  /** Which file members to keep (default: all). Members not kept are skipped without copying. */
  want?: (name: string, size: number) => boolean;
  /** Called for every member once it is complete (after its data, if kept). */
  onEntry?: (entry: TarEntry) => void;
}

interface Current {
  name: string;
  type: TarEntryType;
  size: number;
  /** 'pax' and 'longname' bodies describe the next member; 'keep' is a wanted file. */
  role: 'keep' | 'skip' | 'pax' | 'longname';
  chunks: Uint8Array[];
  got: number;
  at: number;
}

const ascii = (b: Uint8Array, start: number, len: number): string => {
  let s = '';
  for (let i = start; i < start + len && b[i] !== 0; i++) s += String.fromCharCode(b[i]);
  return s;
};

const utf8 = (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: false }).decode(b);

/** A numeric header field: octal digits (NUL/space padded) or GNU base-256 for large values. */
function numberField(b: Uint8Array, start: number, len: number, what: string, at: number): number {
  if (b[start] & 0x80) {
    if (b[start] !== 0x80) throw new Error(`tar: header at offset ${at}: negative or oversized base-256 ${what}`);
    let v = 0;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + b[i];
    if (!Number.isSafeInteger(v)) throw new Error(`tar: header at offset ${at}: ${what} too large`);
    return v;
  }
  let i = start;
  const end = start + len;
  while (i < end && b[i] === 0x20) i++; // leading spaces
  let v = 0, digits = 0;
  for (; i < end && b[i] >= 0x30 && b[i] <= 0x37; i++, digits++) v = v * 8 + (b[i] - 0x30);
  // After the digits only NUL or space padding may follow.
  for (; i < end; i++) {
    if (b[i] !== 0 && b[i] !== 0x20) {
      throw new Error(`tar: header at offset ${at}: ${what} field is not octal (${JSON.stringify(ascii(b, start, len))})`);
    }
  }
  if (digits === 0 && what === 'size') throw new Error(`tar: header at offset ${at}: empty size field`);
  return v;
}

/** Parses `length key=value\n` pax records, keeping only what the reader uses. */
function parsePax(body: Uint8Array, at: number): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  let i = 0;
  while (i < body.length) {
    let sp = i;
    while (sp < body.length && body[sp] !== 0x20) sp++;
    const len = Number(ascii(body, i, sp - i));
    if (!Number.isInteger(len) || len <= sp - i || i + len > body.length) {
      throw new Error(`tar: malformed pax header record at offset ${at + i}`);
    }
    const rec = utf8(body.subarray(sp + 1, i + len - 1));
    const eq = rec.indexOf('=');
    if (eq > 0) {
      const key = rec.slice(0, eq), value = rec.slice(eq + 1);
      if (key === 'path') out.path = value;
      if (key === 'size') {
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`tar: pax size ${JSON.stringify(value)} at offset ${at + i} is not a size`);
        out.size = n;
      }
    }
    i += len;
  }
  return out;
}

/** Feed archive bytes in pieces with push(), then end(): each member is reported as it completes. */
export class TarReader {
  private readonly header = new Uint8Array(BLOCK);
  private headerFill = 0;
  private cur: Current | null = null;
  /** Bytes of padding left after the current member's data. */
  private pad = 0;
  private offset = 0;
  private ended = false;
  private pax: { path?: string; size?: number } = {};
  private longName: string | undefined;
  readonly entries: TarEntry[] = [];

  constructor(private readonly opts: TarOptions = {}) {}

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.ended) return; // anything after the end-of-archive blocks is padding
      if (this.cur) {
        const take = Math.min(this.cur.size - this.cur.got, chunk.length - i);
        if (this.cur.role !== 'skip') this.cur.chunks.push(chunk.slice(i, i + take));
        this.cur.got += take;
        i += take;
        this.offset += take;
        if (this.cur.got === this.cur.size) this.finishMember();
        continue;
      }
      if (this.pad > 0) {
        const take = Math.min(this.pad, chunk.length - i);
        this.pad -= take; i += take; this.offset += take;
        continue;
      }
      const take = Math.min(BLOCK - this.headerFill, chunk.length - i);
      this.header.set(chunk.subarray(i, i + take), this.headerFill);
      this.headerFill += take; i += take; this.offset += take;
      if (this.headerFill === BLOCK) { this.headerFill = 0; this.startMember(this.offset - BLOCK); }
    }
  }

  /** Declares the input complete; throws if the archive stops inside a header or a member. */
  end(): TarEntry[] {
    if (this.cur) {
      throw new Error(`tar: truncated: member '${this.cur.name}' declares ${this.cur.size} bytes but only ${this.cur.got} follow its header at offset ${this.cur.at}`);
    }
    if (this.headerFill > 0) throw new Error(`tar: truncated: a header at offset ${this.offset - this.headerFill} has only ${this.headerFill} of 512 bytes`);
    if (!this.ended) throw new Error(`tar: truncated: no end-of-archive block after ${this.offset} bytes`);
    return this.entries;
  }

  private startMember(at: number): void {
    const h = this.header;
    if (h.every((x) => x === 0)) { this.ended = true; return; }
    // The checksum counts the header with its own field taken as spaces.
    let sum = 0;
    for (let k = 0; k < BLOCK; k++) sum += k >= 148 && k < 156 ? 0x20 : h[k];
    const stored = numberField(h, 148, 8, 'checksum', at);
    if (stored !== sum) throw new Error(`tar: header at offset ${at} has checksum ${stored}, computed ${sum} (not a tar archive, or corrupted)`);
    const magic = ascii(h, 257, 6);
    if (magic !== 'ustar' && magic !== 'ustar ' && magic !== '') throw new Error(`tar: header at offset ${at} has unknown magic ${JSON.stringify(magic)}`);

    const flag = String.fromCharCode(h[156]);
    let size = numberField(h, 124, 12, 'size', at);
    let name = ascii(h, 0, 100);
    const prefix = magic === 'ustar' ? ascii(h, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;

    let role: Current['role'];
    let type: TarEntryType;
    if (flag === 'x' || flag === 'L') {
      if (size > MAX_META_BYTES) throw new Error(`tar: ${flag === 'x' ? 'pax' : 'long-name'} header at offset ${at} declares ${size} bytes`);
      role = flag === 'x' ? 'pax' : 'longname';
      type = 'other';
    } else {
      if (this.pax.path !== undefined) name = this.pax.path;
      if (this.longName !== undefined) name = this.longName;
      if (this.pax.size !== undefined) size = this.pax.size;
      this.pax = {};
      this.longName = undefined;
      type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : 'other';
      // Links, devices and the like carry no data in the archive even if a size is written.
      if (flag === '1' || flag === '2' || flag === '3' || flag === '4' || flag === '5' || flag === '6') size = 0;
      role = type === 'file' && (this.opts.want?.(name, size) ?? true) ? 'keep' : 'skip';
    }
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.cur = { name, type, size, role, chunks: [], got: 0, at };
    if (size === 0) this.finishMember();
  }

  private finishMember(): void {
    const c = this.cur!;
    this.cur = null;
    const data = c.role === 'skip' ? undefined : concat(c.chunks, c.size);
    if (c.role === 'pax') { this.pax = parsePax(data!, c.at + BLOCK); return; }
    if (c.role === 'longname') { this.longName = ascii(data!, 0, data!.length); return; }
    const entry: TarEntry = { name: c.name, type: c.type, size: c.size, data };
    if (this.opts.onEntry) this.opts.onEntry(entry);
    else this.entries.push(entry);
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

/** All members of an uncompressed tar archive (file data only for the members `want` accepts). */
export function readTar(bytes: Uint8Array, want?: TarOptions['want']): TarEntry[] {
  const r = new TarReader({ want });
  r.push(bytes);
  return r.end();
}

/**
 * Members of a gzip-compressed tar archive. It is inflated in pieces and streamed through the
 * reader, so only the kept members are ever held whole.
 */
export function readTarGz(bytes: Uint8Array, want?: TarOptions['want']): TarEntry[] {
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new Error(`gzip: not gzip data (${bytes.length} bytes, starting ${Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join(' ')})`);
  }
  const tar = new TarReader({ want });
  let failure: unknown;
  const gz = new Gunzip((chunk) => {
    // Errors from the tar reader must not be mistaken for inflate errors: keep the first and stop.
    if (failure === undefined) { try { tar.push(chunk); } catch (e) { failure = e; } }
  });
  const STEP = 1 << 20;
  try {
    for (let o = 0; o < bytes.length && failure === undefined; o += STEP) {
      gz.push(bytes.subarray(o, o + STEP), o + STEP >= bytes.length);
    }
  } catch (e) {
    if (failure === undefined) throw new Error(`gzip: ${(e as Error).message || 'invalid compressed data'}`);
  }
  if (failure !== undefined) throw failure;
  return tar.end();
}
