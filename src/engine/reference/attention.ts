// float64 reference of masked multi-head attention: out = softmax(scale·Q·Kᵀ + bias, masked) · V,
// with the per-row log-sum-exp and the probabilities. A row whose keys are all masked (or all at
// -inf through the bias) attends to nothing: its output is zeros, its lse -inf, its probabilities 0.
import { type Arr, arr } from './core.js';

export interface AttentionRefOptions {
  /** [B, Nk]: nonzero = attend. */
  keyMask?: Arr;
  /** Additive score bias, shape [Nq, Nk], [H, Nq, Nk] or [B, H, Nq, Nk] (leading dims may be 1). */
  bias?: Arr;
  /** Score scale; 1/√d by default. */
  scale?: number;
}

export interface AttentionRef { out: Arr; lse: Arr; probs: Arr; }

/** Element offset of bias[b, h, 0, 0] for a bias broadcast to [B, H, Nq, Nk] (right-aligned). */
export function biasOffset(bias: Arr, b: number, h: number, nq: number, nk: number): number {
  const s = bias.shape;
  const lead = s.slice(0, -2);
  while (lead.length < 2) lead.unshift(1);
  const [bb, hh] = lead;
  return ((bb === 1 ? 0 : b) * hh + (hh === 1 ? 0 : h)) * nq * nk;
}

export function attention(q: Arr, k: Arr, v: Arr, o: AttentionRefOptions = {}): AttentionRef {
  const [B, H, Nq, d] = q.shape;
  const Nk = k.shape[2];
  const dv = v.shape[3];
  const scale = o.scale ?? 1 / Math.sqrt(d);
  const out = arr([B, H, Nq, dv]);
  const lse = arr([B, H, Nq]);
  const probs = arr([B, H, Nq, Nk]);
  const s = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const boff = o.bias ? biasOffset(o.bias, b, h, Nq, Nk) : 0;
      for (let i = 0; i < Nq; i++) {
        let m = -Infinity;
        for (let j = 0; j < Nk; j++) {
          if (o.keyMask && o.keyMask.data[b * Nk + j] === 0) { s[j] = -Infinity; continue; }
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q.data[(bh * Nq + i) * d + c] * k.data[(bh * Nk + j) * d + c];
          s[j] = scale * dot + (o.bias ? o.bias.data[boff + i * Nk + j] : 0);
          m = Math.max(m, s[j]);
        }
        const row = bh * Nq + i;
        if (m === -Infinity) {
          // Nothing to attend to: zeros (already), lse -inf.
          lse.data[row] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Nk; j++) sum += Math.exp(s[j] - m);
        const l = m + Math.log(sum);
        lse.data[row] = l;
        for (let j = 0; j < Nk; j++) {
          const p = Math.exp(s[j] - l);
          probs.data[row * Nk + j] = p;
          for (let c = 0; c < dv; c++) out.data[row * dv + c] += p * v.data[(bh * Nk + j) * dv + c];
        }
      }
    }
  }
  return { out, lse, probs };
}
