// Tiles a batch of images into one image (for figures): rows of `cols` tiles, separated by padding.
import type { ImageCHW } from './dataset.js';

export interface GridOptions {
  /** Tiles per row (default: ceil(sqrt(n)), so the grid is near square). */
  cols?: number;
  /** Pixels between tiles and around the border (default 2). */
  pad?: number;
  /** Value of the padding pixels, in [0, 1] (default 1, white). */
  padValue?: number;
}

export function tileImages(images: Float32Array, shape: readonly number[], opts: GridOptions = {}): ImageCHW {
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`tileImages: shape must be [n, c, h, w] of positive integers, got [${shape}]`);
  }
  const [n, c, h, w] = shape;
  if (images.length !== n * c * h * w) throw new Error(`tileImages: ${images.length} values do not fill [${shape}]`);
  const cols = opts.cols ?? Math.ceil(Math.sqrt(n));
  const pad = opts.pad ?? 2;
  const padValue = opts.padValue ?? 1;
  if (!Number.isInteger(cols) || cols < 1) throw new Error(`tileImages: cols ${cols} is not a positive integer`);
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`tileImages: pad ${pad} is not a non-negative integer`);
  const rows = Math.ceil(n / cols);
  const H = rows * h + (rows + 1) * pad, W = cols * w + (cols + 1) * pad;
  const out = new Float32Array(c * H * W).fill(padValue);
  for (let i = 0; i < n; i++) {
    const y0 = pad + Math.floor(i / cols) * (h + pad), x0 = pad + (i % cols) * (w + pad);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        const src = ((i * c + ch) * h + y) * w;
        out.set(images.subarray(src, src + w), (ch * H + y0 + y) * W + x0);
      }
    }
  }
  return { data: out, shape: [c, H, W] };
}
