// Float64 references for the attention tests: attention probabilities from Q and K, Q and K from a
// layer's normalized input and its qkv Linear, and the check that the exact first-order attention
// shift of a captured layer matches a finite difference of A computed from scratch.
import * as assert from 'uvu/assert';
import type { Rng } from '../harness.js';
import { firstOrderShift, type Capture, type CapturedLayer } from '../../src/eval/attention_capture.js';
import type { AttentionRecord } from '../../src/models/vit.js';

/** Row softmax of scale·Q Kᵀ per head in float64: Q, K [H, N, d] of one image. */
export function attentionF64(Q: ArrayLike<number>, K: ArrayLike<number>, H: number, N: number, d: number, scale: number): Float64Array {
  const A = new Float64Array(H * N * N);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < N; i++) {
      const row = new Float64Array(N);
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += Q[(h * N + i) * d + c] * K[(h * N + j) * d + c];
        row[j] = s * scale;
      }
      const mx = Math.max(...row);
      let z = 0;
      for (let j = 0; j < N; j++) { row[j] = Math.exp(row[j] - mx); z += row[j]; }
      for (let j = 0; j < N; j++) A[(h * N + i) * N + j] = row[j] / z;
    }
  }
  return A;
}

/** Q or K [B, H, N, d] = Z W[rows]ᵀ + b[rows] in float64, from the qkv Linear (rows: the q or k third). */
export function projectF64(Z: ArrayLike<number>, W: ArrayLike<number>, bias: ArrayLike<number>, part: number, Bn: number, N: number, D: number, H: number): Float64Array {
  const d = D / H;
  const out = new Float64Array(Bn * H * N * d);
  for (let b = 0; b < Bn; b++) {
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < D; o++) {
        const r = part * D + o;
        let s = bias[r];
        for (let c = 0; c < D; c++) s += Z[(b * N + n) * D + c] * W[r * D + c];
        const h = Math.floor(o / d);
        out[((b * H + h) * N + n) * d + (o % d)] = s;
      }
    }
  }
  return out;
}

/** A probe record with its tensors read back: the normalized input, Q, K and the probabilities. */
export interface SeenRecord { r: AttentionRecord; normed: Float32Array; q: Float32Array; k: Float32Array; p: Float32Array }

/** Q, K = normed·Wᵀ + b and the probabilities = softmax(scale·Q Kᵀ) of a record, against float64 (W, b: its qkv Linear). */
export function checkProjections(s: SeenRecord, W: ArrayLike<number>, bias: ArrayLike<number>): void {
  const { stack, layer } = s.r;
  const [Bn, H, N, d] = s.r.q.shape;
  const D = H * d;
  const q = projectF64(s.normed, W, bias, 0, Bn, N, D, H), k = projectF64(s.normed, W, bias, 1, Bn, N, D, H);
  const qErr = Math.max(...Array.from(q, (v, i) => Math.abs(v - s.q[i])));
  const kErr = Math.max(...Array.from(k, (v, i) => Math.abs(v - s.k[i])));
  assert.ok(qErr < 1e-4 && kErr < 1e-4, `${stack}${layer}: Q, K = normed·Wᵀ + b (errors ${qErr}, ${kErr})`);
  for (let b = 0; b < Bn; b++) {
    const per = H * N * d;
    const A = attentionF64(s.q.subarray(b * per, (b + 1) * per), s.k.subarray(b * per, (b + 1) * per), H, N, d, s.r.scale);
    const pErr = Math.max(...Array.from(A, (v, i) => Math.abs(v - s.p[b * H * N * N + i])));
    assert.ok(pErr < 1e-5, `${stack}${layer} image ${b}: probabilities = softmax(scale·Q Kᵀ), max error ${pErr}`);
  }
}

/**
 * For every layer of a capture: shifts its normalized input by h·u (u random) for h 0.1, 0.01,
 * 0.001 and compares the kernel's first-order dA with A(shifted) − A(clean), both from scratch in
 * float64 through the layer's qkv Linear (`qkv` gives its weight [3D, D] and bias).
 */
export async function checkFirstOrderShift(cap: Capture, weights: { wQ: Float32Array; wK: Float32Array }[],
  qkv: (layer: CapturedLayer) => { W: ArrayLike<number>; bias: ArrayLike<number> }, rng: Rng): Promise<void> {
  for (const [li, clean] of cap.layers.entries()) {
    const { batch: Bn, heads: H, tokens: N, headDim: d, dim: D } = clean;
    const { W, bias } = qkv(clean);
    const u = Float64Array.from(clean.normed, () => rng.normal());
    const errs: number[] = [];
    for (const h of [1e-1, 1e-2, 1e-3]) {
      const shifted: CapturedLayer = { ...clean, normed: Float32Array.from(clean.normed, (v, i) => v + h * u[i]) };
      const { dA } = await firstOrderShift(clean, shifted, weights[li]);
      // A at the shifted input, from scratch in float64 (not from the kernel's formula).
      const Q = projectF64(shifted.normed, W, bias, 0, Bn, N, D, H), K = projectF64(shifted.normed, W, bias, 1, Bn, N, D, H);
      const Q0 = projectF64(clean.normed, W, bias, 0, Bn, N, D, H), K0 = projectF64(clean.normed, W, bias, 1, Bn, N, D, H);
      let num = 0, den = 0;
      for (let b = 0; b < Bn; b++) {
        const per = H * N * d;
        const A1 = attentionF64(Q.subarray(b * per, (b + 1) * per), K.subarray(b * per, (b + 1) * per), H, N, d, clean.scale);
        const A0 = attentionF64(Q0.subarray(b * per, (b + 1) * per), K0.subarray(b * per, (b + 1) * per), H, N, d, clean.scale);
        for (let i = 0; i < A1.length; i++) {
          const actual = A1[i] - A0[i];
          num += (dA[b * H * N * N + i] - actual) ** 2;
          den += actual ** 2;
        }
      }
      errs.push(Math.sqrt(num / den));
    }
    // First order: the relative error falls about 10× per 10× smaller step (until float32 rounding).
    assert.ok(errs[0] < 0.3, `${clean.stack}${clean.layer}: relative error ${errs[0]} at h 0.1`);
    assert.ok(errs[1] < errs[0] / 4, `${clean.stack}${clean.layer}: error ${errs[0]} → ${errs[1]} from h 0.1 to 0.01`);
    assert.ok(errs[2] < errs[1] / 3 || errs[2] < 2e-3, `${clean.stack}${clean.layer}: error ${errs[1]} → ${errs[2]} from h 0.01 to 0.001`);
  }
}
