// The TF.js peer of one AMRM-Pure step of an MAE, for `amrm bench e2e`: the same architecture (the
// reference MAE of test/fixtures/make_mae_fixture.py), the same weights, batch, masks and update,
// written with TF.js's ops on its WebGPU backend, running on the engine's own GPUDevice (bench/timing.ts)
// with gradients by tf.grad. Before timing, its loss on the same images and masks is checked
// against the engine's, so that the two time the same computation.
import type { StateDict } from '../src/engine/io/host-tensor.js';
import type { MaeConfig } from '../src/models/mae_configs.js';
import type { MaskPlan } from '../src/models/masking.js';
import { sincosPosEmbed2d } from '../src/models/pos_embed.js';
import type { Tf, TfSide, TfTensor } from './timing.js';

type T = TfTensor;

/** The MAE's weights as TF.js tensors, Linear weights transposed to [in, out] for x·W. */
class Weights {
  private readonly held: T[] = [];
  constructor(private readonly tf: Tf, private readonly sd: StateDict) {}
  get(name: string, transpose = false): T {
    const h = this.sd.tensors.get(name);
    if (!h) throw new Error(`bench e2e (TF.js): the checkpoint has no '${name}'`);
    let t: T = this.tf.tensor(h.data as Float32Array, h.shape);
    if (transpose) { const u = this.tf.transpose(t); t.dispose(); t = u; }
    this.held.push(t);
    return t;
  }
  hold(t: T): T { this.held.push(t); return t; }
  dispose(): void { for (const t of this.held) t.dispose(); }
}

interface Linear { w: T; b: T }
interface Norm { g: T; b: T }
interface Block { n1: Norm; qkv: Linear; proj: Linear; n2: Norm; fc1: Linear; fc2: Linear; heads: number }

export interface TfMae {
  /** The masked reconstruction loss of images [B, C, H, W] under a mask plan (a scalar). */
  loss(x: T, plan: MaskPlan): T;
  /** One purification step: x − λ·sign(∇loss), into the ball around x0 and [0, 1]. */
  step(x: T, x0: T, plan: MaskPlan, lambda: number, eta: number): T;
  dispose(): void;
}

export function tfjsMae(side: TfSide, sd: StateDict, c: MaeConfig): TfMae {
  const tf = side.tf;
  const W = new Weights(tf, sd);
  const lin = (p: string): Linear => ({ w: W.get(`${p}.weight`, true), b: W.get(`${p}.bias`) });
  const norm = (p: string): Norm => ({ g: W.get(`${p}.weight`), b: W.get(`${p}.bias`) });
  const block = (p: string, heads: number): Block => ({
    n1: norm(`${p}.norm1`), qkv: lin(`${p}.attn.qkv`), proj: lin(`${p}.attn.proj`),
    n2: norm(`${p}.norm2`), fc1: lin(`${p}.mlp.fc1`), fc2: lin(`${p}.mlp.fc2`), heads,
  });
  const { patchSize: p, inChans: C, embedDim: D, decoderEmbedDim: Dd } = c;
  const [gh, gw] = [c.imgSize[0] / p, c.imgSize[1] / p];
  const L = gh * gw;
  // The patch embedding (a stride-p convolution) as a matmul over patches flattened in (c, p, q) order.
  const pe = W.get('patch_embed.proj.weight');
  const peW = W.hold(tf.transpose(tf.reshape(pe, [D, C * p * p])));
  const peB = W.get('patch_embed.proj.bias');
  const pos = W.hold(tf.tensor(Float32Array.from(sincosPosEmbed2d(D, gh, gw)), [1, L + 1, D]));
  const dpos = W.hold(tf.tensor(Float32Array.from(sincosPosEmbed2d(Dd, gh, gw)), [1, L + 1, Dd]));
  const cls = W.get('cls_token'), maskToken = W.get('mask_token');
  const blocks = Array.from({ length: c.depth }, (_, i) => block(`blocks.${i}`, c.numHeads));
  const encNorm = norm('norm');
  const decEmbed = lin('decoder_embed');
  const decBlocks = Array.from({ length: c.decoderDepth }, (_, i) => block(`decoder_blocks.${i}`, c.decoderNumHeads));
  const decNorm = norm('decoder_norm');
  const decPred = lin('decoder_pred');
  const eps = c.eps;

  const linear = (x: T, l: Linear): T => {
    const [din, dout] = l.w.shape as [number, number];
    return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, din]), l.w), l.b), [...x.shape.slice(0, -1), dout]);
  };
  const layerNorm = (x: T, n: Norm): T => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), n.g), n.b);
  };
  const gelu = (x: T): T => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  const attention = (x: T, b: Block): T => {
    const [B, N, E] = x.shape;
    const dh = E / b.heads;
    const qkv = tf.transpose(tf.reshape(linear(x, b.qkv), [B, N, 3, b.heads, dh]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv);
    const probs = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
    const o = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [B, N, E]);
    return linear(o, b.proj);
  };
  const runBlock = (x: T, b: Block): T => {
    const h = tf.add(x, attention(layerNorm(x, b.n1), b));
    return tf.add(h, linear(gelu(linear(layerNorm(h, b.n2), b.fc1)), b.fc2));
  };
  // [B, C, H, W] → [B, L, ·] in (c, p, q) order (the convolution's) or (p, q, c) order (the loss target's).
  const patches = (x: T, order: 'cpq' | 'pqc'): T => {
    const B = x.shape[0];
    const six = tf.reshape(x, [B, C, gh, p, gw, p]);
    return tf.reshape(tf.transpose(six, order === 'cpq' ? [0, 2, 4, 1, 3, 5] : [0, 2, 4, 3, 5, 1]), [B, L, C * p * p]);
  };
  const idx = (a: Int32Array, shape: number[]): T => tf.tensor(a, shape, 'int32');

  const loss = (x: T, plan: MaskPlan): T => {
    const B = x.shape[0];
    // Encoder: embed, add positions, keep the visible patches, prepend the class token.
    let h = tf.add(tf.add(tf.matMul(patches(x, 'cpq'), peW), peB), tf.slice(pos, [0, 1, 0], [1, L, D]));
    h = tf.gather(h, idx(plan.idsKeep, [B, plan.lenKeep]), 1, 1);
    const clsTok = tf.tile(tf.add(cls, tf.slice(pos, [0, 0, 0], [1, 1, D])), [B, 1, 1]);
    h = tf.concat([clsTok, h], 1);
    for (const b of blocks) h = runBlock(h, b);
    h = layerNorm(h, encNorm);
    // Decoder: embed, append mask tokens, unshuffle, add positions.
    let d = linear(h, decEmbed);
    const vis = tf.slice(d, [0, 1, 0], [B, plan.lenKeep, Dd]);
    const full = tf.concat([vis, tf.tile(maskToken, [B, L - plan.lenKeep, 1])], 1);
    const restored = tf.gather(full, idx(plan.idsRestore, [B, L]), 1, 1);
    d = tf.add(tf.concat([tf.slice(d, [0, 0, 0], [B, 1, Dd]), restored], 1), dpos);
    for (const b of decBlocks) d = runBlock(d, b);
    const pred = tf.slice(linear(layerNorm(d, decNorm), decPred), [0, 1, 0], [B, L, C * p * p]);
    // The loss: per-patch MSE (against normalized patches under normPixLoss), over the hidden patches.
    let target = patches(x, 'pqc');
    if (c.normPixLoss) {
      const { mean, variance } = tf.moments(target, -1, true);
      // torch's var is unbiased (n − 1); moments' is not.
      const n = C * p * p;
      target = tf.div(tf.sub(target, mean), tf.sqrt(tf.add(tf.mul(variance, n / (n - 1)), 1e-6)));
    }
    const perPatch = tf.mean(tf.square(tf.sub(pred, target)), -1);
    const mask = tf.tensor(Float32Array.from(plan.mask), [B, L]);
    return tf.div(tf.sum(tf.mul(perPatch, mask)), tf.sum(mask));
  };

  return {
    loss,
    step(x, x0, plan, lambda, eta) {
      const g = tf.grad((xi: T) => loss(xi, plan))(x);
      const moved = tf.sub(x, tf.mul(tf.sign(g), lambda));
      return tf.clipByValue(tf.minimum(tf.maximum(moved, tf.sub(x0, eta)), tf.add(x0, eta)), 0, 1);
    },
    dispose: () => W.dispose(),
  };
}
