// float64 references of the softmax Jacobian along attention rows: JVP, VJP, the fused attention
// shift, the attention-variation loss and its gradient to Q and K (docs/method.md section 7).
import { type Arr, arr } from './core.js';
import { softmax } from './softmax.js';

/** A ∘ (V − rowsum(A ∘ V)) along the last axis. */
function rowJacobian(A: Arr, V: Arr): Arr {
  const n = A.shape[A.shape.length - 1];
  const out = arr(A.shape);
  for (let b = 0; n > 0 && b < A.data.length; b += n) {
    let c = 0;
    for (let i = b; i < b + n; i++) c += A.data[i] * V.data[i];
    for (let i = b; i < b + n; i++) out.data[i] = A.data[i] * (V.data[i] - c);
  }
  return out;
}

/** dA = A ∘ (dS − rowsum(A ∘ dS)). */
export const softmaxJvp = (A: Arr, dS: Arr): Arr => rowJacobian(A, dS);
/** dS = A ∘ (G − rowsum(G ∘ A)). */
export const softmaxVjp = (A: Arr, G: Arr): Arr => rowJacobian(A, G);

/** [..., N, d] · [..., M, d]ᵀ · scale → [..., N, M]. */
export function scores(Q: Arr, K: Arr, scale: number): Arr {
  const r = Q.shape.length;
  const [N, d] = Q.shape.slice(-2), M = K.shape[r - 2];
  const lead = Q.shape.slice(0, -2);
  const batch = lead.reduce((a, b) => a * b, 1);
  const out = arr([...lead, N, M]);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < M; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += Q.data[(z * N + i) * d + k] * K.data[(z * M + j) * d + k];
        out.data[(z * N + i) * M + j] = s * scale;
      }
    }
  }
  return out;
}

/** softmax(Q Kᵀ · scale) along the keys. */
export const attention = (Q: Arr, K: Arr, scale: number): Arr => softmax(scores(Q, K, scale));

/** dS = (dQ Kᵀ + Q dKᵀ)·scale. */
export function scoreShift(Q: Arr, K: Arr, dQ: Arr, dK: Arr, scale: number): Arr {
  const a = scores(dQ, K, scale), b = scores(Q, dK, scale);
  return arr(a.shape, a.data.map((v, i) => v + b.data[i]));
}

/** The first-order attention shift dA = JVP(A, (dQ Kᵀ + Q dKᵀ)·scale); scale defaults to 1/√d. */
export function attentionShift(Q: Arr, K: Arr, dQ: Arr, dK: Arr, A: Arr, scale = 1 / Math.sqrt(Q.shape[Q.shape.length - 1])): Arr {
  return rowJacobian(A, scoreShift(Q, K, dQ, dK, scale));
}

/** ‖A − Aref‖²_F per attention map: [..., N, M] → [...]. */
export function amvLoss(A: Arr, Aref: Arr): Arr {
  const r = A.shape.length;
  const per = A.shape[r - 2] * A.shape[r - 1];
  const out = arr(A.shape.slice(0, -2));
  for (let z = 0; z < out.data.length; z++) {
    let s = 0;
    for (let i = z * per; i < (z + 1) * per; i++) { const t = A.data[i] - Aref.data[i]; s += t * t; }
    out.data[z] = s;
  }
  return out;
}

/** Per-map AMV of A = softmax(Q Kᵀ·scale) from Aref, as a function of Q and K (for finite differences). */
export const amvLossQK = (Q: Arr, K: Arr, Aref: Arr, scale: number): Arr => amvLoss(attention(Q, K, scale), Aref);

/** The loss and the gradient of its sum to Q and K, by the chain rule in float64. */
export function amvGradQK(Q: Arr, K: Arr, Aref: Arr, scale = 1 / Math.sqrt(Q.shape[Q.shape.length - 1])): { loss: Arr; dQ: Arr; dK: Arr } {
  const A = attention(Q, K, scale);
  const G = arr(A.shape, A.data.map((a, i) => 2 * (a - Aref.data[i])));
  const dS = rowJacobian(A, G);
  const r = Q.shape.length;
  const [N, d] = Q.shape.slice(-2), M = K.shape[r - 2];
  const batch = Q.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const dQ = arr(Q.shape), dK = arr(K.shape);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < M; j++) {
        const s = dS.data[(z * N + i) * M + j] * scale;
        for (let k = 0; k < d; k++) {
          dQ.data[(z * N + i) * d + k] += s * K.data[(z * M + j) * d + k];
          dK.data[(z * M + j) * d + k] += s * Q.data[(z * N + i) * d + k];
        }
      }
    }
  }
  return { loss: amvLoss(A, Aref), dQ, dK };
}
