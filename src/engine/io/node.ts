// Node-only file helpers over the byte-level readers and writers (kept apart so that the rest of
// io/ bundles for the browser).
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { loadStateDict } from './index.js';
import type { StateDict } from './host-tensor.js';

/** Reads a file's bytes, with an error naming the path when it cannot be read. */
export function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message}`);
  }
}

/** Loads a safetensors or `torch.save` file (recognized by content) as a state dict. */
export function loadStateDictFile(path: string): StateDict {
  return loadStateDict(readBytes(path), basename(path));
}

/** Writes to a temporary file beside `path` and renames it over: readers never see half a file. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    let o = 0;
    while (o < bytes.length) o += writeSync(fd, bytes, o, bytes.length - o);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    try { unlinkSync(tmp); } catch { /* never created or already renamed */ }
    throw e;
  }
}
