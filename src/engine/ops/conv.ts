// 2-D convolution (NCHW, groups = 1): direct, with the input and weight gradients as their own
// kernels and the bias gradient as a sum over N, H, W.
import { engine } from '../engine.js';
import { tuning, type ConvVariant } from '../tuning.js';
import { grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { record } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { sum } from './reduce.js';
import { constOf as wgslConst, specialize } from '../wgsl.js';
import source from '../../../kernels/conv2d.wgsl';

// The block sizes are read from the kernel source, so the launch grids always match its constants.
const constOf = (name: string): number => wgslConst(source, name, 'conv2d.wgsl');
const SEG16 = constOf('SEG16'), RMAX16 = 8;
const OB = constOf('OB'), XB = constOf('XB'), CB = constOf('CB'), WOB = constOf('WOB'), WCB = constOf('WCB'), SEG = constOf('SEG'), KMAX = constOf('KMAX');

// The matrix kernels hard-code 8×8 blocks; they share the launch grid of the register kernels.
const MATRICES_FIT = OB === 8 && XB === 8 && CB === 8;

/** The kernels that run (src/engine/tuning.ts, per adapter). */
function variant(): ConvVariant {
  let chosen = tuning().conv;
  // SwiftShader's compiler does not finish the fully unrolled blocked kernels: never hand them to it.
  if (chosen === 'blocked' && engine().gpu.kind === 'swiftshader') chosen = 'matrices';
  return chosen === 'matrices' && !MATRICES_FIT ? 'registers' : chosen;
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

/** Checks the operands' shapes and works out the output's (throws naming `op` before any dispatch). */
function geometry(op: string, xShape: readonly number[], wShape: readonly number[], options: Conv2dOptions): Geometry {
  if (xShape.length !== 4 || wShape.length !== 4 || xShape[1] !== wShape[1]) {
    throw new Error(`${op}: expected x [N, C, H, W] and w [O, C, kh, kw] with the same C, got ${fmt(xShape)} and ${fmt(wShape)}`);
  }
  const [sh, sw] = pair(op, 'stride', options.stride ?? 1, 1);
  const [ph, pw] = pair(op, 'padding', options.padding ?? 0, 0);
  const [n, c, h, wd] = xShape;
  const [o, , kh, kw] = wShape;
  const ho = convOutSize(h, kh, sh, ph), wo = convOutSize(wd, kw, sw, pw);
  if (ho < 1 || wo < 1 || kh < 1 || kw < 1) {
    throw new Error(`${op}: kernel ${kh}×${kw} with padding [${ph}, ${pw}] does not fit input ${fmt(xShape)}`);
  }
  if (kw > KMAX || (XB - 1) * sw + kw > SEG) {
    throw new Error(`${op}: kernel width ${kw} with column stride ${sw} is beyond the direct kernels (kernel width ≤ ${KMAX}, (${XB} − 1)·stride + width ≤ ${SEG})`);
  }
  return { n, c, h, w: wd, o, kh, kw, sh, sw, ph, pw, ho, wo };
}

/**
 * conv2d(x [N, C, H, W], w [O, C, kh, kw], bias? [O], {stride, padding}) -> [N, O, Hout, Wout],
 * Hout = floor((H + 2·ph − kh) / sh) + 1 (PyTorch's Conv2d with zero padding).
 */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  checkF32(op, x, w, ...(bias ? [bias] : []));
  const g = geometry(op, x.shape, w.shape, options);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== w.shape[0])) {
    throw new Error(`${op}: bias must be [${w.shape[0]}] for w ${fmt(w.shape)}, got ${fmt(bias.shape)}`);
  }
  const y = empty([g.n, g.o, g.ho, g.wo], 'f32', op);
  if (y.size) convForward(g, x, w, bias, y);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(op, y, inputs, [x, w], (gy, [xs, ws]) => [
    x.requiresGrad ? convGradX(g, gy, ws) : undefined,
    w.requiresGrad ? convGradW(g, xs, gy) : undefined,
    ...(bias ? [bias.requiresGrad ? sum(gy, [0, 2, 3]) : undefined] : []),
  ]);
}

/**
 * The input gradient of conv2d on its own (no autograd): gy [N, O, Hout, Wout] and w to
 * dx [N, C, H, W] for an input of shape `xShape`.
 */
export function conv2dGradInput(gy: Tensor, w: Tensor, xShape: readonly number[], options: Conv2dOptions = {}): Tensor {
  const op = 'conv2dGradInput';
  checkF32(op, gy, w);
  const g = geometry(op, xShape, w.shape, options);
  if (gy.rank !== 4 || gy.shape[0] !== g.n || gy.shape[1] !== g.o || gy.shape[2] !== g.ho || gy.shape[3] !== g.wo) {
    throw new Error(`${op}: gy must be ${fmt([g.n, g.o, g.ho, g.wo])} for x ${fmt(xShape)} and w ${fmt(w.shape)}, got ${fmt(gy.shape)}`);
  }
  return convGradX(g, gy, w);
}

/**
 * The weight gradient of conv2d on its own (no autograd): x and gy [N, O, Hout, Wout] to
 * dw [O, C, kh, kw] for a weight of shape `wShape`.
 */
export function conv2dGradWeight(x: Tensor, gy: Tensor, wShape: readonly number[], options: Conv2dOptions = {}): Tensor {
  const op = 'conv2dGradWeight';
  checkF32(op, x, gy);
  const g = geometry(op, x.shape, wShape, options);
  if (gy.rank !== 4 || gy.shape[0] !== g.n || gy.shape[1] !== g.o || gy.shape[2] !== g.ho || gy.shape[3] !== g.wo) {
    throw new Error(`${op}: gy must be ${fmt([g.n, g.o, g.ho, g.wo])} for x ${fmt(x.shape)} and w ${fmt(wShape)}, got ${fmt(gy.shape)}`);
  }
  return convGradW(g, x, gy);
}

function convForward(g: Geometry, x: Tensor, w: Tensor, bias: Tensor | undefined, y: Tensor): void {
  if (variant() === 'blocked' && blockedFits(g)) {
    const wt = arrangeWeights(g, w, 0);
    dispatchBlocked(g, x, wt, bias, y);
    wt.dispose();
    return;
  }
  // Lanes over (n, oy, column block); workgroup z picks the block of output channels.
  const [gx, gy] = grid1d(g.n * g.ho * cdiv(g.wo, XB), 64);
  engine().runtime.dispatch({
    kernel: 'conv2d', source, entry: variant() === 'matrices' ? 'forward_mat' : 'forward', constants: { HAS_BIAS: bias ? 1 : 0, KW: g.kw, SW: g.sw },
    uniforms: words(g), buffers: [x.buffer, w.buffer, (bias ?? w).buffer, y.buffer], workgroups: [gx, gy, cdiv(g.o, OB)],
  });
}

/** The blocked kernel's pixel block (XB16 columns × YB16 rows, 256 outputs with 16 channels) for a geometry, or undefined. */
function pixelBlock(g: Geometry): [number, number] | undefined {
  let best: [number, number] | undefined;
  let bestWaste = Infinity;
  for (const xb of [16, 8, 4]) {
    const yb = 16 / xb;
    if ((xb - 1) * g.sw + g.kw > SEG16 || (yb - 1) * g.sh + g.kh > RMAX16) continue;
    // Outputs computed and thrown away at the right and bottom edges, relative to the kept ones.
    const waste = (cdiv(g.wo, xb) * xb * cdiv(g.ho, yb) * yb) / (g.wo * g.ho);
    if (waste < bestWaste - 1e-9) { best = [xb, yb]; bestWaste = waste; }
  }
  return best;
}
function blockedFits(g: Geometry): boolean { return pixelBlock(g) !== undefined; }

/** The weight laid out for the blocked kernel (see arrange_weights in the kernel): mode 0 forward, 1 input gradient. */
function arrangeWeights(g: Geometry, w: Tensor, mode: 0 | 1): Tensor {
  const kk = g.kh * g.kw;
  const [rows, cols] = mode === 0 ? [g.c, g.o] : [g.o, g.c];
  const total = rows * kk * cdiv(cols, 16) * 16;
  const wt = empty([total], 'f32', 'conv2d (weight layout)');
  engine().runtime.dispatch({
    kernel: 'conv2d', source, entry: 'arrange_weights', constants: { MODE: mode },
    uniforms: [g.o, g.c, kk, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], buffers: [w.buffer, wt.buffer], workgroups: [...grid1d(total, 64), 1],
  });
  return wt;
}

const blockedSources = new Map<string, string>();

/** The source of one blocked entry point with its marked loops unrolled for the given constants. */
const unrollEntry = (entry: string, bounds: Record<string, number>): string =>
  specialize(source, { file: 'conv2d.wgsl', entry, unroll: { bounds } });

function dispatchBlocked(g: Geometry, x: Tensor, wt: Tensor, bias: Tensor | undefined, y: Tensor): void {
  const [xb, yb] = pixelBlock(g)!;
  const shape = { KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw, XB16: xb, YB16: yb, ROWS16: (yb - 1) * g.sh + g.kh, SEGLEN16: (xb - 1) * g.sw + g.kw };
  const kernel = `conv2d_blocked_${Object.values(shape).join('_')}`;
  let src = blockedSources.get(kernel);
  if (!src) { src = unrollEntry('forward_blocked', shape); blockedSources.set(kernel, src); }
  const [gx, gy] = grid1d(g.n * cdiv(g.ho, yb) * cdiv(g.wo, xb), 64);
  engine().runtime.dispatch({
    kernel, family: 'conv2d', source: src, entry: 'forward_blocked', constants: { HAS_BIAS: bias ? 1 : 0, ...shape },
    uniforms: words(g), buffers: [x.buffer, wt.buffer, (bias ?? wt).buffer, y.buffer], workgroups: [gx, gy, cdiv(g.o, 16)],
  });
}

function convGradX(g: Geometry, gy: Tensor, w: Tensor): Tensor {
  const gx = empty([g.n, g.c, g.h, g.w], 'f32', 'conv2d backward (input)');
  if (!gx.size) return gx;
  // With stride 1 the input gradient is a convolution of gy with the kernel turned by 180° and its
  // channel axes swapped, padded by k − 1 − p: the blocked forward kernel computes it.
  const t: Geometry = { n: g.n, c: g.o, h: g.ho, w: g.wo, o: g.c, kh: g.kh, kw: g.kw, sh: 1, sw: 1, ph: g.kh - 1 - g.ph, pw: g.kw - 1 - g.pw, ho: g.h, wo: g.w };
  if (variant() === 'blocked' && g.sh === 1 && g.sw === 1 && t.ph >= 0 && t.pw >= 0 && blockedFits(t)) {
    const wt = arrangeWeights(g, w, 1);
    dispatchBlocked(t, gy, wt, undefined, gx);
    wt.dispose();
    return gx;
  }
  // With a stride, the same after inserting stride − 1 zeros between gy's values: gx is the
  // stride-1 input gradient of that, asked for at the input's size (rows and columns past the last
  // window read zeros). Three quarters of the multiply-adds hit zeros at stride 2, and still: at
  // ResNet-20's 16 → 32 channel stride-2 layer (batch 100, llvmpipe, timed interleaved with the
  // direct kernel on a shared machine) 157 ms against 259.
  const hd = (g.ho - 1) * g.sh + 1, wd = (g.wo - 1) * g.sw + 1;
  const td: Geometry = { ...t, h: hd, w: wd, ho: g.h, wo: g.w };
  if (variant() === 'blocked' && (g.sh > 1 || g.sw > 1) && td.ph >= 0 && td.pw >= 0 && blockedFits(td)) {
    const d = empty([g.n, g.o, hd, wd], 'f32', 'conv2d backward (gy with zeros inserted)');
    engine().runtime.dispatch({
      kernel: 'conv2d', source, entry: 'dilate', uniforms: words({ ...g, n: g.n * g.o }),
      buffers: [gy.buffer, d.buffer], workgroups: [...grid1d(d.size, 64), 1],
    });
    const wt = arrangeWeights(g, w, 1);
    dispatchBlocked(td, d, wt, undefined, gx);
    wt.dispose();
    d.dispose();
    return gx;
  }
  // Lanes over (n, iy, column block); workgroup z picks the block of input channels.
  const [gx0, gy0] = grid1d(g.n * g.h * cdiv(g.w, XB), 64);
  engine().runtime.dispatch({
    kernel: 'conv2d', source, entry: variant() === 'matrices' ? 'grad_x_mat' : 'grad_x', constants: { KW: g.kw, SW: g.sw }, uniforms: words(g),
    buffers: [gy.buffer, w.buffer, gx.buffer], workgroups: [gx0, gy0, cdiv(g.c, CB)],
  });
  return gx;
}

function convGradW(g: Geometry, x: Tensor, gy: Tensor): Tensor {
  const shape = [g.o, g.c, g.kh, g.kw];
  if (variant() === 'blocked' && g.kh * g.kw <= 9 && 3 * g.sw + g.kw <= SEG16) return convGradWBlocked(g, x, gy);
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
  return sumSlabs(partial, used);
}

/** Invocations the blocked weight gradient aims for (its runs of output rows fill the cores' lanes). */
const GRAD_W_BLOCKED_TARGET = 1024;

function convGradWBlocked(g: Geometry, x: Tensor, gy: Tensor): Tensor {
  const blocks = cdiv(g.o, 16) * cdiv(g.c, 2);
  const rows = g.n * g.ho;
  const chunk = cdiv(rows, Math.max(1, Math.min(rows, cdiv(GRAD_W_BLOCKED_TARGET, blocks))));
  const used = cdiv(rows, chunk);
  const shape = [g.o, g.c, g.kh, g.kw];
  const partial = empty(used === 1 ? shape : [used, ...shape], 'f32', 'conv2d backward (weight)');
  const consts = { KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw, SEGLEN16: 3 * g.sw + g.kw, KK9: g.kh * g.kw };
  const kernel = `conv2d_gw_${Object.values(consts).join('_')}`;
  let src = blockedSources.get(kernel);
  if (!src) { src = unrollEntry('grad_w_blocked', consts); blockedSources.set(kernel, src); }
  engine().runtime.dispatch({
    kernel, family: 'conv2d', source: src, entry: 'grad_w_blocked', constants: { ...consts, VEC_GY: g.wo % 4 === 0 ? 1 : 0 }, uniforms: words(g, chunk, used),
    buffers: [x.buffer, gy.buffer, partial.buffer], workgroups: [...grid1d(blocks * used, 64), 1],
  });
  return sumSlabs(partial, used);
}

/** Sums the per-run slabs of a weight gradient (the first axis), freeing them. */
function sumSlabs(partial: Tensor, used: number): Tensor {
  if (used === 1) return partial;
  const gw = sum(partial, 0);
  partial.dispose();
  return gw;
}
