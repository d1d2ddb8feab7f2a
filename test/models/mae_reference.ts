// A float64 CPU reference of the whole MAE forward (models_mae.py), written with the engine's
// reference ops and plain loops, straight from the reference's structure (no engine code shared
// with src/models/mae.ts beyond the sin-cos table, which the zip fixture checks independently).
import { type Arr, arr } from '../../src/engine/reference/core.js';
import { matmul } from '../../src/engine/reference/matmul.js';
import { layerNorm } from '../../src/engine/reference/layernorm.js';
import { attention } from '../../src/engine/reference/attention.js';
import { permute } from '../../src/engine/reference/layout.js';
import { patchify, reconstructionLoss } from '../../src/engine/reference/patch.js';
import type { MaeConfig } from '../../src/models/mae_configs.js';

export type RefParams = Map<string, Arr>;

export interface RefMaeOut { loss: number; pred: Arr; encProbs: Arr[]; decProbs: Arr[]; }

const get = (P: RefParams, k: string): Arr => {
  const a = P.get(k);
  if (!a) throw new Error(`mae reference: no parameter '${k}'`);
  return a;
};

const linear = (P: RefParams, prefix: string, x: Arr, act: 'none' | 'gelu' = 'none'): Arr =>
  matmul(x, get(P, `${prefix}.weight`), get(P, `${prefix}.bias`), { transB: true, activation: act });

const addArr = (a: Arr, b: Arr): Arr => ({ shape: [...a.shape], data: a.data.map((v, i) => v + b.data[i]) });

function block(P: RefParams, prefix: string, x: Arr, heads: number, eps: number, probs: Arr[]): Arr {
  const [B, N, D] = x.shape;
  const hd = D / heads;
  const h1 = layerNorm(x, get(P, `${prefix}.norm1.weight`), get(P, `${prefix}.norm1.bias`), eps);
  const qkv = linear(P, `${prefix}.attn.qkv`, h1); // [B, N, 3D]
  const split = permute({ shape: [B, N, 3, heads, hd], data: qkv.data }, [2, 0, 3, 1, 4]);
  const size = B * heads * N * hd;
  const part = (i: number): Arr => ({ shape: [B, heads, N, hd], data: split.data.slice(i * size, (i + 1) * size) });
  const a = attention(part(0), part(1), part(2));
  probs.push(a.probs);
  const merged = permute(a.out, [0, 2, 1, 3]);
  const y = addArr(x, linear(P, `${prefix}.attn.proj`, { shape: [B, N, D], data: merged.data }));
  const h2 = layerNorm(y, get(P, `${prefix}.norm2.weight`), get(P, `${prefix}.norm2.bias`), eps);
  return addArr(y, linear(P, `${prefix}.mlp.fc2`, linear(P, `${prefix}.mlp.fc1`, h2, 'gelu')));
}

/**
 * loss, pred [B, L, p·p·C] and every block's attention probabilities for images [B, C, H, W], with
 * the visible patches idsKeep [B, lenKeep] (encoder order) and mask [B, L] (1 = hidden).
 */
export function maeReference(c: MaeConfig, P: RefParams, img: Arr, idsKeep: ArrayLike<number>, lenKeep: number,
  mask: ArrayLike<number>, normPix: boolean): RefMaeOut {
  const B = img.shape[0], p = c.patchSize, C = c.inChans, D = c.embedDim, Dd = c.decoderEmbedDim;
  const L = (c.imgSize[0] / p) * (c.imgSize[1] / p);
  const pdim = p * p * C;
  const patches = patchify(img, p);
  // patch_embed: a stride-p convolution, weight [D, C, p, p], read at patchify's (row, col, channel) order.
  const w = get(P, 'patch_embed.proj.weight'), bias = get(P, 'patch_embed.proj.bias'), pos = get(P, 'pos_embed');
  const emb = arr([B, L, D]);
  for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) {
    let s = bias.data[d];
    for (let py = 0; py < p; py++) for (let px = 0; px < p; px++) for (let ch = 0; ch < C; ch++) {
      s += w.data[((d * C + ch) * p + py) * p + px] * patches.data[(b * L + l) * pdim + (py * p + px) * C + ch];
    }
    emb.data[(b * L + l) * D + d] = s + pos.data[(1 + l) * D + d];
  }
  // cls (+ its position) then the visible patches in encoder order.
  const cls = get(P, 'cls_token');
  let x = arr([B, 1 + lenKeep, D]);
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < D; d++) x.data[b * (1 + lenKeep) * D + d] = cls.data[d] + pos.data[d];
    for (let k = 0; k < lenKeep; k++) {
      const l = idsKeep[b * lenKeep + k];
      for (let d = 0; d < D; d++) x.data[(b * (1 + lenKeep) + 1 + k) * D + d] = emb.data[(b * L + l) * D + d];
    }
  }
  const encProbs: Arr[] = [], decProbs: Arr[] = [];
  for (let i = 0; i < c.depth; i++) x = block(P, `blocks.${i}`, x, c.numHeads, c.eps, encProbs);
  x = layerNorm(x, get(P, 'norm.weight'), get(P, 'norm.bias'), c.eps);
  // Decoder: embed, mask tokens at hidden patches, visible tokens back at their patches, positions.
  const e = linear(P, 'decoder_embed', x);
  const mt = get(P, 'mask_token'), dpos = get(P, 'decoder_pos_embed');
  let h = arr([B, 1 + L, Dd]);
  for (let b = 0; b < B; b++) {
    const row = (t: number): number => (b * (1 + L) + t) * Dd;
    for (let d = 0; d < Dd; d++) h.data[row(0) + d] = e.data[b * (1 + lenKeep) * Dd + d];
    for (let l = 0; l < L; l++) for (let d = 0; d < Dd; d++) h.data[row(1 + l) + d] = mt.data[d];
    for (let k = 0; k < lenKeep; k++) {
      const l = idsKeep[b * lenKeep + k];
      for (let d = 0; d < Dd; d++) h.data[row(1 + l) + d] = e.data[(b * (1 + lenKeep) + 1 + k) * Dd + d];
    }
    for (let t = 0; t <= L; t++) for (let d = 0; d < Dd; d++) h.data[row(t) + d] += dpos.data[t * Dd + d];
  }
  for (let i = 0; i < c.decoderDepth; i++) h = block(P, `decoder_blocks.${i}`, h, c.decoderNumHeads, c.eps, decProbs);
  h = layerNorm(h, get(P, 'decoder_norm.weight'), get(P, 'decoder_norm.bias'), c.eps);
  const full = linear(P, 'decoder_pred', h); // [B, 1 + L, pdim]
  const pred = arr([B, L, pdim]);
  for (let b = 0; b < B; b++) pred.data.set(full.data.subarray((b * (1 + L) + 1) * pdim, (b + 1) * (1 + L) * pdim), b * L * pdim);
  const loss = reconstructionLoss(pred, img, arr([B, L], mask), { p, normPix }).data[0];
  return { loss, pred, encProbs, decProbs };
}
