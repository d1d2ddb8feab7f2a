// Batched matmul with optional transposes, broadcast batch dimensions and a fused epilogue (bias,
// relu, gelu or tanh-form gelu), and its backward.
import { engine } from '../engine.js';
import { empty, Tensor, sizeOf, type Shape } from '../tensor.js';
import { record, isGradEnabled, isHigherOrder, noGrad, passGradient } from '../autograd.js';
import { checkF32, collapse, broadcastStrides, fmt } from '../shape.js';
import { sumTo } from './reduce.js';
import { reshape } from './layout.js';
import { activationGrad, add, broadcastTo, gelu, geluTanh, relu } from './elementwise.js';
import { specialize } from '../wgsl.js';
import { grid1d } from '../runtime.js';
import { tuning, type MatmulTiling } from '../tuning.js';
import matmulWgsl from '../../../kernels/matmul.wgsl';
import erfWgsl from '../../../kernels/erf.wgsl';
import geluTanhWgsl from '../../../kernels/gelu_tanh.wgsl';
import utilWgsl from '../../../kernels/util.wgsl';

const source = erfWgsl + geluTanhWgsl + matmulWgsl;

/** 'gelu' is the exact erf form, 'gelu_tanh' PyTorch's approximate="tanh" (the same as `geluTanh`). */
export type Activation = 'none' | 'relu' | 'gelu' | 'gelu_tanh';
export interface MatmulOptions {
  /** `a` is stored [..., K, M] and used transposed. */
  transA?: boolean;
  /** `b` is stored [..., N, K] and used transposed. */
  transB?: boolean;
  /** [N], added to every output row before the activation. */
  bias?: Tensor;
  activation?: Activation;
  /** Of the output's shape, added last, after the activation (a residual stream's x + f(x)). */
  residual?: Tensor;
}

const ACT = { none: 0, relu: 1, gelu: 2, gelu_tanh: 3 } as const;


const sources = new Map<string, { kernel: string; source: string }>();

/**
 * The kernel source for one tile shape and one set of flags (the override constants that choose
 * load paths and the epilogue), with dead branches removed and the marked loops unrolled or left to
 * the compiler.
 */
function variant(tm: number, tn: number, t: MatmulTiling, flags: Record<string, number>): { kernel: string; source: string } {
  const key = `${tm}x${tn}${t.unroll ? 'u' : ''}${t.tiled ? 't' : ''}_${Object.entries(flags).map(([k, v]) => `${k}${v}`).join('_')}`;
  let v = sources.get(key);
  if (!v) {
    const spec = { file: 'matmul.wgsl', entry: entryOf(t), set: { TM: tm, TN: tn }, flags, unroll: t.unroll ? {} : undefined };
    v = { kernel: `matmul_${key}`, source: specialize(source, spec) };
    sources.set(key, v);
  }
  return v;
}

/** The register-blocked kernel, or the workgroup-tiled one (8×8 invocations per block of C). */
const entryOf = (t: MatmulTiling): 'matmul' | 'matmul_tiled' => (t.tiled ? 'matmul_tiled' : 'matmul');
/** Steps along K per workgroup-memory load of the tiled kernel (matmul.wgsl's KT). */
const KT = 16;

const pow2ceil = (n: number): number => 1 << Math.ceil(Math.log2(Math.max(n, 1)));

interface Plan {
  M: number; N: number; K: number;
  batch: number[]; outShape: number[];
  aBatch: number[]; bBatch: number[];
}

function plan(a: Tensor, b: Tensor, o: MatmulOptions): Plan {
  checkF32('matmul', a, b);
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: operands must have rank 2 or more, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  const [M, K] = o.transA ? [a.shape[a.rank - 1], a.shape[a.rank - 2]] : [a.shape[a.rank - 2], a.shape[a.rank - 1]];
  const [K2, N] = o.transB ? [b.shape[b.rank - 1], b.shape[b.rank - 2]] : [b.shape[b.rank - 2], b.shape[b.rank - 1]];
  const t = `${fmt(a.shape)}${o.transA ? 'ᵀ' : ''} and ${fmt(b.shape)}${o.transB ? 'ᵀ' : ''}`;
  if (K !== K2) throw new Error(`matmul: inner dimensions differ (${K} vs ${K2}) for ${t}`);
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = aBatch[aBatch.length - rank + i] ?? 1, db = bBatch[bBatch.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`matmul: batch dimensions ${fmt(aBatch)} and ${fmt(bBatch)} cannot be broadcast together (operands ${t})`);
    batch.push(da === 1 ? db : da);
  }
  if (o.bias) {
    checkF32('matmul', o.bias);
    if (o.bias.rank !== 1 || o.bias.shape[0] !== N) throw new Error(`matmul: bias ${fmt(o.bias.shape)} must have shape [${N}] (N of ${t})`);
  }
  const act = o.activation ?? 'none';
  if (!(act in ACT)) throw new Error(`matmul: unknown activation '${act}' (none, relu, gelu or gelu_tanh)`);
  const outShape = [...batch, M, N];
  if (o.residual) {
    checkF32('matmul', o.residual);
    if (o.residual.shape.join() !== outShape.join()) throw new Error(`matmul: residual ${fmt(o.residual.shape)} must have the output's shape ${fmt(outShape)} (operands ${t})`);
  }
  return { M, N, K, batch, outShape, aBatch, bBatch };
}

let multiplyAdds = 0;
/** Multiply-adds of every matmul dispatched so far in this process (benchmarks' effective rates). */
export const matmulMultiplyAdds = (): number => multiplyAdds;

/** Launches out = act(op(a)·op(b) + bias) + residual; `pre`, when given, also receives op(a)·op(b) + bias. */
function launch(a: Tensor, b: Tensor, bias: Tensor | undefined, out: Tensor, p: Plan, o: MatmulOptions, pre?: Tensor): void {
  let { M } = p;
  const { N, K } = p;
  if (out.size === 0) return;
  let batchShape = p.batch;
  let aStr = broadcastStrides(p.aBatch, batchShape).map((s) => s * M * K);
  let bStr = broadcastStrides(p.bBatch, batchShape).map((s) => s * K * N);
  // B shared by every batch entry and A untransposed: the batch folds into M (one taller matmul,
  // fuller tiles), since A's and C's batch entries are then consecutive rows.
  if (sizeOf(p.bBatch) === 1 && !o.transA) {
    M *= sizeOf(batchShape);
    batchShape = []; aStr = []; bStr = [];
  }
  const col = collapse(batchShape, [aStr, bStr]);
  if (col.shape.length > 4) {
    // More than 4 batch axes that do not merge: materialize the broadcast and launch again.
    const fa = noGrad(() => broadcastTo(a, [...p.batch, ...a.shape.slice(-2)]));
    const fb = noGrad(() => broadcastTo(b, [...p.batch, ...b.shape.slice(-2)]));
    launch(fa, fb, bias, out, { ...p, aBatch: p.batch, bBatch: p.batch }, o, pre);
    fa.dispose(); fb.dispose();
    return;
  }
  const count = sizeOf(batchShape);
  const t = tuning().matmul;
  const rt = engine().runtime;
  // Operands read through textures (matmul.wgsl's TEX_A / TEX_B): single matrices, K a multiple of
  // 4, within the adapter's texture size. A held operand (holdOperandTextures: a frozen model's
  // weights) has its own texture, filled once, so it is read through it whatever the size; others
  // are copied into a texture per dispatch, which pays from textureMinWork up.
  const maxDim = engine().gpu.limits.maxTextureDimension2D ?? 2048;
  const texFit = t.textures && !t.tiled && !t.f16 && count === 1 && K % 4 === 0 && K / 4 <= maxDim;
  const heldA = texFit && M <= maxDim ? rt.heldTextureOf(a.buffer, K * 4, M, !!o.transA) : undefined;
  const heldB = texFit && N <= maxDim ? rt.heldTextureOf(b.buffer, K * 4, N, !o.transB) : undefined;
  const texOk = texFit && M * N * K >= t.textureMinWork;
  const texA = !!heldA || (texOk && M <= maxDim);
  const texB = !!heldB || (texOk && N <= maxDim);
  // Tiles no larger than the matrix (rounded up to a power of two, at least 4 for the vec4 paths);
  // the longer side of the block goes to the operand read through a texture when only one is.
  const [tmax, nmax] = heldB && !texA ? t.heldTile : heldA && !texB ? [t.heldTile[1], t.heldTile[0]] : [t.tm, t.tn];
  const tm = Math.min(tmax, Math.max(4, pow2ceil(M)));
  const tn = Math.min(nmax, Math.max(4, pow2ceil(N)));
  // The tiled kernel's tiles are the blocks of 8×8 invocations, one workgroup each.
  const [bm, bn] = t.tiled ? [8 * tm, 8 * tn] : [tm, tn];
  if (t.tiled) {
    const bytes = 4 * KT * (bm + bn), limit = engine().gpu.limits.maxComputeWorkgroupStorageSize ?? 16384;
    if (bytes > limit) throw new Error(`matmul: the tiled kernel at ${tm}×${tn} per invocation needs ${bytes} bytes of workgroup memory, this adapter allows ${limit}`);
  }
  const tilesN = Math.ceil(N / bn), tiles = Math.ceil(M / bm) * tilesN;
  const groups = t.tiled ? tiles : Math.ceil(tiles / t.wg);
  const gy = Math.ceil(groups / 65535), gx = Math.ceil(groups / gy);
  const pad4 = (v: number[], fill: number): number[] => [...v, ...Array(4 - v.length).fill(fill)];
  const constants = {
    WG: t.wg, TRANS_A: o.transA ? 1 : 0, TRANS_B: o.transB ? 1 : 0,
    VEC_A: (o.transA ? M : K) % 4 === 0 ? 1 : 0, VEC_B: (o.transB ? K : N) % 4 === 0 ? 1 : 0, VEC_C: N % 4 === 0 ? 1 : 0,
    HAS_TAIL: K % 4 !== 0 ? 1 : 0, HAS_BIAS: bias ? 1 : 0, ACT: ACT[o.activation ?? 'none'], HAS_RES: o.residual ? 1 : 0, HAS_PRE: pre ? 1 : 0,
    TEX_A: texA ? 1 : 0, TEX_B: texB ? 1 : 0, F16_A: t.f16 ? 1 : 0, F16_B: t.f16 ? 1 : 0,
  };
  const { WG: _, ...flags } = constants; // the flags that shape the source (WG only sizes the workgroup)
  const { kernel, source: src } = variant(tm, tn, t, flags);
  const rank = count === 1 ? 0 : col.shape.length;
  const textures = [
    // op(A) as [M, K/4] texels and op(B) as [N, K/4]: copied where the buffer's rows run along K,
    // transposed by a kernel where they do not (A stored [K, M], B stored [K, N]).
    ...(texA ? [{ binding: 6, view: heldA ?? rt.textureOf(a.buffer, K * 4, M, 0, !!o.transA) }] : []),
    ...(texB ? [{ binding: 7, view: heldB ?? rt.textureOf(b.buffer, K * 4, N, 1, !o.transB) }] : []),
  ];
  // Half-precision copies of both operands (tuning.matmul.f16), bound beside the f32 buffers.
  const halves = t.f16 ? [toHalves(a), toHalves(b)] : [];
  const bound = [
    ...(pre ? [{ binding: 8, buffer: pre.buffer }] : []),
    ...halves.map((buffer, i) => ({ binding: 9 + i, buffer })),
  ];
  multiplyAdds += M * N * K * count;
  for (let z0 = 0; z0 < count; z0 += rt.maxWorkgroupsPerDim) {
    rt.dispatch({
      textures,
      kernel, family: 'matmul', source: src, entry: entryOf(t), constants: t.tiled ? flags : constants,
      uniforms: [M, N, K, tilesN, tiles, rank, z0, 0,
        ...pad4(rank ? col.shape : [], 1), ...pad4(rank ? col.strides[0] : [], 0), ...pad4(rank ? col.strides[1] : [], 0)],
      // Without a bias the binding still needs a buffer; a read-only alias of A is harmless.
      buffers: [a.buffer, b.buffer, (bias ?? a).buffer, out.buffer, ...(o.residual ? [o.residual.buffer] : [])],
      ...(bound.length ? { bound } : {}),
      workgroups: [gx, gy, Math.min(count - z0, rt.maxWorkgroupsPerDim)],
    });
  }
  for (const h of halves) rt.release(h);
}

/** A pooled buffer holding t's values as halves, two per u32 (util.wgsl's to_f16). */
function toHalves(t: Tensor): GPUBuffer {
  const rt = engine().runtime;
  const vec4s = Math.ceil(t.size / 4);
  const out = rt.acquire(8 * vec4s, 'matmul f16 operand');
  rt.dispatch({
    kernel: 'util', family: 'matmul', source: utilWgsl, entry: 'to_f16',
    uniforms: [vec4s, 0], buffers: [t.buffer, out], workgroups: grid1d(vec4s, 64),
  });
  return out;
}

/**
 * Runs fn with these tensors promised unchanged until it ends (a frozen model's weights through a
 * purification loop). Where the adapter reads matmul operands through textures (llvmpipe), each
 * gets its own texture, filled on first use, instead of a copy per dispatch: the shipped models'
 * matmuls are too small to pay for a copy each time (tuning's textureMinWork), but not for one copy
 * per loop. Disposing a held tensor meanwhile drops its textures.
 */
export async function holdOperandTextures<T>(tensors: Tensor[], fn: () => Promise<T>): Promise<T> {
  const release = engine().runtime.holdTextures(tensors.map((t) => t.buffer));
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * act(op(a) · op(b) + bias): a is [..., M, K] ([..., K, M] with transA), b is [..., K, N]
 * ([..., N, K] with transB); batch dimensions broadcast (e.g. [B, M, K]·[K, N], [B, 1, M, K]·[H, K, N]).
 * The epilogue is fused into the kernel; when gradients are recorded an activation runs as its own
 * elementwise op instead, so that its backward has the pre-activation (gelu' needs it; it costs one
 * elementwise pass rather than recomputing the matmul in the backward).
 */
export function matmul(a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  const p = plan(a, b, o);
  const act = o.activation ?? 'none';
  const bias = o.bias;
  const residual = o.residual;
  const tracked = isGradEnabled() && (a.requiresGrad || b.requiresGrad || !!bias?.requiresGrad || !!residual?.requiresGrad);
  if (tracked && act !== 'none' && !isHigherOrder()) {
    // One pass writes y and the pre-activation z, which the backward needs for act'(z).
    const z = empty(p.outShape, 'f32', 'matmul pre-activation');
    const y = empty(p.outShape, 'f32', 'matmul');
    launch(a, b, bias, y, p, o, z);
    const inputs = [a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
    const out = record('matmul', y, inputs, [a, b, z], (gy, [as, bs, zs]) => {
      const dz = activationGrad(act, zs, gy);
      const grads = [
        a.requiresGrad ? gradA(dz, bs, a.shape, o) : undefined,
        b.requiresGrad ? gradB(dz, as, b.shape, p, o) : undefined,
        ...(bias ? [bias.requiresGrad ? sumTo(dz, bias.shape) : undefined] : []),
        ...(residual ? [residual.requiresGrad ? passGradient(gy) : undefined] : []),
      ];
      dz.dispose();
      return grads;
    });
    z.dispose(); // the node keeps its own view of z
    return out;
  }
  if (tracked && act !== 'none') {
    // Inside differentiableTwice: the activation as its own op, whose backward is differentiable.
    const z = matmul(a, b, { transA: o.transA, transB: o.transB, bias });
    const y = act === 'gelu' ? gelu(z) : act === 'gelu_tanh' ? geluTanh(z) : relu(z);
    z.dispose(); // y's node keeps z's data and graph alive
    if (!residual) return y;
    const r = add(residual, y);
    y.dispose();
    return r;
  }
  const out = empty(p.outShape, 'f32', 'matmul');
  launch(a, b, bias, out, p, o);
  const inputs = [a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  return record('matmul', out, inputs, [a, b], (gy, [as, bs]) => [
    a.requiresGrad ? gradA(gy, bs, a.shape, o) : undefined,
    b.requiresGrad ? gradB(gy, as, b.shape, p, o) : undefined,
    ...(bias ? [bias.requiresGrad ? sumTo(gy, bias.shape) : undefined] : []),
    // The residual's gradient is gy itself: a second handle on its buffer.
    ...(residual ? [residual.requiresGrad ? passGradient(gy) : undefined] : []),
  ], 'same');
}

/** Sums a full-batch gradient back to the operand's shape, freeing the full one. */
function reduceTo(full: Tensor, shape: Shape): Tensor {
  const g = sumTo(full, shape);
  if (g !== full) full.dispose();
  return g;
}

// d op(A) = gY · op(B)ᵀ; with transA, dA = (d op(A))ᵀ = op(B) · gYᵀ.
function gradA(gy: Tensor, b: Tensor, shape: Shape, o: MatmulOptions): Tensor {
  const full = o.transA
    ? matmul(b, gy, { transA: o.transB, transB: true })
    : matmul(gy, b, { transB: !o.transB });
  return reduceTo(full, shape);
}

// d op(B) = op(A)ᵀ · gY; with transB, dB = gYᵀ · op(A).
function gradB(gy: Tensor, a: Tensor, shape: Shape, p: Plan, o: MatmulOptions): Tensor {
  if (sizeOf(p.bBatch) === 1 && !o.transA && p.batch.length > 0) {
    // B is shared across the batch: fold the batch into the rows, and one matmul sums over it.
    const rows = sizeOf(p.batch) * p.M;
    const a2 = reshape(a, [rows, p.K]), g2 = reshape(gy, [rows, p.N]);
    const g = o.transB ? matmul(g2, a2, { transA: true }) : matmul(a2, g2, { transA: true });
    a2.dispose(); g2.dispose();
    const out = reshape(g, shape);
    g.dispose();
    return out;
  }
  const full = o.transB
    ? matmul(gy, a, { transA: true, transB: o.transA })
    : matmul(a, gy, { transA: !o.transA });
  return reduceTo(full, shape);
}
