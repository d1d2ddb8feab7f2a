// Images in the lab: the bundled test images (web/lab/images/, PNG files written once by
// scripts/lab-images.mjs, the ones `amrm demo` attacks), a user's picture brought to a data set's
// form, and drawing a [C·H·W] image (C = 1 grey or 3 RGB) into a canvas.
import type { LabDataset } from './models.js';

export type Shape = [number, number, number];

export interface LabImage {
  dataset: LabDataset;
  /** Index in the data set's test split. */
  index: number;
  label: number;
  /** [C·H·W] in [0, 1]. */
  image: Float32Array;
}

export interface BundledSet {
  shape: Shape;
  classes: string[];
  images: LabImage[];
}

interface IndexFile {
  datasets: Record<LabDataset, { shape: Shape; classes: string[]; images: { file: string; index: number; label: number }[] }>;
}

/**
 * The pixels of an image file as RGBA bytes at the given size: decoded without colour-space
 * conversion or premultiplied alpha, so a PNG of the bundled set gives back exactly its bytes.
 */
async function rgbaOf(blob: Blob, H: number, W: number, what: string): Promise<Uint8ClampedArray> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`${what} is not an image this browser can decode (${blob.type || 'unknown type'})`);
  }
  const canvas = document.createElement('canvas');
  canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2D canvas context in this browser');
  // Transparent pixels count as black.
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, W, H);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, W, H);
  bitmap.close();
  return ctx.getImageData(0, 0, W, H).data;
}

/** RGBA bytes as [C·H·W] in [0, 1]; grey (C = 1) is the mean of R, G, B. */
function planes(rgba: Uint8ClampedArray, [C, H, W]: Shape): Float32Array {
  const n = H * W, out = new Float32Array(C * n);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    // A grey pixel is its own value (exactly what a grey PNG stores); a colour one the mean.
    if (C === 1) out[i] = r === g && g === b ? r / 255 : (r + g + b) / (3 * 255);
    else for (let c = 0; c < 3; c++) out[c * n + i] = rgba[4 * i + c] / 255;
  }
  return out;
}

export async function loadBundled(): Promise<Record<LabDataset, BundledSet>> {
  const url = new URL('images/index.json', location.href);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status} (the build copies web/lab/images: node scripts/build.mjs)`);
  const file = (await res.json()) as IndexFile;
  const out = {} as Record<LabDataset, BundledSet>;
  for (const [dataset, d] of Object.entries(file.datasets) as [LabDataset, IndexFile['datasets'][LabDataset]][]) {
    const [, H, W] = d.shape;
    const images = await Promise.all(d.images.map(async (im) => {
      const r = await fetch(new URL(`images/${im.file}`, location.href));
      if (!r.ok) throw new Error(`images/${im.file}: HTTP ${r.status}`);
      return { dataset, index: im.index, label: im.label, image: planes(await rgbaOf(await r.blob(), H, W, im.file), d.shape) };
    }));
    out[dataset] = { shape: d.shape, classes: d.classes, images };
  }
  return out;
}

/**
 * A picture file in a data set's form: scaled to H×W, RGB, or grey (C = 1). MNIST digits are light
 * on dark; a grey picture that is mostly light (a dark digit drawn on white) is inverted so the
 * classifier sees what it was trained on.
 */
export async function imageFromFile(file: Blob, shape: Shape): Promise<{ image: Float32Array; inverted: boolean }> {
  const image = planes(await rgbaOf(file, shape[1], shape[2], 'that file'), shape);
  const mean = image.reduce((a, v) => a + v, 0) / image.length;
  const inverted = shape[0] === 1 && mean > 0.5;
  if (inverted) for (let i = 0; i < image.length; i++) image[i] = 1 - image[i];
  return { image, inverted };
}

/** Draws a [C·H·W] image (C = 1 or 3, values clamped to [0, 1]) into `canvas` at its own size, times `scale` (nearest neighbour). */
export function drawImage(canvas: HTMLCanvasElement, image: Float32Array, [C, H, W]: readonly number[], scale = 1): void {
  canvas.width = W * scale; canvas.height = H * scale;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const data = ctx.createImageData(W * scale, H * scale);
  const n = H * W, byte = (v: number): number => Math.round(Math.min(1, Math.max(0, v)) * 255);
  for (let y = 0; y < H * scale; y++) {
    for (let x = 0; x < W * scale; x++) {
      const i = Math.floor(y / scale) * W + Math.floor(x / scale);
      const rgb = C === 1 ? [image[i], image[i], image[i]] : [image[i], image[n + i], image[2 * n + i]];
      data.data.set([byte(rgb[0]), byte(rgb[1]), byte(rgb[2]), 255], 4 * (y * W * scale + x));
    }
  }
  ctx.putImageData(data, 0, 0);
}

/** Largest |a − b| over the pixels: the l_inf distance. */
export function linf(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** ‖a − b‖₂ over all values of one image. */
export function l2(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}
