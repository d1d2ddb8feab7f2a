// Files the data tests write themselves: tar archives, fake CIFAR batches, scratch folders.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/engine/random.js';

export interface TarFile { name: string; data?: Uint8Array; type?: string; linkname?: string; }

const put = (h: Uint8Array, at: number, s: string) => { for (let i = 0; i < s.length; i++) h[at + i] = s.charCodeAt(i); };
const octal = (v: number, width: number) => v.toString(8).padStart(width - 1, '0') + '\0';

/** A POSIX ustar header for one member (names up to 100 bytes, or split with the 155-byte prefix). */
export function tarHeader(f: TarFile, size: number): Uint8Array {
  const h = new Uint8Array(512);
  let name = f.name, prefix = '';
  if (name.length > 100) { const cut = name.lastIndexOf('/', 155); prefix = name.slice(0, cut); name = name.slice(cut + 1); }
  put(h, 0, name);
  put(h, 100, octal(0o644, 8)); put(h, 108, octal(0, 8)); put(h, 116, octal(0, 8));
  put(h, 124, octal(size, 12)); put(h, 136, octal(1262304000, 12));
  put(h, 148, '        ');
  put(h, 156, f.type ?? '0');
  if (f.linkname) put(h, 157, f.linkname);
  put(h, 257, 'ustar\u000000');
  put(h, 345, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(h, 148, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** A whole archive: header + data padded to 512-byte blocks per member, then two zero blocks. */
export function tarArchive(files: TarFile[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    const data = f.data ?? new Uint8Array(0);
    parts.push(tarHeader(f, data.length), data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** `n` CIFAR records with seeded pixels: labelBytes label bytes (from `label(i)`) then 3,072 pixels. */
export function cifarRecords(n: number, labelBytes: 1 | 2, label: (i: number) => number[], seed: number): Uint8Array {
  const rng = new Rng(seed);
  const R = labelBytes + 3072;
  const out = new Uint8Array(n * R);
  for (let i = 0; i < n; i++) {
    const l = label(i);
    for (let k = 0; k < labelBytes; k++) out[i * R + k] = l[k];
    for (let j = 0; j < 3072; j++) out[i * R + labelBytes + j] = rng.int(256);
  }
  return out;
}

/** A scratch folder, removed by the returned function. */
export function scratch(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `amrm-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeFiles(dir: string, files: Record<string, Uint8Array | string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
}

/** A seeded corruption of `src`: flipped bits, overwritten or inserted bytes, or a truncation. */
export function mutate(src: Uint8Array, rng: Rng): Uint8Array {
  const kind = rng.int(5);
  if (kind === 0) return src.slice(0, rng.int(src.length)); // truncated
  const b = src.slice();
  const edits = 1 + rng.int(8);
  if (kind === 1) { for (let e = 0; e < edits; e++) b[rng.int(b.length)] ^= 1 << rng.int(8); return b; }
  if (kind === 2) { for (let e = 0; e < edits; e++) b[rng.int(b.length)] = [0, 0xff, 0x7f, 0x80, 0x30, 0x37][rng.int(6)]; return b; }
  if (kind === 3) { // a few bytes inserted or removed in the middle
    const at = rng.int(b.length), len = 1 + rng.int(16);
    if (rng.next() < 0.5) return new Uint8Array([...b.subarray(0, at), ...new Uint8Array(len).map(() => rng.int(256)), ...b.subarray(at)]);
    return new Uint8Array([...b.subarray(0, at), ...b.subarray(at + len)]);
  }
  // a run of random bytes overwritten, then maybe truncated too
  const at = rng.int(b.length), len = 1 + rng.int(64);
  for (let k = at; k < Math.min(b.length, at + len); k++) b[k] = rng.int(256);
  return rng.next() < 0.3 ? b.slice(0, rng.int(b.length)) : b;
}
