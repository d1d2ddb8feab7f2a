// float64 references of patch reconstruction: patchify / unpatchify (MAE's layout, docs/method.md
// section 1) and the masked reconstruction loss (section 2), with its analytic gradients (the tests
// check those against finite differences, then use them where finite differences would be slow).
import { type Arr, arr } from './core.js';

/** Index in the image [B, C, H, W] of value e of patch j of image b (values in (row, col, channel) order). */
function pixelIndex(shape: readonly number[], p: number, b: number, j: number, e: number): number {
  const [, C, H, W] = shape;
  const gw = W / p;
  const py = Math.floor(e / (p * C)), px = Math.floor(e / C) % p, c = e % C;
  const y = Math.floor(j / gw) * p + py, x = (j % gw) * p + px;
  return ((b * C + c) * H + y) * W + x;
}

export function patchify(img: Arr, p: number): Arr {
  const [B, C, H, W] = img.shape;
  const n = (H / p) * (W / p), dim = p * p * C;
  const out = arr([B, n, dim]);
  for (let b = 0; b < B; b++) for (let j = 0; j < n; j++) for (let e = 0; e < dim; e++) {
    out.data[(b * n + j) * dim + e] = img.data[pixelIndex(img.shape, p, b, j, e)];
  }
  return out;
}

export function unpatchify(patches: Arr, p: number, C: number, H: number, W: number): Arr {
  const [B, n, dim] = patches.shape;
  const out = arr([B, C, H, W]);
  for (let b = 0; b < B; b++) for (let j = 0; j < n; j++) for (let e = 0; e < dim; e++) {
    out.data[pixelIndex(out.shape, p, b, j, e)] = patches.data[(b * n + j) * dim + e];
  }
  return out;
}

export interface LossOptions { p: number; normPix?: boolean; }

/** Per patch: the target (standardized with normPix) and the statistics the gradient needs. */
function targets(img: Arr, { p, normPix = false }: LossOptions): { t: Arr; rstd: Float64Array } {
  const t = patchify(img, p);
  const [B, n, dim] = t.shape;
  const rstd = new Float64Array(B * n).fill(1);
  if (normPix) {
    for (let q = 0; q < B * n; q++) {
      const row = t.data.subarray(q * dim, (q + 1) * dim);
      const mu = row.reduce((s, v) => s + v, 0) / dim;
      // Unbiased variance (divide by D − 1), as torch's var() in MAE's forward_loss; eps 1e-6.
      const v = row.reduce((s, x) => s + (x - mu) * (x - mu), 0) / (dim - 1);
      rstd[q] = 1 / Math.sqrt(v + 1e-6);
      for (let e = 0; e < dim; e++) row[e] = (row[e] - mu) * rstd[q];
    }
  }
  return { t, rstd };
}

/** pred · sqrt(var + 1e-6) + mean per patch, the statistics of img's own patches (normPix undone). */
export function destandardizePatches(pred: Arr, img: Arr, p: number): Arr {
  const t = patchify(img, p);
  const [B, n, dim] = t.shape;
  const out = arr(pred.shape);
  for (let q = 0; q < B * n; q++) {
    const row = t.data.subarray(q * dim, (q + 1) * dim);
    const mu = row.reduce((s, v) => s + v, 0) / dim;
    const v = row.reduce((s, x) => s + (x - mu) * (x - mu), 0) / (dim - 1);
    for (let e = 0; e < dim; e++) out.data[q * dim + e] = pred.data[q * dim + e] * Math.sqrt(v + 1e-6) + mu;
  }
  return out;
}

/** Σ mask, clamped below at 1e-30 (a mask hiding nothing gives 0, not 0/0). */
const hiddenCount = (mask: Arr): number => Math.max(mask.data.reduce((s, v) => s + v, 0), 1e-30);

/** Σ_q mask_q · mean_e (pred − target)² / Σ mask, as a scalar (shape []). */
export function reconstructionLoss(pred: Arr, img: Arr, mask: Arr, opts: LossOptions): Arr {
  const { t } = targets(img, opts);
  const [B, n, dim] = t.shape;
  let num = 0;
  for (let q = 0; q < B * n; q++) {
    let sq = 0;
    for (let e = q * dim; e < (q + 1) * dim; e++) sq += (pred.data[e] - t.data[e]) ** 2;
    num += mask.data[q] * sq / dim;
  }
  return arr([], [num / hiddenCount(mask)]);
}

/** Analytic gradients of reconstructionLoss·gy with respect to pred and img. */
export function reconstructionLossGrad(pred: Arr, img: Arr, mask: Arr, opts: LossOptions, gy = 1): { pred: Arr; img: Arr } {
  const { t, rstd } = targets(img, opts);
  const [B, n, dim] = t.shape;
  const s = hiddenCount(mask);
  const gp = arr(pred.shape);
  const gt = arr(t.shape);
  for (let q = 0; q < B * n; q++) {
    const c = (2 * gy * mask.data[q]) / (s * dim);
    for (let e = q * dim; e < (q + 1) * dim; e++) {
      gp.data[e] = c * (pred.data[e] - t.data[e]);
      gt.data[e] = -gp.data[e];
    }
    if (opts.normPix) {
      // Through t = (x − μ)·rstd with the unbiased variance: dx = rstd (g − mean g − t Σ g t / (D − 1)).
      let sg = 0, sgt = 0;
      for (let e = q * dim; e < (q + 1) * dim; e++) { sg += gt.data[e]; sgt += gt.data[e] * t.data[e]; }
      for (let e = q * dim; e < (q + 1) * dim; e++) {
        gt.data[e] = rstd[q] * (gt.data[e] - sg / dim - t.data[e] * sgt / (dim - 1));
      }
    }
  }
  const [, C, H, W] = img.shape;
  return { pred: gp, img: unpatchify(gt, opts.p, C, H, W) };
}
