// 2-D convolution (NCHW, groups = 1): direct, with the input and weight gradients as their own
// kernels and the bias gradient as a sum over N, H, W.
import { engine } from '../engine.js';
import { grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { sum } from './reduce.js';
import source from '../../../kernels/conv2d.wgsl';

// The block sizes are read from the kernel source, so the launch grids always match its constants.
function constOf(name: string): number {
  const m = new RegExp(`const ${name} = (\\d+)u;`).exec(source);
  if (!m) throw new Error(`conv2d: kernels/conv2d.wgsl has no constant ${name}`);
  return Number(m[1]);
}
const OB = constOf('OB'), XB = constOf('XB'), CB = constOf('CB'), WOB = constOf('WOB'), WCB = constOf('WCB'), SEG = constOf('SEG'), KMAX = constOf('KMAX');
/**
 * Which forward and input-gradient kernels run. 'registers': loops over small arrays, fast where the
 * shader compiler unrolls them (llvmpipe, GPU drivers). 'matrices': the same 8×8 blocks held in
 * mat4x4f accumulators, for SwiftShader, which keeps such arrays in memory (5× slower there).
 * 'auto' picks by adapter; tests set the others to cover both kernels on every adapter.
 */
export const conv2dSettings: { variant: 'auto' | 'registers' | 'matrices' } = { variant: 'auto' };

// The matrix kernels hard-code 8×8 blocks; they share the launch grid of the register kernels.
const MATRICES_FIT = OB === 8 && XB === 8 && CB === 8;

function useMatrices(): boolean {
  if (!MATRICES_FIT) return false;
  const v = conv2dSettings.variant;
  return v === 'auto' ? engine().runtime.gpu.kind === 'swiftshader' : v === 'matrices';
}

/** Enough invocations for the weight gradient to keep every core's SIMD lanes busy. */
const GRAD_W_TARGET = 4096;

export type Size2 = number | readonly [number, number];

export interface Conv2dOptions { stride?: Size2; padding?: Size2; }

function pair(op: string, what: string, v: Size2, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${op}: ${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Output extent of a window sweep: floor((in + 2·pad − k) / stride) + 1. */
export function convOutSize(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

interface Geometry { n: number; c: number; h: number; w: number; o: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; ho: number; wo: number; }

function words(g: Geometry, chunk = 0, chunks = 0): number[] {
  return [g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo, chunk, chunks, 0];
}

const cdiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * conv2d(x [N, C, H, W], w [O, C, kh, kw], bias? [O], {stride, padding}) -> [N, O, Hout, Wout],
 * Hout = floor((H + 2·ph − kh) / sh) + 1 (PyTorch's Conv2d with zero padding).
 */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  checkF32(op, x, w, ...(bias ? [bias] : []));
  if (x.rank !== 4 || w.rank !== 4 || x.shape[1] !== w.shape[1]) {
    throw new Error(`${op}: expected x [N, C, H, W] and w [O, C, kh, kw] with the same C, got ${fmt(x.shape)} and ${fmt(w.shape)}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== w.shape[0])) {
    throw new Error(`${op}: bias must be [${w.shape[0]}] for w ${fmt(w.shape)}, got ${fmt(bias.shape)}`);
  }
  const [sh, sw] = pair(op, 'stride', options.stride ?? 1, 1);
  const [ph, pw] = pair(op, 'padding', options.padding ?? 0, 0);
  const [n, c, h, wd] = x.shape;
  const [o, , kh, kw] = w.shape;
  const ho = convOutSize(h, kh, sh, ph), wo = convOutSize(wd, kw, sw, pw);
  if (ho < 1 || wo < 1 || kh < 1 || kw < 1) {
    throw new Error(`${op}: kernel ${kh}×${kw} with padding [${ph}, ${pw}] does not fit input ${fmt(x.shape)}`);
  }
  const g: Geometry = { n, c, h, w: wd, o, kh, kw, sh, sw, ph, pw, ho, wo };
  const y = empty([n, o, ho, wo], 'f32', op);
  if (kw > KMAX || (XB - 1) * sw + kw > SEG) {
    throw new Error(`${op}: kernel width ${kw} with column stride ${sw} is beyond the direct kernels (kernel width ≤ ${KMAX}, (${XB} − 1)·stride + width ≤ ${SEG})`);
  }
  if (y.size) {
    // Lanes over (n, oy, column block); workgroup z picks the block of output channels.
    const [gx, gy] = grid1d(n * ho * cdiv(wo, XB), 64);
    engine().runtime.dispatch({
      kernel: 'conv2d', source, entry: useMatrices() ? 'forward_mat' : 'forward', constants: { HAS_BIAS: bias ? 1 : 0, KW: kw, SW: sw },
      uniforms: words(g), buffers: [x.buffer, w.buffer, (bias ?? w).buffer, y.buffer], workgroups: [gx, gy, cdiv(o, OB)],
    });
  }
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(op, y, inputs, [x, w], (gy, [xs, ws]) => [
    x.requiresGrad ? convGradX(g, gy, ws) : undefined,
    w.requiresGrad ? convGradW(g, xs, gy) : undefined,
    ...(bias ? [bias.requiresGrad ? sum(gy, [0, 2, 3]) : undefined] : []),
  ]);
}

function convGradX(g: Geometry, gy: Tensor, w: Tensor): Tensor {
  const gx = empty([g.n, g.c, g.h, g.w], 'f32', 'conv2d backward (input)');
  if (gx.size) {
    // Lanes over (n, iy, column block); workgroup z picks the block of input channels.
    const [gx0, gy0] = grid1d(g.n * g.h * cdiv(g.w, XB), 64);
    engine().runtime.dispatch({
      kernel: 'conv2d', source, entry: useMatrices() ? 'grad_x_mat' : 'grad_x', constants: { KW: g.kw, SW: g.sw }, uniforms: words(g),
      buffers: [gy.buffer, w.buffer, gx.buffer], workgroups: [gx0, gy0, cdiv(g.c, CB)],
    });
  }
  return gx;
}

function convGradW(g: Geometry, x: Tensor, gy: Tensor): Tensor {
  const shape = [g.o, g.c, g.kh, g.kw];
  const blocks = cdiv(g.o, WOB) * cdiv(g.c, WCB) * g.kh;
  // Split the batch when the weight alone gives too few invocations; the slabs are summed after.
  const chunks = Math.max(1, Math.min(g.n, cdiv(GRAD_W_TARGET, blocks)));
  const chunk = Math.max(1, cdiv(g.n, chunks));
  const used = Math.max(1, cdiv(g.n, chunk));
  const partial = empty(used === 1 ? shape : [used, ...shape], 'f32', 'conv2d backward (weight)');
  engine().runtime.dispatch({
    kernel: 'conv2d', source, entry: 'grad_w', constants: { KW: g.kw, SW: g.sw }, uniforms: words(g, chunk, used),
    buffers: [x.buffer, gy.buffer, partial.buffer], workgroups: [...grid1d(blocks, 64), used],
  });
  if (used === 1) return partial;
  const gw = sum(partial, 0);
  partial.dispose();
  return gw;
}
