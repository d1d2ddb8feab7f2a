import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { Rng } from '../../src/engine/random.js';
import { decodePng, encodePng, readPng, writePng, writePngGrid, tileImages, type ImageCHW } from '../../src/data/node.js';
import { scratch } from './fixtures.js';

const test = suite('data: png');
const throwsLike = (f: () => unknown, re: RegExp) => {
  try { f(); } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error matching ${re}`);
};

/** An image whose values are exactly k/255, so an 8-bit round trip must be exact. */
function eightBit(rng: Rng, c: number, h: number, w: number): ImageCHW {
  return { data: Float32Array.from({ length: c * h * w }, () => rng.int(256) / 255), shape: [c, h, w] };
}

test('round trip is exact at 8 bits: RGB and gray, odd sizes, through bytes and files', () => {
  const rng = new Rng(5);
  const s = scratch('png');
  try {
    for (const [c, h, w] of [[3, 32, 32], [1, 28, 28], [3, 1, 1], [1, 7, 13], [3, 5, 129]]) {
      const img = eightBit(rng, c, h, w);
      const back = decodePng(encodePng(img));
      assert.equal(back.shape, [c, h, w]);
      assert.ok(back.data.every((v, i) => v === img.data[i]), `exact [${c},${h},${w}]`);
      const path = join(s.dir, `img-${c}-${h}-${w}.png`);
      writePng(path, img);
      assert.ok(readPng(path).data.every((v, i) => v === img.data[i]));
    }
    assert.equal(readdirSync(s.dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left behind');
    // Out-of-range values are clamped, others rounded to the nearest 1/255.
    const odd = decodePng(encodePng({ data: Float32Array.from([-0.5, 1.5, 0.5, 0.1]), shape: [1, 2, 2] }));
    assert.equal(Array.from(odd.data), [0, 1, 128 / 255, 26 / 255].map(Math.fround));
  } finally { s.cleanup(); }
});

test('files written by pngjs itself: RGBA drops alpha, gray+alpha is 1 channel, 16-bit keeps precision', () => {
  const w = 3, h = 2;
  const rgba = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h * 4; i++) rgba.data[i] = (i * 37) % 256;
  const a = decodePng(new Uint8Array(PNG.sync.write(rgba)));
  assert.equal(a.shape, [3, h, w]);
  for (let p = 0; p < w * h; p++) for (let ch = 0; ch < 3; ch++) assert.is(a.data[ch * w * h + p], Math.fround(rgba.data[p * 4 + ch] / 255));
  const ga = PNG.sync.write(rgba, { colorType: 4 });
  const g = decodePng(new Uint8Array(ga));
  assert.equal(g.shape, [1, h, w]);
  // 16-bit gray: written by hand through pngjs's 16-bit input path.
  const g16 = new PNG({ width: 2, height: 1, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const samples = [1, 65534];
  const buf = Buffer.alloc(4);
  buf.writeUInt16BE(samples[0], 0); buf.writeUInt16BE(samples[1], 2);
  (g16 as unknown as { data: Uint16Array }).data = Uint16Array.from(samples);
  const bytes = PNG.sync.write(g16, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const d16 = decodePng(new Uint8Array(bytes));
  assert.equal(d16.shape, [1, 1, 2]);
  assert.equal(Array.from(d16.data), samples.map((v) => Math.fround(v / 65535)));
});

test('image grid: tiles, padding, shape; written as one PNG', () => {
  const rng = new Rng(8);
  const n = 5, c = 3, hh = 4, ww = 3;
  const batch = Float32Array.from({ length: n * c * hh * ww }, () => rng.int(256) / 255);
  const grid = tileImages(batch, [n, c, hh, ww], { cols: 3, pad: 1, padValue: 0.5 });
  const H = 2 * hh + 3, W = 3 * ww + 4;
  assert.equal(grid.shape, [c, H, W]);
  const at = (ch: number, y: number, x: number) => grid.data[(ch * H + y) * W + x];
  assert.is(at(0, 0, 0), 0.5);
  // Image 4 sits at row 1, column 1: top-left pixel at (1 + 4 + 1, 1 + 3 + 1).
  for (let ch = 0; ch < c; ch++) assert.is(at(ch, 6, 5), batch[((4 * c + ch) * hh) * ww]);
  assert.is(at(1, H - 2, W - 2), 0.5, 'the empty sixth tile is padding');
  const s = scratch('grid');
  try {
    const path = join(s.dir, 'grid.png');
    writePngGrid(path, batch, [n, c, hh, ww], { cols: 3, pad: 1, padValue: 0.5 });
    const back = readPng(path);
    assert.equal(back.shape, [c, H, W]);
    assert.ok(back.data.every((v, i) => Math.abs(v - grid.data[i]) <= 0.5 / 255 + 1e-7));
  } finally { s.cleanup(); }
  throwsLike(() => tileImages(batch, [n, c, hh]), /shape must be \[n, c, h, w\]/);
  throwsLike(() => tileImages(batch, [n, c, hh, ww + 1]), /values do not fill/);
});

/** The PNG with its image data replaced by `payload` (one IDAT chunk, correct CRC). */
function withIdat(png: Uint8Array, payload: Uint8Array): Uint8Array {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Uint8Array[] = [png.subarray(0, 8)];
  let done = false;
  for (let o = 8; o < png.length;) {
    const len = dv.getUint32(o), type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    if (type !== 'IDAT') chunks.push(png.subarray(o, o + 12 + len));
    else if (!done) {
      const c = new Uint8Array(12 + payload.length);
      const cv = new DataView(c.buffer);
      cv.setUint32(0, payload.length);
      c.set(png.subarray(o + 4, o + 8), 4);
      c.set(payload, 8);
      cv.setUint32(8 + payload.length, crc32(c.subarray(4, 8 + payload.length)));
      chunks.push(c);
      done = true;
    }
    o += 12 + len;
  }
  return Uint8Array.from(Buffer.concat(chunks));
}

test('image data that is not zlib, or inflates short, is an error; zeros of the right size are a black image', () => {
  const good = encodePng(eightBit(new Rng(5), 3, 8, 8));
  throwsLike(() => decodePng(withIdat(good, Uint8Array.from({ length: 40 }, (_, i) => (i * 37) & 255))), /image data is not a valid zlib stream/);
  throwsLike(() => decodePng(withIdat(good, deflateSync(new Uint8Array(100)))), /inflates to 100 bytes, the 8×8 header needs 200 \(truncated or corrupt\)/);
  const black = decodePng(withIdat(good, deflateSync(new Uint8Array(8 * (8 * 3 + 1)))));
  assert.ok(black.data.every((v) => v === 0));
});

test('bad files and bad images give clear errors', () => {
  const s = scratch('pngbad');
  try {
    const p = join(s.dir, 'text.png');
    writeFileSync(p, 'not a png at all, just text that is long enough');
    throwsLike(() => readPng(p), /text\.png is not a PNG file/);
    const good = encodePng(eightBit(new Rng(1), 3, 8, 8));
    throwsLike(() => decodePng(good.subarray(0, good.length - 20)), /^png: input: /);
    const crc = good.slice(); crc[40] ^= 0xff;
    throwsLike(() => decodePng(crc), /^png: input: /);
    throwsLike(() => decodePng(good, { maxPixels: 10 }), /declares 8×8 pixels, more than the limit 10/);
    throwsLike(() => encodePng({ data: new Float32Array(8), shape: [2, 2, 2] }), /2 channels; PNG output takes 1 \(gray\) or 3 \(RGB\)/);
    throwsLike(() => encodePng({ data: new Float32Array(3), shape: [1, 2, 2] }), /3 values do not fill shape \[1,2,2\]/);
    throwsLike(() => encodePng({ data: Float32Array.from([0, NaN, 0, 0]), shape: [1, 2, 2] }), /NaN at channel 0, pixel 1/);
    throwsLike(() => writePng(join(s.dir, 'no', 'such', 'dir.png'), eightBit(new Rng(2), 1, 2, 2)), /ENOENT/);
    assert.equal(readdirSync(s.dir), ['text.png'], 'a failed write leaves nothing behind');
  } finally { s.cleanup(); }
});

test.run();
