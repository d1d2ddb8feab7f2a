// CIFAR-10 and CIFAR-100 in their official "binary version" layouts. This module works on bytes
// (the batch files, or the whole official .tar.gz), so the browser can use it too; reading from a
// path is in cifar-fs.ts.
import { checkIndices, type ImageSet } from './dataset.js';
import { readTarGz } from './tar.js';

export type CifarKind = 'cifar10' | 'cifar100';
export type Split = 'train' | 'test';

export interface CifarOptions {
  split?: Split;
  /** Only these records of the split, in this order (indices into the split's concatenated batches). */
  indices?: ArrayLike<number>;
  /** CIFAR-100 only: the 100 fine labels (default) or the 20 coarse ones. */
  label?: 'fine' | 'coarse';
}

export interface CifarLayout {
  kind: CifarKind;
  /** The folder the official archive extracts to. */
  dir: string;
  /** Label bytes before the 3,072 pixel bytes of each record. */
  labelBytes: number;
  recordBytes: number;
  files: Record<Split, string[]>;
}

const PIXELS = 3 * 32 * 32;

export const CIFAR10_LAYOUT: CifarLayout = {
  kind: 'cifar10', dir: 'cifar-10-batches-bin', labelBytes: 1, recordBytes: 1 + PIXELS,
  files: { train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: ['test_batch.bin'] },
};
export const CIFAR100_LAYOUT: CifarLayout = {
  kind: 'cifar100', dir: 'cifar-100-binary', labelBytes: 2, recordBytes: 2 + PIXELS,
  files: { train: ['train.bin'], test: ['test.bin'] },
};
export const cifarLayout = (kind: CifarKind): CifarLayout => {
  if (kind === 'cifar10') return CIFAR10_LAYOUT;
  if (kind === 'cifar100') return CIFAR100_LAYOUT;
  throw new Error(`cifar: unknown data set ${JSON.stringify(kind)} (cifar10 or cifar100)`);
};

// Used when the meta files are absent; they match the official meta files, in label order.
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const CIFAR100_FINE_CLASSES = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle',
  'bowl', 'boy', 'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle',
  'chair', 'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur',
  'dolphin', 'elephant', 'flatfish', 'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
  'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain',
  'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree',
  'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road', 'rocket',
  'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider',
  'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger', 'tractor',
  'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm',
];
export const CIFAR100_COARSE_CLASSES = [
  'aquatic_mammals', 'fish', 'flowers', 'food_containers', 'fruit_and_vegetables', 'household_electrical_devices',
  'household_furniture', 'insects', 'large_carnivores', 'large_man-made_outdoor_things', 'large_natural_outdoor_scenes',
  'large_omnivores_and_herbivores', 'medium_mammals', 'non-insect_invertebrates', 'people', 'reptiles',
  'small_mammals', 'trees', 'vehicles_1', 'vehicles_2',
];

/** Where the class names live, and which label byte of a record holds the label. */
export function cifarLabels(kind: CifarKind, label: 'fine' | 'coarse' = 'fine'): { metaFile: string; byte: number; classes: string[] } {
  if (kind === 'cifar10') {
    if (label !== 'fine') throw new Error(`cifar10: has one label per image; label '${label}' is for cifar100`);
    return { metaFile: 'batches.meta.txt', byte: 0, classes: CIFAR10_CLASSES };
  }
  if (label === 'coarse') return { metaFile: 'coarse_label_names.txt', byte: 0, classes: CIFAR100_COARSE_CLASSES };
  if (label !== 'fine') throw new Error(`cifar100: label must be 'fine' or 'coarse', not ${JSON.stringify(label)}`);
  return { metaFile: 'fine_label_names.txt', byte: 1, classes: CIFAR100_FINE_CLASSES };
}

/** Class names from a meta file: one per non-empty line, exactly as many as the labels allow. */
export function parseClassNames(text: string, expected: number, file: string): string[] {
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (names.length !== expected) throw new Error(`cifar: ${file} lists ${names.length} class names, expected ${expected}`);
  return names;
}

/** Records in a batch file of this many bytes; throws naming the file when the size is not whole records. */
export function cifarRecordCount(bytes: number, layout: CifarLayout, file: string): number {
  if (bytes === 0 || bytes % layout.recordBytes !== 0) {
    throw new Error(`${layout.kind}: ${file} has ${bytes} bytes, not a positive multiple of the ${layout.recordBytes}-byte record (truncated or not a ${layout.dir} file)`);
  }
  return bytes / layout.recordBytes;
}

/** One batch file as the assembler sees it: its record count and a way to read a run of records. */
export interface CifarBatch {
  file: string;
  records: number;
  read(first: number, count: number): Uint8Array;
}

/**
 * Builds the ImageSet for a split from its batch files, in order: every record, or only `indices`
 * (read one by one, so a small slice of a large split reads little). Labels are checked.
 */
export function assembleCifar(layout: CifarLayout, batches: CifarBatch[], opts: CifarOptions = {}, classes?: string[]): ImageSet {
  const lab = cifarLabels(layout.kind, opts.label);
  const names = classes ?? lab.classes;
  const k = names.length;
  const total = batches.reduce((s, b) => s + b.records, 0);
  const R = layout.recordBytes;
  const put = (images: Float32Array, labels: Int32Array, slot: number, rec: Uint8Array, at: number, b: CifarBatch, r: number) => {
    const label = rec[at + lab.byte];
    if (label >= k) throw new Error(`${layout.kind}: ${b.file} record ${r} has label ${label}, outside 0..${k - 1}`);
    // CIFAR-100 records carry both labels: check the other one too, so a corrupt record is never used.
    if (layout.labelBytes === 2) {
      const coarse = rec[at], fine = rec[at + 1];
      if (coarse >= 20 || fine >= 100) throw new Error(`${layout.kind}: ${b.file} record ${r} has labels (coarse ${coarse}, fine ${fine}), outside 0..19 / 0..99`);
    }
    labels[slot] = label;
    const px = at + layout.labelBytes, o = slot * PIXELS;
    for (let j = 0; j < PIXELS; j++) images[o + j] = rec[px + j] / 255;
  };

  let picks: Int32Array | null = null;
  if (opts.indices !== undefined) picks = checkIndices(opts.indices, total, `${layout.kind} ${opts.split ?? 'train'}`);
  const n = picks ? picks.length : total;
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  if (!picks) {
    let slot = 0;
    for (const b of batches) {
      const bytes = b.read(0, b.records);
      for (let r = 0; r < b.records; r++) put(images, labels, slot++, bytes, r * R, b, r);
    }
  } else {
    const starts: number[] = [];
    let s = 0;
    for (const b of batches) { starts.push(s); s += b.records; }
    for (let slot = 0; slot < n; slot++) {
      const g = picks[slot];
      let bi = batches.length - 1;
      while (starts[bi] > g) bi--;
      const b = batches[bi], r = g - starts[bi];
      put(images, labels, slot, b.read(r, 1), 0, b, r);
    }
  }
  return { images, labels, n, shape: [n, 3, 32, 32], classes: names.slice() };
}

/** A batch held in memory (a file's bytes, or a member of an archive). */
export function memoryBatch(layout: CifarLayout, file: string, bytes: Uint8Array): CifarBatch {
  const records = cifarRecordCount(bytes.length, layout, file);
  const R = layout.recordBytes;
  return { file, records, read: (first, count) => bytes.subarray(first * R, (first + count) * R) };
}

const baseName = (p: string): string => p.replace(/\/+$/, '').split('/').pop() ?? p;

/**
 * A split from the official archive's bytes (cifar-10-binary.tar.gz / cifar-100-binary.tar.gz).
 * Only the split's batch files and the class-name file are kept while inflating.
 */
export function cifarFromTarGz(bytes: Uint8Array, kind: CifarKind, opts: CifarOptions = {}, archiveName = 'archive'): ImageSet {
  const layout = cifarLayout(kind);
  const split = checkSplit(opts.split, kind);
  const lab = cifarLabels(kind, opts.label);
  const wanted = new Set([...layout.files[split], lab.metaFile]);
  const found = new Map<string, Uint8Array>();
  let entries;
  try {
    entries = readTarGz(bytes, (name) => wanted.has(baseName(name)) && !found.has(baseName(name)));
  } catch (e) {
    throw new Error(`${kind}: ${archiveName}: ${(e as Error).message}`);
  }
  for (const e of entries) if (e.data && !found.has(baseName(e.name))) found.set(baseName(e.name), e.data);
  const batches = layout.files[split].map((f) => {
    const data = found.get(f);
    if (!data) throw new Error(`${kind}: ${archiveName} has no ${layout.dir}/${f} (is it the official ${layout.dir} archive?)`);
    return memoryBatch(layout, `${archiveName}:${layout.dir}/${f}`, data);
  });
  const meta = found.get(lab.metaFile);
  const classes = meta ? parseClassNames(new TextDecoder().decode(meta), lab.classes.length, `${archiveName}:${lab.metaFile}`) : undefined;
  return assembleCifar(layout, batches, { ...opts, split }, classes);
}

export function checkSplit(split: Split | undefined, kind: CifarKind): Split {
  const s = split ?? 'train';
  if (s !== 'train' && s !== 'test') throw new Error(`${kind}: split must be 'train' or 'test', not ${JSON.stringify(split)}`);
  return s;
}
