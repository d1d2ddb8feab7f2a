// Pooling over the last two axes of NCHW tensors: average pooling (PyTorch's AvgPool2d with
// count_include_pad = true, ceil_mode = false) and global average pooling to [N, C].
import { engine } from '../engine.js';
import { grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { convOutSize, type Size2 } from './conv.js';
import source from '../../../kernels/pool.wgsl';

function pair(what: string, v: Size2, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`avgPool2d: ${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

function checkNCHW(op: string, x: Tensor): void {
  checkF32(op, x);
  if (x.rank !== 4) throw new Error(`${op}: expected x [N, C, H, W], got ${fmt(x.shape)}`);
}

function launch(entry: string, words: number[], src: Tensor, dst: Tensor): void {
  if (dst.size === 0) return;
  engine().runtime.dispatch({ kernel: 'pool', source, entry, uniforms: words, buffers: [src.buffer, dst.buffer], workgroups: grid1d(dst.size, 64) });
}

/** Average over kh×kw windows (stride defaults to the kernel); padding zeros count in the divisor. */
export function avgPool2d(x: Tensor, kernel: Size2, stride?: Size2, padding: Size2 = 0): Tensor {
  const op = 'avgPool2d';
  checkNCHW(op, x);
  const [kh, kw] = pair('kernel', kernel, 1);
  const [sh, sw] = pair('stride', stride ?? kernel, 1);
  const [ph, pw] = pair('padding', padding, 0);
  if (2 * ph > kh || 2 * pw > kw) throw new Error(`${op}: padding [${ph}, ${pw}] must be at most half the kernel [${kh}, ${kw}]`);
  const [n, c, h, w] = x.shape;
  const ho = convOutSize(h, kh, sh, ph), wo = convOutSize(w, kw, sw, pw);
  if (ho < 1 || wo < 1) throw new Error(`${op}: kernel [${kh}, ${kw}] with padding [${ph}, ${pw}] does not fit input ${fmt(x.shape)}`);
  const words = [n * c, h, w, ho, wo, kh, kw, sh, sw, ph, pw, 0];
  const y = empty([n, c, ho, wo], 'f32', op);
  launch('avg_pool', words, x, y);
  return record(op, y, [x], [], (gy) => {
    const gx = empty(x.shape, 'f32', `${op} backward`);
    launch('avg_pool_grad', words, gy, gx);
    return [gx];
  });
}

/** Mean over H and W: [N, C, H, W] -> [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  const op = 'globalAvgPool';
  checkNCHW(op, x);
  const [n, c, h, w] = x.shape;
  if (h * w === 0) throw new Error(`${op}: cannot average an empty plane ${fmt(x.shape)}`);
  // The kernel reads P.h as the plane length H·W.
  const words = [n * c, h * w, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const y = empty([n, c], 'f32', op);
  launch('global_avg', words, x, y);
  return record(op, y, [x], [], (gy) => {
    const gx = empty(x.shape, 'f32', `${op} backward`);
    launch('global_avg_grad', words, gy, gx);
    return [gx];
  });
}
