// Patch reconstruction (docs/method.md sections 1-2): patchify / unpatchify, each the other's backward,
// and the MAE masked reconstruction loss with its gradients to the prediction AND to the image
// (during purification the target is the image itself, so d loss / d img flows through the target).
//
// The loss has two implementations, selectable per call or by a module-level default:
//  - 'fused': one kernel computes every patch's masked term and statistics reading pred and img
//    directly, one small pass sums them; the backward is one elementwise kernel per gradient;
//  - 'composed': the same math from primitive ops (patchify, sub, mul, mean, rsqrt ...), whose
//    gradients come from autograd. It is the reference path the fused one is checked against.
import { engine } from '../engine.js';
import { grid1d } from '../runtime.js';
import { empty, scope, Tensor } from '../tensor.js';
import { isHigherOrder, record } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { add, addScalar, div, maximum, mul, mulScalar, rsqrt, sqrt, sub } from './elementwise.js';
import { mean, sum } from './reduce.js';
import { fill } from './creation.js';
import source from '../../../kernels/patch_recon.wgsl';

/** How an image [B, C, H, W] is cut into p×p patches. */
interface Geometry { B: number; C: number; H: number; W: number; p: number; n: number; dim: number; gw: number; }

function geometry(op: string, shape: readonly number[], p: number): Geometry {
  const [B, C, H, W] = shape;
  if (!Number.isInteger(p) || p < 1) throw new Error(`${op}: patch size ${p} must be a positive integer (image ${fmt(shape)})`);
  if (H % p !== 0 || W % p !== 0) throw new Error(`${op}: image ${fmt(shape)} has H ${H} or W ${W} not divisible by patch size ${p}`);
  return { B, C, H, W, p, n: (H / p) * (W / p), dim: p * p * C, gw: W / p };
}

function checkImage(op: string, img: Tensor, p: number): Geometry {
  checkF32(op, img);
  if (img.rank !== 4) throw new Error(`${op}: image must be [B, C, H, W], got ${fmt(img.shape)}`);
  return geometry(op, img.shape, p);
}

function checkPatches(op: string, patches: Tensor, g: Geometry, what: string): void {
  checkF32(op, patches);
  const want = [g.B, g.n, g.dim];
  if (patches.rank !== 3 || patches.shape.some((d, i) => d !== want[i])) {
    throw new Error(`${op}: ${what} ${fmt(patches.shape)} must be [B, n, p·p·C] = ${fmt(want)} for image ` +
      `${fmt([g.B, g.C, g.H, g.W])} and patch size ${g.p}`);
  }
}

// Every entry point runs one invocation per patch (kernels/patch_recon.wgsl says why), except
// loss_finish, a single workgroup.
function launch(entry: string, g: Geometry, buffers: GPUBuffer[], normPix?: boolean): void {
  const patches = g.B * g.n;
  engine().runtime.dispatch({
    kernel: 'patch_recon', source, entry, buffers,
    uniforms: [g.B, g.C, g.H, g.W, g.p, g.n, g.dim, g.gw, patches, 0, 0, 0],
    workgroups: entry === 'loss_finish' ? [1, 1] : grid1d(patches, 64),
    // Only the entry points that read NORM_PIX get the constant.
    constants: normPix === undefined ? undefined : { NORM_PIX: normPix ? 1 : 0 },
  });
}

// ---------------------------------------------------------------- patchify / unpatchify
/**
 * [B, C, H, W] -> [B, n, p·p·C]: patch index row-major over the (H/p)×(W/p) grid, values inside a
 * patch in (row, col, channel) order (MAE's reshape(N, C, h, p, w, p) and einsum nchpwq->nhwpqc).
 */
export function patchify(img: Tensor, p: number): Tensor {
  const g = checkImage('patchify', img, p);
  const out = empty([g.B, g.n, g.dim], 'f32', 'patchify');
  launch('patchify', g, [img.buffer, out.buffer]);
  return record('patchify', out, [img], [], (gy) => [unpatchify(gy, p, g.C, g.H, g.W)], 'same');
}

/** [B, n, p·p·C] -> [B, C, H, W], the inverse of patchify. */
export function unpatchify(patches: Tensor, p: number, C: number, H: number, W: number): Tensor {
  if (patches.rank !== 3) throw new Error(`unpatchify: patches must be [B, n, p·p·C], got ${fmt(patches.shape)}`);
  for (const [name, v] of [['C', C], ['H', H], ['W', W]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`unpatchify: ${name} ${v} must be a positive integer (patches ${fmt(patches.shape)})`);
  }
  const g = geometry('unpatchify', [patches.shape[0], C, H, W], p);
  checkPatches('unpatchify', patches, g, 'patches');
  const out = empty([g.B, C, H, W], 'f32', 'unpatchify');
  launch('unpatchify', g, [patches.buffer, out.buffer]);
  return record('unpatchify', out, [patches], [], (gy) => [patchify(gy, p)], 'same');
}

// ---------------------------------------------------------------- reconstruction loss
export type PatchLossImpl = 'fused' | 'composed';
let defaultImpl: PatchLossImpl = 'fused';

/** Chooses the implementation reconstructionLoss uses when a call does not name one. */
export function setPatchLossImpl(impl: PatchLossImpl): void {
  if (impl !== 'fused' && impl !== 'composed') throw new Error(`setPatchLossImpl: unknown implementation '${impl}' (fused or composed)`);
  defaultImpl = impl;
}
export const getPatchLossImpl = (): PatchLossImpl => defaultImpl;

export interface ReconstructionLossOptions {
  /** Patch size. */
  p: number;
  /** Standardize each target patch by its own mean and unbiased variance (MAE's norm_pix_loss). */
  normPix?: boolean;
  impl?: PatchLossImpl;
}

// MAE: var + 1e-6 under the square root.
const NORM_EPS = 1e-6;
// Σ mask is clamped below at this value: a mask hiding nothing gives loss 0 with zero gradients
// (project choice; MAE's reference would return 0/0 = NaN).
const MIN_HIDDEN = 1e-30;

/**
 * MAE's masked reconstruction loss (paper Eq. 4), a scalar:
 *   Σ_patches mask · mean_over_values (pred − target)²  /  Σ mask,
 * target = patchify(img), or with normPix each target patch standardized as (t − mean) / sqrt(var + 1e-6)
 * where var is the UNBIASED variance over the patch's p·p·C values (torch's default `var()`, which MAE uses).
 * mask [B, n] f32: 1 = hidden (counts), 0 = visible. Gradients flow to pred and to img (through the
 * target, including the normalization statistics); the mask gets none.
 */
export function reconstructionLoss(pred: Tensor, img: Tensor, mask: Tensor, options: ReconstructionLossOptions): Tensor {
  const op = 'reconstructionLoss';
  const { p, normPix = false } = options;
  const impl = options.impl ?? defaultImpl;
  if (impl !== 'fused' && impl !== 'composed') throw new Error(`${op}: unknown implementation '${impl}' (fused or composed)`);
  const g = checkImage(op, img, p);
  checkPatches(op, pred, g, 'prediction');
  checkF32(op, mask);
  if (mask.rank !== 2 || mask.shape[0] !== g.B || mask.shape[1] !== g.n) {
    throw new Error(`${op}: mask ${fmt(mask.shape)} must be [B, n] = ${fmt([g.B, g.n])} for image ${fmt(img.shape)} and patch size ${p}`);
  }
  if (normPix && g.dim < 2) throw new Error(`${op}: normPix needs at least 2 values per patch for the unbiased variance (image ${fmt(img.shape)}, patch size ${p})`);
  // Inside differentiableTwice the composed form runs: the fused kernels' backward is not itself differentiable.
  return impl === 'fused' && !isHigherOrder() ? fusedLoss(pred, img, mask, g, normPix) : composedLoss(pred, img, mask, g, normPix);
}

function fusedLoss(pred: Tensor, img: Tensor, mask: Tensor, g: Geometry, normPix: boolean): Tensor {
  const patches = g.B * g.n;
  // Per-patch records and a header; layout in kernels/patch_recon.wgsl.
  const rec = empty([1 + 2 * patches, 4], 'f32', 'reconstructionLoss records');
  const loss = empty([], 'f32', 'reconstructionLoss');
  launch('loss_patch', g, [pred.buffer, img.buffer, mask.buffer, rec.buffer], normPix);
  launch('loss_finish', g, [rec.buffer, loss.buffer]);
  const out = record('reconstructionLoss', loss, [pred, img, mask], [pred, img, rec], (gy, [ps, xs, rs]) => {
    // The upstream gradient goes into the header slot (s, gy, loss, 0): a copy on the GPU, no readback,
    // and the gradient kernels stay within four storage buffers.
    engine().runtime.copy(gy.buffer, rs.buffer, 4, 0, 4);
    let gp: Tensor | undefined, gx: Tensor | undefined;
    if (pred.requiresGrad) {
      gp = empty(pred.shape, 'f32', 'reconstructionLoss backward (pred)');
      launch('loss_grad_pred', g, [ps.buffer, xs.buffer, rs.buffer, gp.buffer]);
    }
    if (img.requiresGrad) {
      gx = empty(img.shape, 'f32', 'reconstructionLoss backward (img)');
      launch('loss_grad_img', g, [ps.buffer, xs.buffer, rs.buffer, gx.buffer], normPix);
    }
    return [gp, gx, undefined];
  });
  rec.dispose(); // the saved view keeps the records alive for the backward
  return out;
}

/** Each patch's mean and unbiased variance (torch's var(), as MAE's norm_pix_loss uses), [B, n, 1] each. */
function patchStats(patches: Tensor): { mu: Tensor; variance: Tensor } {
  const mu = mean(patches, -1, true);
  const dev = sub(patches, mu);
  return { mu, variance: mulScalar(sum(mul(dev, dev), -1, true), 1 / (patches.shape[2] - 1)) };
}

/**
 * The inverse of normPix's standardization: patches predicted in the per-patch standardized units
 * [B, n, p·p·C] mapped back to pixel units with the statistics of img's own patches,
 * pred · sqrt(var + 1e-6) + mean. This is how a model trained on a normPix target (MaskDiT's hidden
 * patches) is shown as an image.
 */
export function destandardizePatches(pred: Tensor, img: Tensor, p: number): Tensor {
  const g = checkImage('destandardizePatches', img, p);
  checkPatches('destandardizePatches', pred, g, 'prediction');
  if (g.dim < 2) throw new Error(`destandardizePatches: needs at least 2 values per patch (image ${fmt(img.shape)}, patch size ${p})`);
  return scope(() => {
    const { mu, variance } = patchStats(patchify(img, p));
    return add(mul(pred, sqrt(addScalar(variance, NORM_EPS))), mu);
  });
}

/** The same loss from primitive ops; autograd gives its gradients. */
function composedLoss(pred: Tensor, img: Tensor, mask: Tensor, g: Geometry, normPix: boolean): Tensor {
  return scope(() => {
    let target = patchify(img, g.p);
    if (normPix) {
      const { mu, variance } = patchStats(target);
      target = mul(sub(target, mu), rsqrt(addScalar(variance, NORM_EPS)));
    }
    const r = sub(pred, target);
    const perPatch = mean(mul(r, r), -1);
    const m = mask.detach(); // the mask gets no gradient, as in the fused path
    const hidden = maximum(sum(m), fill([], MIN_HIDDEN));
    return div(sum(mul(perPatch, m)), hidden);
  });
}
