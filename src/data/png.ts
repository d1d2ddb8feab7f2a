// PNG in and out through pngjs (Node only: it uses zlib). Images are [c, h, w] floats in [0, 1]:
// RGB decodes to 3 channels, gray to 1, alpha is dropped; files are written atomically.
import { inflateSync } from 'node:zlib';
import { readBytes, writeAtomic } from '../engine/io/node.js';
import { PNG } from 'pngjs';
import type { ImageCHW } from './dataset.js';
import { tileImages, type GridOptions } from './grid.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Deflate cannot expand data more than about 1032:1, so a header promising more is a lie. */
const MAX_INFLATE_RATIO = 1032;
const BYTES_PER_SAMPLE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export interface PngReadOptions {
  /** Name for error messages (a path). */
  name?: string;
  /** Refuse images with more pixels than this (default 2^26). */
  maxPixels?: number;
}

/**
 * Checks the signature and IHDR before pngjs sees the file: pngjs allocates the whole inflated
 * image from the header's width and height, so a corrupt header could ask for gigabytes.
 */
function checkHeader(b: Uint8Array, name: string, maxPixels: number): void {
  if (b.length < 8 + 25 || SIGNATURE.some((x, i) => b[i] !== x)) throw new Error(`png: ${name} is not a PNG file (bad signature or shorter than a header)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = String.fromCharCode(b[12], b[13], b[14], b[15]);
  if (dv.getUint32(8) !== 13 || type !== 'IHDR') throw new Error(`png: ${name} does not start with a 13-byte IHDR chunk`);
  const width = dv.getUint32(16), height = dv.getUint32(20), depth = b[24], colorType = b[25];
  if (width === 0 || height === 0) throw new Error(`png: ${name} declares an empty image ${width}×${height}`);
  if (width * height > maxPixels) throw new Error(`png: ${name} declares ${width}×${height} pixels, more than the limit ${maxPixels}`);
  const perSample = BYTES_PER_SAMPLE[colorType];
  if (perSample === undefined || ![1, 2, 4, 8, 16].includes(depth)) throw new Error(`png: ${name} has unsupported color type ${colorType} / bit depth ${depth}`);
  const inflated = (Math.ceil((width * perSample * depth) / 8) + 1) * height;
  if (inflated > b.length * MAX_INFLATE_RATIO + 4096) {
    throw new Error(`png: ${name} declares ${width}×${height} pixels (${inflated} bytes inflated), more than its ${b.length} bytes can hold (truncated or corrupt)`);
  }
}

/**
 * Inflates the IDAT stream and checks it holds exactly the rows the header promises: pngjs turns a
 * stream that is not zlib into a black image, and a short one into rows of whatever memory it
 * reused, without an error.
 */
function checkImageData(b: Uint8Array, name: string): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = dv.getUint32(16), height = dv.getUint32(20), depth = b[24], colorType = b[25], interlace = b[28];
  const parts: Uint8Array[] = [];
  for (let o = 8; o + 12 <= b.length;) {
    const len = dv.getUint32(o), type = String.fromCharCode(b[o + 4], b[o + 5], b[o + 6], b[o + 7]);
    if (o + 12 + len > b.length) throw new Error(`png: ${name}: truncated (the ${type} chunk runs past the end of the file)`);
    if (type === 'IDAT') parts.push(b.subarray(o + 8, o + 8 + len));
    if (type === 'IEND') break;
    o += 12 + len;
  }
  if (!parts.length) throw new Error(`png: ${name}: no image data (no IDAT chunk)`);
  let rows: Uint8Array;
  try { rows = inflateSync(Buffer.concat(parts)); } catch (e) { throw new Error(`png: ${name}: its image data is not a valid zlib stream (${(e as Error).message})`); }
  const bitsPerPixel = BYTES_PER_SAMPLE[colorType] * depth;
  const rowBytes = (w: number): number => (w ? Math.ceil((w * bitsPerPixel) / 8) + 1 : 0);
  // Adam7 stores seven sub-images; their rows add up to the expected size.
  const passes = interlace ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
  let expected = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((width - x0) / dx), h = Math.ceil((height - y0) / dy);
    if (w > 0 && h > 0) expected += rowBytes(w) * h;
  }
  if (rows.length !== expected) throw new Error(`png: ${name}: its image data inflates to ${rows.length} bytes, the ${width}×${height} header needs ${expected} (truncated or corrupt)`);
}

/** Decodes PNG bytes to [c, h, w] in [0, 1] at full precision (16-bit samples stay 16-bit). */
export function decodePng(bytes: Uint8Array, opts: PngReadOptions = {}): ImageCHW {
  const name = opts.name ?? 'input';
  checkHeader(bytes, name, opts.maxPixels ?? 1 << 26);
  checkImageData(bytes, name);
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    // skipRescale keeps the samples as stored, so 16-bit and low-bit-depth images scale exactly below.
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true } as Parameters<typeof PNG.sync.read>[1]);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // pngjs reports a file that stops inside a chunk as pending reads (sic: "waitng").
    if (/read requests wait/.test(msg)) throw new Error(`png: ${name}: truncated (the file ends inside a chunk)`);
    throw new Error(`png: ${name}: ${msg || 'could not be decoded'}`);
  }
  const { width: w, height: h, depth } = png;
  const colorType = png.colorType as number;
  const data = png.data as unknown as ArrayLike<number>;
  if (!data || data.length !== w * h * 4) throw new Error(`png: ${name}: decoder returned ${data?.length} samples for ${w}×${h}`);
  // Palettes are expanded to 8-bit RGB; other samples keep the file's bit depth.
  const max = colorType === 3 ? 255 : 2 ** depth - 1;
  const c = colorType === 0 || colorType === 4 ? 1 : 3;
  const out = new Float32Array(c * h * w);
  const plane = h * w;
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < c; ch++) out[ch * plane + p] = data[p * 4 + ch] / max;
  }
  return { data: out, shape: [c, h, w] };
}

export function readPng(path: string, opts: Omit<PngReadOptions, 'name'> = {}): ImageCHW {
  return decodePng(readBytes(path), { ...opts, name: path });
}

function checkImage(img: ImageCHW, who: string): void {
  const s = img.shape;
  if (!Array.isArray(s) || s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`${who}: shape must be [c, h, w] of positive integers, got [${s}]`);
  if (s[0] !== 1 && s[0] !== 3) throw new Error(`${who}: ${s[0]} channels; PNG output takes 1 (gray) or 3 (RGB), shape [${s}]`);
  if (img.data.length !== s[0] * s[1] * s[2]) throw new Error(`${who}: ${img.data.length} values do not fill shape [${s}]`);
}

/** Encodes [c, h, w] (c = 1 or 3) as an 8-bit gray or RGB PNG; values are clamped to [0, 1] and rounded. */
export function encodePng(img: ImageCHW): Uint8Array {
  checkImage(img, 'encodePng');
  const [c, h, w] = img.shape;
  const plane = h * w;
  const px = Buffer.alloc(plane * c);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < c; ch++) {
      const v = img.data[ch * plane + p];
      if (Number.isNaN(v)) throw new Error(`encodePng: NaN at channel ${ch}, pixel ${p} of shape [${img.shape}]`);
      px[p * c + ch] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  const colorType = c === 1 ? 0 : 2;
  const png = new PNG({ width: w, height: h, colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 });
  png.data = px;
  const out = PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export function writePng(path: string, img: ImageCHW): void {
  writeAtomic(path, encodePng(img));
}

/** A batch [n, c, h, w] tiled into one PNG (see tileImages for the layout). */
export function writePngGrid(path: string, images: Float32Array, shape: readonly number[], opts: GridOptions = {}): void {
  writePng(path, tileImages(images, shape, opts));
}
