// CIFAR-10/100 from a path (Node only): the extracted folder, its parent, or the official .tar.gz.
// From a folder, a list of indices reads just those records, so a 500-image slice is cheap.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from './dataset.js';
import {
  assembleCifar, checkSplit, cifarFromTarGz, cifarLabels, cifarLayout, cifarRecordCount, parseClassNames,
  type CifarBatch, type CifarKind, type CifarLayout, type CifarOptions,
} from './cifar.js';

/** Reads one record run at a time from an open file, with its size checked against the layout. */
function fileBatch(layout: CifarLayout, path: string, fd: number): CifarBatch {
  const records = cifarRecordCount(statSync(path).size, layout, path);
  const R = layout.recordBytes;
  return {
    file: path,
    records,
    read(first, count) {
      const buf = new Uint8Array(count * R);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, first * R + got);
        if (n === 0) throw new Error(`${layout.kind}: ${path} ended early while reading record ${first + Math.floor(got / R)} (file changed while reading?)`);
        got += n;
      }
      return buf;
    },
  };
}

const isGzipFile = (path: string): boolean => {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally { closeSync(fd); }
};

/**
 * Loads a CIFAR split from `path`: the folder with the batch files (cifar-10-batches-bin or
 * cifar-100-binary), a folder containing that folder, or the official .tar.gz.
 */
export function loadCifar(path: string, kind: CifarKind, opts: CifarOptions = {}): ImageSet {
  const layout = cifarLayout(kind);
  const split = checkSplit(opts.split, kind);
  if (!existsSync(path)) throw new Error(`${kind}: ${path} does not exist (expected the ${layout.dir} folder or the official .tar.gz)`);
  if (statSync(path).isFile()) {
    if (!isGzipFile(path)) throw new Error(`${kind}: ${path} is a file but not gzip data (expected the official ${layout.dir} .tar.gz, or its extracted folder)`);
    return cifarFromTarGz(new Uint8Array(readFileSync(path)), kind, { ...opts, split }, path);
  }
  const dir = existsSync(join(path, layout.dir)) ? join(path, layout.dir) : path;
  const files = layout.files[split].map((f) => join(dir, f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`${kind}: missing ${missing.join(', ')} (expected the ${layout.dir} layout)`);

  const lab = cifarLabels(kind, opts.label);
  const metaPath = join(dir, lab.metaFile);
  const classes = existsSync(metaPath) ? parseClassNames(readFileSync(metaPath, 'utf8'), lab.classes.length, metaPath) : undefined;

  const fds: number[] = [];
  try {
    const batches = files.map((f) => { const fd = openSync(f, 'r'); fds.push(fd); return fileBatch(layout, f, fd); });
    return assembleCifar(layout, batches, { ...opts, split }, classes);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

export const loadCifar10 = (path: string, opts: CifarOptions = {}): ImageSet => loadCifar(path, 'cifar10', opts);
export const loadCifar100 = (path: string, opts: CifarOptions = {}): ImageSet => loadCifar(path, 'cifar100', opts);
