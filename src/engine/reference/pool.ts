// float64 references of pooling (NCHW, PyTorch's output sizes).
import { type Arr, arr } from './core.js';

const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const outSize = (size: number, k: number, s: number, p: number): number => Math.floor((size + 2 * p - k) / s) + 1;

/** Average pooling with zero padding counted in the divisor (count_include_pad = true). */
export function avgPool2d(x: Arr, kernel: number | [number, number], stride?: number | [number, number], padding: number | [number, number] = 0): Arr {
  const [n, c, h, wd] = x.shape;
  const [kh, kw] = pair(kernel);
  const [sh, sw] = pair(stride ?? kernel);
  const [ph, pw] = pair(padding);
  const ho = outSize(h, kh, sh, ph), wo = outSize(wd, kw, sw, pw);
  const y = arr([n, c, ho, wo]);
  for (let p = 0; p < n * c; p++) for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < wo; ox++) {
    let s = 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
      if (iy >= 0 && iy < h && ix >= 0 && ix < wd) s += x.data[(p * h + iy) * wd + ix];
    }
    y.data[(p * ho + oy) * wo + ox] = s / (kh * kw);
  }
  return y;
}

/** Mean over H and W: [N, C, H, W] -> [N, C]. */
export function globalAvgPool(x: Arr): Arr {
  const [n, c, h, wd] = x.shape;
  const y = arr([n, c]);
  for (let p = 0; p < n * c; p++) {
    let s = 0;
    for (let i = 0; i < h * wd; i++) s += x.data[p * h * wd + i];
    y.data[p] = s / (h * wd);
  }
  return y;
}
