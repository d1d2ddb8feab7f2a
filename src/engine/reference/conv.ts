// float64 reference of 2-D convolution (NCHW, zero padding, PyTorch's output sizes).
import { type Arr, arr } from './core.js';

const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
const outSize = (size: number, k: number, s: number, p: number): number => Math.floor((size + 2 * p - k) / s) + 1;

export interface ConvOptions { stride?: number | [number, number]; padding?: number | [number, number]; }

/** y[n, o, oy, ox] = b[o] + Σ_{c, ky, kx} x[n, c, oy·sh − ph + ky, ox·sw − pw + kx] · w[o, c, ky, kx]. */
export function conv2d(x: Arr, w: Arr, bias?: Arr, options: ConvOptions = {}): Arr {
  const [n, c, h, wd] = x.shape;
  const [o, , kh, kw] = w.shape;
  const [sh, sw] = pair(options.stride ?? 1);
  const [ph, pw] = pair(options.padding ?? 0);
  const ho = outSize(h, kh, sh, ph), wo = outSize(wd, kw, sw, pw);
  const y = arr([n, o, ho, wo]);
  for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < wo; ox++) {
    let s = bias ? bias.data[oc] : 0;
    for (let ic = 0; ic < c; ic++) for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - ph + ky;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * sw - pw + kx;
        if (ix < 0 || ix >= wd) continue;
        s += x.data[((b * c + ic) * h + iy) * wd + ix] * w.data[((oc * c + ic) * kh + ky) * kw + kx];
      }
    }
    y.data[((b * o + oc) * ho + oy) * wo + ox] = s;
  }
  return y;
}
