// Images in the lab: the bundled test digits (digits.json, written at build time by
// scripts/lab-digits.mjs), a user's PNG brought to MNIST's form, and drawing a [28·28] image.

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;

export interface LabDigit {
  /** Index in the project's MNIST test split (src/data/mnist.ts). */
  index: number;
  label: number;
  /** [784] in [0, 1]. */
  image: Float32Array;
}

interface DigitsFile { digits: { index: number; label: number; pixels: string }[] }

export async function loadDigits(): Promise<LabDigit[]> {
  const res = await fetch(new URL('digits.json', location.href));
  if (!res.ok) throw new Error(`digits.json: HTTP ${res.status} (the build writes it: node scripts/build.mjs)`);
  const file = (await res.json()) as DigitsFile;
  return file.digits.map((d) => {
    const bytes = Uint8Array.from(atob(d.pixels), (c) => c.charCodeAt(0));
    if (bytes.length !== PIXELS) throw new Error(`digits.json: digit ${d.index} has ${bytes.length} pixels, not ${PIXELS}`);
    return { index: d.index, label: d.label, image: Float32Array.from(bytes, (b) => b / 255) };
  });
}

/**
 * A picture file as an MNIST-like digit: scaled to 28×28, grey = mean of R, G, B over a black
 * background (transparent pixels count as black). MNIST digits are light on dark; a picture that is
 * mostly light (a dark digit drawn on white) is inverted so the classifier sees what it was trained on.
 */
export async function imageFromFile(file: Blob): Promise<{ image: Float32Array; inverted: boolean }> {
  let bitmap: ImageBitmap;
  try { bitmap = await createImageBitmap(file); } catch { throw new Error(`that file is not an image this browser can decode (${file.type || 'unknown type'})`); }
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = SIDE;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2D canvas context in this browser');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, SIDE, SIDE);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, SIDE, SIDE);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, SIDE, SIDE).data;
  const image = new Float32Array(PIXELS);
  let mean = 0;
  for (let i = 0; i < PIXELS; i++) {
    image[i] = (rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / (3 * 255);
    mean += image[i] / PIXELS;
  }
  const inverted = mean > 0.5;
  if (inverted) for (let i = 0; i < PIXELS; i++) image[i] = 1 - image[i];
  return { image, inverted };
}

/** Draws a [28·28] grey image into a 28×28 canvas (CSS scales it up without smoothing). */
export function drawImage(canvas: HTMLCanvasElement, image: Float32Array): void {
  canvas.width = canvas.height = SIDE;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const data = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < PIXELS; i++) {
    const v = Math.round(Math.min(1, Math.max(0, image[i])) * 255);
    data.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(data, 0, 0);
}

/** Largest |a − b| over the pixels: the l_inf distance the attack's eps bounds. */
export function linf(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
