// What the attention analyses read out of a masked reconstruction model (an MAE, or MaskDiT at σ_pur
// with its fixed noise: models/reconstructor.ts): one forward under a given mask, with the forward
// probe keeping every layer's normalized input, Q, K and attention probabilities, and the
// reconstruction loss of each image; and the measures built on two such captures of the same images
// (clean and shifted) under the same mask: the attention variation (AMV) per layer and head, and the
// exact first-order attention shift from the shift of the layer input (docs/method.md section 7).
import { Tensor, asyncScope, keep } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { sub } from '../engine/ops/elementwise.js';
import { matmul } from '../engine/ops/matmul.js';
import { permute, reshape } from '../engine/ops/layout.js';
import { attentionShift } from '../engine/ops/softmax_jacobian.js';
import { noGrad } from '../engine/autograd.js';
import type { MaskPlan } from '../models/masking.js';
import type { MaskedReconstructor } from '../models/reconstructor.js';
import type { AttentionRecord } from '../models/vit.js';

/** One attention layer of a captured forward, on the host. */
export interface CapturedLayer {
  stack: string;
  layer: number;
  batch: number;
  heads: number;
  headDim: number;
  /** Tokens N (the encoder sees the prefix tokens, MAE's cls, and the visible patches; the decoder the prefix and every patch). */
  tokens: number;
  /** Model width D. */
  dim: number;
  /** The score scale d_h^(-1/2). */
  scale: number;
  /** The normalized attention input [B, N, D]. */
  normed: Float32Array;
  /** Q, K per head before the scale, [B, H, N, d_h]. */
  q: Float32Array;
  k: Float32Array;
  /** Attention probabilities [B, H, N, N]. */
  probs: Float32Array;
}

export interface Capture {
  plan: MaskPlan;
  /** Encoder layers, then decoder layers. */
  layers: CapturedLayer[];
  /** Per image: the model's reconstruction loss (docs/method.md sections 2 and 3). */
  loss: Float64Array;
}

/**
 * Runs the model on n images [n, C, H, W] under `mask` ([n, L], 1 = hidden) without gradients and
 * reads back every attention layer and each image's reconstruction loss.
 */
export async function captureForward(model: MaskedReconstructor, images: Float32Array, n: number, mask: Float32Array): Promise<Capture> {
  const shape = [n, ...model.inputShape];
  return asyncScope(async () => {
    const records: { r: AttentionRecord; normed: Tensor; q: Tensor; k: Tensor; probs: Tensor }[] = [];
    const img = tensor(images, shape);
    const out = noGrad(() => model.forward(img, {
      mask, probeProbs: true, perImage: true,
      probe: (r) => { records.push({ r, ...keep({ normed: r.normed, q: r.q, k: r.k, probs: r.probs! }) }); },
    }));
    const loss = new Float64Array(n);
    for (let b = 0; b < n; b++) loss[b] = (await out.perImage![b].data())[0];
    const layers: CapturedLayer[] = [];
    for (const { r, normed, q, k, probs } of records) {
      const [B, H, N, hd] = q.shape;
      layers.push({
        stack: r.stack, layer: r.layer, batch: B, heads: H, headDim: hd, tokens: N, dim: normed.shape[2], scale: r.scale,
        normed: await normed.data(), q: await q.data(), k: await k.data(), probs: await probs.data(),
      });
      for (const t of [normed, q, k, probs]) t.dispose();
    }
    return { plan: out.plan, layers, loss };
  });
}

/** Per image and head [B·H]: ‖A_b − A_a‖²_F of two captures of one layer. */
export function amvSquared(a: CapturedLayer, b: CapturedLayer): Float64Array {
  checkPair(a, b);
  const per = a.tokens * a.tokens;
  const out = new Float64Array(a.batch * a.heads);
  for (let m = 0; m < out.length; m++) {
    let s = 0;
    for (let i = m * per; i < (m + 1) * per; i++) s += (b.probs[i] - a.probs[i]) ** 2;
    out[m] = s;
  }
  return out;
}

/** The layer's AMV as docs/method.md reports it: ‖A_b − A_a‖_F averaged over heads and images. */
export function meanAmv(a: CapturedLayer, b: CapturedLayer): number {
  const sq = amvSquared(a, b);
  return sq.reduce((s, v) => s + Math.sqrt(v), 0) / sq.length;
}

export function checkPair(a: CapturedLayer, b: CapturedLayer): void {
  if (a.stack !== b.stack || a.layer !== b.layer || a.batch !== b.batch || a.tokens !== b.tokens || a.heads !== b.heads) {
    throw new Error(`captures of ${a.stack} ${a.layer} [B ${a.batch}, N ${a.tokens}] and ${b.stack} ${b.layer} [B ${b.batch}, N ${b.tokens}] differ: the same images under the same mask are needed`);
  }
}

/** W_Q and W_K of each attention layer as [D, D] (out, in) host arrays, encoder then decoder. */
export async function qkWeights(model: MaskedReconstructor): Promise<{ wQ: Float32Array; wK: Float32Array }[]> {
  const out: { wQ: Float32Array; wK: Float32Array }[] = [];
  for (const { attention } of model.layers) {
    out.push(await asyncScope(async () => {
      const { wQ, wK } = attention.qkWeights();
      return { wQ: await wQ.data(), wK: await wK.data() };
    }));
  }
  return out;
}

/** A layer's input shift projected per head: dQ = δ·W_Qᵀ, dK = δ·W_Kᵀ, [B, H, N, d_h] (the biases cancel). */
export interface HeadShift { dQ: Float32Array; dK: Float32Array; }

/**
 * The exact first-order attention shift of one layer from clean to shifted: with δ the shift of the
 * normalized attention input, dQ = δ W_Qᵀ, dK = δ W_Kᵀ, dS = (dQ Kᵀ + Q dKᵀ)·scale and
 * dA = A ∘ (dS − rowsum(A ∘ dS)) (the engine's fused attention-shift kernel), [B, H, N, N].
 */
export async function firstOrderShift(clean: CapturedLayer, shifted: CapturedLayer, w: { wQ: Float32Array; wK: Float32Array }): Promise<{ dA: Float32Array } & HeadShift> {
  checkPair(clean, shifted);
  const { batch: B, heads: H, tokens: N, headDim: hd, dim: D } = clean;
  return asyncScope(async () => {
    const { dA, dQ, dK } = noGrad(() => {
      const delta = sub(tensor(shifted.normed, [B, N, D]), tensor(clean.normed, [B, N, D]));
      const perHead = (wt: Float32Array): Tensor => permute(reshape(matmul(delta, tensor(wt, [D, D]), { transB: true }), [B, N, H, hd]), [0, 2, 1, 3]);
      const dQ = perHead(w.wQ), dK = perHead(w.wK);
      const Q = tensor(clean.q, [B, H, N, hd]), K = tensor(clean.k, [B, H, N, hd]), A = tensor(clean.probs, [B, H, N, N]);
      return { dA: attentionShift(Q, K, dQ, dK, A, { scale: clean.scale }), dQ, dK };
    });
    return { dA: await dA.data(), dQ: await dQ.data(), dK: await dK.data() };
  });
}
