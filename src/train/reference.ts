// float64 reference of one optimizer step (PyTorch's AdamW and SGD, and clip_grad_norm_), used by the
// tests to check the fused kernels of optim.ts.

export interface RefParam {
  p: Float64Array;
  /** AdamW: m and v; SGD: the momentum buffer in `m`. */
  m: Float64Array;
  v: Float64Array;
  decay: boolean;
}

export interface RefHyper {
  kind: 'adamw' | 'sgd';
  lr: number;
  beta1?: number; beta2?: number; eps?: number;
  momentum?: number; nesterov?: boolean;
  weightDecay: number;
  clipNorm?: number;
}

/** The factor clip_grad_norm_ multiplies every gradient by: min(1, max / (‖g‖ + 1e-6)). */
export function refClipScale(grads: Float64Array[], maxNorm: number | undefined): { scale: number; norm: number } {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  const norm = Math.sqrt(s);
  return { scale: maxNorm === undefined ? 1 : Math.min(1, maxNorm / (norm + 1e-6)), norm };
}

/** Step `t` (1-based) of every parameter in place, with the gradients `grads`. */
export function refStep(params: RefParam[], grads: Float64Array[], t: number, h: RefHyper): void {
  const { scale } = refClipScale(grads, h.clipNorm);
  params.forEach((P, k) => {
    const g = grads[k], wd = P.decay ? h.weightDecay : 0;
    if (h.kind === 'adamw') {
      const b1 = h.beta1 ?? 0.9, b2 = h.beta2 ?? 0.999, eps = h.eps ?? 1e-8;
      const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
      for (let i = 0; i < g.length; i++) {
        const gi = g[i] * scale;
        P.p[i] *= 1 - h.lr * wd;
        P.m[i] = b1 * P.m[i] + (1 - b1) * gi;
        P.v[i] = b2 * P.v[i] + (1 - b2) * gi * gi;
        P.p[i] -= (h.lr / bc1) * P.m[i] / (Math.sqrt(P.v[i]) / Math.sqrt(bc2) + eps);
      }
    } else {
      const mu = h.momentum ?? 0;
      for (let i = 0; i < g.length; i++) {
        const gi = g[i] * scale + wd * P.p[i];
        P.m[i] = mu * P.m[i] + gi;
        const d = h.nesterov ? gi + mu * P.m[i] : P.m[i];
        P.p[i] -= h.lr * d;
      }
    }
  });
}
