// Masked multi-head attention: softmax(scale·Q·Kᵀ + bias, key mask) · V, as one fused kernel family
// (kernels/attention.wgsl: online-softmax forward, FlashAttention-2 backward) or composed from the
// engine's primitive ops (the reference path, selectable at run time so that every fused result can
// be checked against it).
//
// Rows with nothing to attend to (every key masked, or every score -inf through the bias) are
// defined as: output zeros, lse -inf, probabilities zeros, and no gradient through them.
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, scope, Tensor } from '../tensor.js';
import { isHigherOrder, record, noGrad } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { add, log, mul, mulScalar, sub, where } from './elementwise.js';
import { max, sumTo } from './reduce.js';
import { permute, reshape, slice } from './layout.js';
import { fill } from './creation.js';
import { matmul } from './matmul.js';
import { specialize } from '../wgsl.js';
import { tuning, type AttentionTiling } from '../tuning.js';
import { softmax } from './softmax.js';
import source from '../../../kernels/attention.wgsl';

export type AttentionImpl = 'fused' | 'composed';

export interface AttentionOptions {
  /** [B, Nk], f32 or i32: nonzero = attend, 0 = ignore the key. */
  keyMask?: Tensor;
  /** Additive score bias: [Nq, Nk], [H, Nq, Nk] or [B, H, Nq, Nk] (leading dims may be 1). */
  bias?: Tensor;
  /** Score scale, 1/√d by default. */
  scale?: number;
  /** Also return the attention probabilities [B, H, Nq, Nk] (a second pass; no gradient). */
  returnProbs?: boolean;
  /** Overrides the module default (setAttentionImpl). */
  impl?: AttentionImpl;
}

export interface AttentionResult {
  /** [B, H, Nq, d] ([B, N, H, d] from attentionPacked); gradients flow to q, k, v and the bias. */
  out: Tensor;
  /** [B, H, Nq]: log Σⱼ exp(scoreᵢⱼ) over the attended keys (-inf for a row with none); no gradient. */
  lse: Tensor;
  /** [B, H, Nq, Nk] when asked for; no gradient. */
  probs?: Tensor;
}

let defaultImpl: AttentionImpl = 'fused';

/** Chooses the implementation used when a call does not name one. */
export function setAttentionImpl(impl: AttentionImpl): void {
  if (impl !== 'fused' && impl !== 'composed') throw new Error(`setAttentionImpl: unknown implementation '${impl}' (fused or composed)`);
  defaultImpl = impl;
}
export const getAttentionImpl = (): AttentionImpl => defaultImpl;


/**
 * The row counts R that kernels are compiled for: every R is its own pipeline, and on llvmpipe a
 * large R takes tens of seconds to compile, so the choice is limited to a few values.
 */
const R_CHOICES = [1, 2, 4, 9, 17, 22, 32];

/** Rows per invocation for `rows` rows of head dimension d: the fewest chunks, then the least padding. */
function rowsPerInvocation(t: AttentionTiling, rmaxAt64: number, rows: number, d: number): number {
  if (t.r) return t.r;
  const rmax = Math.max(1, Math.min(t.rcap, Math.floor((rmaxAt64 * 64) / d)));
  const allowed = R_CHOICES.filter((r) => r <= rmax);
  const largest = allowed[allowed.length - 1];
  const chunks = Math.ceil(Math.max(rows, 1) / largest);
  const even = Math.ceil(rows / chunks);
  return allowed.find((r) => r >= even) ?? largest;
}

/** The largest head dimension of the fused kernels (private memory holds up to 4·R·d floats). */
export const ATTENTION_MAX_D = 128;
/** Storage buffers bound by the largest fused entry point (dQ, dK/dV); the dK/dV kernel with dQ partials binds one more. */
const FUSED_STORAGE_BUFFERS = 8;

interface Variant { kernel: string; source: string; r: number; }
const variants = new Map<string, Variant>();

/**
 * Kernel source for one entry point, head dimension d, R rows and KB rows per step; `dqp` keeps the
 * dK/dV kernel's dQ-partial lines (marked `// dqp`), which also bind a ninth storage buffer.
 */
function variant(entry: string, d: number, r: number, kb: number, t: AttentionTiling, dqp = false): Variant {
  const unrollD = t.unrollD || t.scalarize;
  const key = `${entry}_d${d}_r${r}_k${kb}${unrollD ? '_u' : ''}${t.scalarize ? '_s' : ''}${dqp ? '_dqp' : ''}`;
  let v = variants.get(key);
  if (!v) {
    const s = specialize(source, {
      file: 'attention.wgsl', entry, drop: dqp ? [] : ['dqp'], set: { D4: d / 4, R: r, KB: kb },
      unroll: { tags: unrollD ? ['d-loop'] : [] }, scalarize: t.scalarize ? 'all' : undefined,
    });
    v = { kernel: `attention_${key}`, source: s, r };
    variants.set(key, v);
  }
  return v;
}

interface Dims { B: number; H: number; Nq: number; Nk: number; d: number; }

function validate(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): Dims {
  checkF32('attention', q, k, v);
  const shapes = `q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}`;
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new Error(`attention: q, k and v must be [B, H, N, d], got ${shapes}`);
  const [B, H, Nq, d] = q.shape;
  const Nk = k.shape[2];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== d) throw new Error(`attention: k must be [${B}, ${H}, Nk, ${d}] to match q, got ${shapes}`);
  if (v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== Nk || v.shape[3] !== d) throw new Error(`attention: v must have k's shape [${B}, ${H}, ${Nk}, ${d}], got ${shapes}`);
  if (Nk === 0 || d === 0) throw new Error(`attention: no keys or an empty head dimension (${shapes})`);
  return validateOptions({ B, H, Nq, Nk, d }, o, shapes);
}

function validateOptions(dims: Dims, o: AttentionOptions, shapes: string): Dims {
  const { B, H, Nq, Nk } = dims;
  if (o.keyMask) {
    const m = o.keyMask;
    if (m.rank !== 2 || m.shape[0] !== B || m.shape[1] !== Nk) throw new Error(`attention: keyMask must be [B, Nk] = [${B}, ${Nk}], got ${fmt(m.shape)} (${shapes})`);
  }
  if (o.bias) {
    const bs = o.bias.shape;
    checkF32('attention', o.bias);
    const lead = bs.slice(0, -2);
    const ok = bs.length >= 2 && bs.length <= 4 && bs[bs.length - 2] === Nq && bs[bs.length - 1] === Nk &&
      lead.every((x, i) => x === 1 || x === [B, H].slice(2 - lead.length)[i]);
    if (!ok) throw new Error(`attention: bias ${fmt(bs)} must broadcast as [Nq, Nk], [H, Nq, Nk] or [B, H, Nq, Nk] with Nq = ${Nq}, Nk = ${Nk}, H = ${H}, B = ${B} (${shapes})`);
  }
  if (o.scale !== undefined && !Number.isFinite(o.scale)) throw new Error(`attention: scale ${o.scale} is not a finite number`);
  return dims;
}

/** The implementation a call runs: its own choice or the default, checked against the adapter and d. */
function implFor(o: AttentionOptions, dims: Dims, what: string): AttentionImpl {
  // The dQ and dK/dV kernels bind 8 storage buffers; an adapter with fewer (compatibility mode's
  // default is 4) takes the composed path unless the fused one is asked for by name.
  const buffersOk = (engine().gpu.limits.maxStorageBuffersPerShaderStage ?? 8) >= FUSED_STORAGE_BUFFERS;
  const impl = o.impl ?? (buffersOk ? defaultImpl : 'composed');
  // Inside differentiableTwice the composed path runs: the fused backward is not itself differentiable.
  if (impl === 'composed' || isHigherOrder()) return 'composed';
  if (impl !== 'fused') throw new Error(`attention: unknown implementation '${impl}' (fused or composed)`);
  if (!buffersOk) {
    throw new Error(`attention: the fused kernels bind ${FUSED_STORAGE_BUFFERS} storage buffers, this adapter allows ${engine().gpu.limits.maxStorageBuffersPerShaderStage} per stage; use impl: 'composed'`);
  }
  if (dims.d > ATTENTION_MAX_D || dims.d % 4 !== 0) {
    throw new Error(`attention: the fused kernels take a head dimension d that is a multiple of 4 up to ${ATTENTION_MAX_D}, got ${dims.d} (${what}); use impl: 'composed'`);
  }
  return impl;
}

/** Attention over q, k, v [B, H, N, d] with an optional key mask and additive bias. */
export function attention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions = {}): AttentionResult {
  const dims = validate(q, k, v, o);
  if (implFor(o, dims, `q ${fmt(q.shape)}`) === 'composed') return composed(q, k, v, o, dims);
  return fused({ q, k, v }, o, dims);
}

/**
 * Self-attention over a transformer's QKV projection as it comes, qkv [B, N, 3, H, d] (the
 * [B, N, 3·H·d] matmul output viewed), giving out as [B, N, H, d], which views as [B, N, H·d] for
 * the output projection. The fused kernels read Q, K and V where they lie and write O, dQ, dK and
 * dV there too: no permute, slice or slice gradient on either side. lse and probs are [B, H, N(, N)].
 */
export function attentionPacked(qkv: Tensor, o: AttentionOptions = {}): AttentionResult {
  checkF32('attention', qkv);
  if (qkv.rank !== 5 || qkv.shape[2] !== 3) throw new Error(`attention: a packed qkv must be [B, N, 3, H, d], got ${fmt(qkv.shape)}`);
  const [B, N, , H, d] = qkv.shape;
  if (N === 0 || d === 0) throw new Error(`attention: no keys or an empty head dimension (qkv ${fmt(qkv.shape)})`);
  const dims = validateOptions({ B, H, Nq: N, Nk: N, d }, o, `qkv ${fmt(qkv.shape)}`);
  if (implFor(o, dims, `qkv ${fmt(qkv.shape)}`) === 'composed') {
    return scope(() => {
      const parts = permute(qkv, [2, 0, 3, 1, 4]);
      const part = (i: number): Tensor => reshape(slice(parts, [i], [i + 1]), [B, H, N, d]);
      const r = composed(part(0), part(1), part(2), o, dims);
      return { ...r, out: permute(r.out, [0, 2, 1, 3]) };
    });
  }
  return fused({ packed: qkv }, o, dims);
}

// ---------------------------------------------------------------- fused
interface Launch {
  dims: Dims; t: AttentionTiling; uniforms: number[]; flags: Record<string, number>;
  aux: Tensor | undefined; owned: boolean;
}

/** Mask and bias in one read-only buffer (the kernels' `aux`), so entry points stay within 8 buffers. */
function auxOf(o: AttentionOptions): { aux: Tensor | undefined; owned: boolean; maskOff: number; biasOff: number } {
  const { keyMask: m, bias } = o;
  if (m && bias) {
    const aux = empty([m.size + bias.size], 'f32', 'attention mask+bias', false);
    const rt = engine().runtime;
    rt.copy(m.buffer, aux.buffer, m.size * 4);
    rt.copy(bias.buffer, aux.buffer, bias.size * 4, 0, m.size * 4);
    return { aux, owned: true, maskOff: 0, biasOff: m.size };
  }
  return { aux: m ?? bias, owned: false, maskOff: 0, biasOff: 0 };
}

/** The launch of one attention: flags, tiling and uniforms, with the operands' layout (`packed`: Q, K, V read from one QKV projection). */
function prepare(o: AttentionOptions, dims: Dims, packed: boolean): Launch {
  const { B, H, Nq, Nk, d } = dims;
  const { aux, owned, maskOff, biasOff } = auxOf(o);
  let sb = 0, sh = 0;
  if (o.bias) {
    const lead = o.bias.shape.slice(0, -2);
    while (lead.length < 2) lead.unshift(1);
    sh = lead[1] === 1 ? 0 : Nq * Nk;
    sb = lead[0] === 1 ? 0 : lead[1] * Nq * Nk;
  }
  const scale = o.scale ?? 1 / Math.sqrt(d);
  const t = tuning().attention;
  return {
    dims, t, aux, owned,
    uniforms: [B, H, Nq, Nk, f32bits(scale), f32bits(-Infinity), maskOff, biasOff, sb, sh, 0, 0,
      // q_off, k_off, v_off, pad; the strides of Q, of K and V, of O (kernels/attention.wgsl).
      ...(packed ? packedLayout(H, Nq, d) : [0, 0, 0, 0, ...contiguous(H, Nq, d), ...contiguous(H, Nk, d), ...contiguous(H, Nq, d)])],
    flags: { WG: t.wg, HAS_MASK: o.keyMask ? 1 : 0, MASK_I32: o.keyMask?.dtype === 'i32' ? 1 : 0, HAS_BIAS: o.bias ? 1 : 0 },
  };
}

/** vec4 strides over b, h and the row of a contiguous [B, H, N, d] tensor (and a pad word). */
const contiguous = (H: number, N: number, d: number): number[] => [H * N * (d / 4), N * (d / 4), d / 4, 0];

/**
 * The offsets and strides (in vec4s) of Q, K and V inside one QKV projection [B, N, 3, H, d], and
 * of the output [B, N, H, d] (Nq = Nk = N there).
 */
function packedLayout(H: number, N: number, d: number): number[] {
  const d4 = d / 4, row = 3 * H * d4;
  return [0, H * d4, 2 * H * d4, 0, N * row, d4, row, 0, N * row, d4, row, 0, N * H * d4, d4, H * d4, 0];
}

type Entry = 'attn_fwd' | 'attn_probs' | 'attn_bwd_pre' | 'attn_bwd_dq' | 'attn_bwd_dkv' | 'attn_dq_sum';

/**
 * Launches one entry point. `rows` is the number of rows per (b, h) pair that the invocations split
 * into chunks (queries, or keys for dK/dV); the pre-pass takes `rows` = all rows, one per invocation.
 */
/** Rows per invocation R, keys (queries) per step KB and row chunks per (b, h) pair of an entry point over `rows` rows. */
function splitOf(L: Launch, entry: Entry, rows: number): { r: number; kb: number; chunks: number } {
  const t = L.t;
  // The pre-pass and the dQ sum are one invocation per row (per vec4) and use neither R nor KB.
  if (entry === 'attn_bwd_pre' || entry === 'attn_dq_sum') return { r: 1, kb: 1, chunks: rows };
  const [kb, rmax] = entry === 'attn_bwd_dq' ? [t.kbDq, t.rmaxDq] : entry === 'attn_bwd_dkv' ? [t.kbDkv, t.rmaxDkv] : [t.kbFwd, t.rmaxFwd];
  const r = rowsPerInvocation(t, rmax, rows, L.dims.d);
  return { r, kb, chunks: Math.ceil(rows / r) };
}

function run(L: Launch, entry: Entry, buffers: GPUBuffer[], rows: number, extra: Record<string, number> = {}, dqp = false): void {
  const { B, H, d } = L.dims;
  const t = L.t;
  const pre = entry === 'attn_bwd_pre' || entry === 'attn_dq_sum';
  const { r, kb, chunks } = splitOf(L, entry, rows);
  const v = variant(entry, d, r, kb, pre ? { ...t, unrollD: false, scalarize: false } : t, dqp);
  const uniforms = L.uniforms.slice();
  // The dQ sum reads the dK/dV kernel's chunk count.
  uniforms[10] = entry === 'attn_dq_sum' ? splitOf(L, 'attn_bwd_dkv', L.dims.Nk).chunks : chunks;
  engine().runtime.dispatch({
    kernel: v.kernel, family: 'attention', source: v.source, entry, constants: pre ? {} : { ...L.flags, ...extra },
    uniforms, buffers, workgroups: grid1d(pre ? rows : B * H * chunks, pre ? 64 : t.wg),
  });
}

/**
 * The fused kernels' operands: three [B, H, N, d] tensors, or the QKV projection [B, N, 3, H, d]
 * bound three times (its output then [B, N, H, d]).
 */
type Operands = { q: Tensor; k: Tensor; v: Tensor; packed?: undefined } | { packed: Tensor; q?: undefined; k?: undefined; v?: undefined };

/** The Q, K, V buffers (a packed projection bound three times; prepare() set its layout). */
const buffersOf = (x: Operands): [GPUBuffer, GPUBuffer, GPUBuffer] =>
  x.packed ? [x.packed.buffer, x.packed.buffer, x.packed.buffer] : [x.q.buffer, x.k.buffer, x.v.buffer];

function fused(x: Operands, o: AttentionOptions, dims: Dims): AttentionResult {
  const { B, H, Nq, Nk, d } = dims;
  const L = prepare(o, dims, !!x.packed);
  const [qb, kb, vb] = buffersOf(x);
  const auxBuf = L.aux?.buffer ?? qb; // unread when there is neither mask nor bias
  const out = empty(x.packed ? [B, Nq, H, d] : [B, H, Nq, d], 'f32', 'attention');
  const lse = empty([B, H, Nq], 'f32', 'attention lse');
  if (Nq > 0) run(L, 'attn_fwd', [qb, kb, vb, auxBuf, out.buffer, lse.buffer], Nq);
  let probs: Tensor | undefined;
  if (o.returnProbs) {
    probs = empty([B, H, Nq, Nk], 'f32', 'attention probs');
    if (Nq > 0) run(L, 'attn_probs', [qb, kb, lse.buffer, auxBuf, probs.buffer], Nq);
  }
  const bias = o.bias;
  const parts = x.packed ? [x.packed] : [x.q, x.k, x.v];
  const inputs = bias ? [...parts, bias] : parts;
  const saved = [...parts, out, lse, ...(L.aux ? [L.aux] : [])];
  const y = record('attention', out, inputs, saved, (gy, s) => {
    const [os, ls, as] = s.slice(parts.length);
    const xs: Operands = x.packed ? { packed: s[0] } : { q: s[0], k: s[1], v: s[2] };
    const g = backwardFused(L, gy, xs, os, ls, as, parts.map((t) => t.requiresGrad), bias);
    return bias ? [...g.parts, g.dbias] : g.parts;
  });
  if (L.owned) L.aux!.dispose(); // the node's saved handle keeps it while a backward may need it
  return probs ? { out: y, lse, probs } : { out: y, lse };
}

/**
 * dQ, dK, dV (or, packed, one dQKV: dQ written at its start, dK at its middle through dk_off, dV
 * copied into its end) and the bias gradient. `need` says which parts want a gradient.
 */
function backwardFused(L: Launch, gy: Tensor, x: Operands, o: Tensor, lse: Tensor, aux: Tensor | undefined, need: boolean[], bias: Tensor | undefined):
  { parts: (Tensor | undefined)[]; dbias: Tensor | undefined } {
  const { B, H, Nq, Nk, d } = L.dims;
  const [qb, kb, vb] = buffersOf(x);
  const packed = x.packed;
  const needQ = need[0], needKV = packed ? need[0] : need[1] || need[2], needBias = !!bias?.requiresGrad;
  const auxBuf = aux?.buffer ?? qb;
  const qShape = [B, H, Nq, d], kShape = [B, H, Nk, d];
  const stats = empty([B, H, Nq, 2], 'f32', 'attention backward stats');
  if (Nq > 0) run(L, 'attn_bwd_pre', [o.buffer, gy.buffer, lse.buffer, stats.buffer], B * H * Nq);
  const dqkv = packed ? empty(packed.shape, 'f32', 'attention dqkv') : undefined;
  let dq: Tensor | undefined, dk: Tensor | undefined, dv: Tensor | undefined, dbias: Tensor | undefined;
  // dQ as partial sums from the dK/dV kernel, where the adapter's split and buffer limit allow it.
  const t = L.t;
  const kvChunks = splitOf(L, 'attn_bwd_dkv', Nk).chunks;
  const partial = needQ && !needBias && Nq > 0 && t.dqPartial &&
    (engine().gpu.limits.maxStorageBuffersPerShaderStage ?? 8) >= FUSED_STORAGE_BUFFERS + 1;
  // Packed, dQ is the first part of dQKV: the dQ kernels write rows 0 … B·H·Nq of their output.
  const dqOut = (): GPUBuffer => (dqkv ?? (dq = empty(qShape, 'f32', 'attention dq'))).buffer;
  if ((needQ || needBias) && !partial) {
    // Without a bias gradient the dS binding still needs a writable buffer of its own.
    const ds = empty(needBias ? [B, H, Nq, Nk] : [1], 'f32', 'attention dS');
    const dqBuf = dqOut();
    if (Nq > 0) {
      run(L, 'attn_bwd_dq', [qb, kb, vb, auxBuf, gy.buffer, stats.buffer, dqBuf, ds.buffer], Nq,
        { WRITE_DS: needBias ? 1 : 0 });
    }
    if (needBias) {
      dbias = sumTo(ds, bias!.shape);
      if (dbias !== ds) ds.dispose();
    } else ds.dispose();
    if (!needQ && dq) { dq.dispose(); dq = undefined; }
  }
  if (needKV || partial) {
    if (!dqkv) dk = empty(kShape, 'f32', 'attention dk');
    // Packed, dV goes into dQKV beside dK; the dV binding then gets a stand-in it never writes.
    dv = empty(dqkv ? [4] : kShape, 'f32', dqkv ? 'attention dv (unused)' : 'attention dv');
    const dqp = partial ? empty([B, H, kvChunks, Nq, d], 'f32', 'attention dQ partials') : undefined;
    run(L, 'attn_bwd_dkv', [qb, kb, vb, auxBuf, gy.buffer, stats.buffer, (dqkv ?? dk)!.buffer, dv.buffer, ...(dqp ? [dqp.buffer] : [])],
      Nk, { DV_IN_DK: dqkv ? 1 : 0 }, partial);
    if (dqp) {
      const dqBuf = dqOut();
      run(L, 'attn_dq_sum', [dqp.buffer, dqBuf], B * H * Nq * (d / 4));
      dqp.dispose();
    }
    if (dqkv) {
      dv.dispose();
      dv = undefined;
    } else {
      if (!need[1]) { dk!.dispose(); dk = undefined; }
      if (!need[2]) { dv.dispose(); dv = undefined; }
    }
  }
  stats.dispose();
  return { parts: dqkv ? [dqkv] : [dq, dk, dv], dbias };
}

// ---------------------------------------------------------------- composed (reference path)
/**
 * A masked score is replaced by -1e30 rather than -inf: softmax subtracts the row max (a real score,
 * |s| ≪ 1e30), so exp(-1e30 − max) underflows to exactly 0 and the masked key gets probability 0
 * and no gradient (where's backward sends none to the replaced branch), while a finite value never
 * produces inf − inf = NaN. A row with every key masked would come out uniform instead (all its
 * scores equal); it is multiplied by 0 to give the fused kernel's zeros.
 * A row made empty by -inf bias values alone is outside this path's domain (softmax gives NaN).
 */
const MASKED_SCORE = -1e30;

function composed(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions, dims: Dims): AttentionResult {
  const { B, Nk, d } = dims;
  const scale = o.scale ?? 1 / Math.sqrt(d);
  const res = scope(() => {
    let s = mulScalar(matmul(q, k, { transB: true }), scale);
    if (o.bias) s = add(s, o.bias);
    let rowAny: Tensor | undefined;
    if (o.keyMask) {
      const cond = reshape(o.keyMask, [B, 1, 1, Nk]);
      s = where(cond, s, fill([1], MASKED_SCORE));
      // 1 for a batch row with at least one attended key, else 0.
      rowAny = reshape(max(where(o.keyMask, fill([1], 1), fill([1], 0)), -1, true), [B, 1, 1, 1]);
    }
    const pRaw = softmax(s);
    const p = rowAny ? mul(pRaw, rowAny) : pRaw;
    const out = matmul(p, v);
    // lse = max(s) − log(max(p)), since max(p) = exp(max(s) − lse): two row reductions, no extra exp pass.
    const lse = noGrad(() => {
      const l = sub(max(s, -1), log(max(pRaw, -1)));
      return rowAny ? where(reshape(rowAny, [B, 1, 1]), l, fill([1], -Infinity)) : l;
    });
    return { out, lse, probs: o.returnProbs ? p.detach() : undefined };
  });
  if (!res.probs) delete res.probs;
  return res as AttentionResult;
}
