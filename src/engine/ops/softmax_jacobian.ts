// The softmax Jacobian along attention rows (docs/method.md section 7): the JVP dA = A ∘ (dS − rowsum(A ∘ dS)),
// the fused first-order attention shift from (Q, K, dQ, dK), the VJP dS = A ∘ (G − rowsum(G ∘ A)),
// and the attention-variation loss ‖A − Aref‖²_F with its gradient back to Q and K.
//
// Every op has two implementations selectable at run time: 'fused' (kernels/softmax_jacobian.wgsl)
// and 'composed' (the same math from the engine's primitive ops, kept as the reference path that
// every fused result can be checked against). `setSoftmaxJacobianImpl` sets the default; each call
// can override it with `impl`.
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, scope, Tensor, type Shape } from '../tensor.js';
import { noGrad, record } from '../autograd.js';
import { checkF32, fmt, sameShape } from '../shape.js';
import { add, mul, mulScalar, neg, sub } from './elementwise.js';
import { sum } from './reduce.js';
import { softmax } from './softmax.js';
import { matmul } from './matmul.js';
import { specialize } from '../wgsl.js';
import { tuning } from '../tuning.js';
import source from '../../../kernels/softmax_jacobian.wgsl';

export type SoftmaxJacobianImpl = 'fused' | 'composed';
export interface SoftmaxJacobianOptions { impl?: SoftmaxJacobianImpl; }
export interface AttentionShiftOptions extends SoftmaxJacobianOptions {
  /** Multiplies the scores (default 1/√d, the attention temperature). */
  scale?: number;
}

let defaultImpl: SoftmaxJacobianImpl = 'fused';

/** Sets the implementation that calls without an `impl` option use; returns the previous one. */
export function setSoftmaxJacobianImpl(impl: SoftmaxJacobianImpl): SoftmaxJacobianImpl {
  if (impl !== 'fused' && impl !== 'composed') throw new Error(`setSoftmaxJacobianImpl: unknown implementation '${impl}' (fused or composed)`);
  const prev = defaultImpl;
  defaultImpl = impl;
  return prev;
}
export const softmaxJacobianImpl = (): SoftmaxJacobianImpl => defaultImpl;

function implOf(op: string, o: SoftmaxJacobianOptions): SoftmaxJacobianImpl {
  const impl = o.impl ?? defaultImpl;
  if (impl !== 'fused' && impl !== 'composed') throw new Error(`${op}: unknown impl '${impl}' (fused or composed)`);
  return impl;
}

// ---------------------------------------------------------------- kernel plumbing
const WG = 64;


const variants = new Map<string, { kernel: string; source: string }>();
/**
 * The kernel source for one shift blocking and operand layout: the `const` lines set, the branch
 * of the other layout removed, the marked loops unrolled and the shift's private arrays split into
 * variables. (The row kernels use the default variant.)
 */
function variant(tr = 4, tc4 = 1, direct = false): { kernel: string; source: string } {
  const key = `tr${tr}_c${tc4}_${direct ? 'direct' : 'packed'}`;
  let v = variants.get(key);
  if (!v) {
    const src = specialize(source, {
      file: 'softmax_jacobian.wgsl', set: { TR: tr, TC4: tc4 }, flags: { DIRECT: direct }, unroll: { bounds: { KC: 4 * tc4 } },
      scalarize: ['xb', 'acc', 'yb', 'blk', ...(direct ? ['xd', 'xq'] : ['xv'])],
    });
    v = { kernel: `softmax_jacobian_${key}`, source: src };
    variants.set(key, v);
  }
  return v;
}

interface Launch {
  entry: string;
  buffers: GPUBuffer[];
  /** One invocation per row or element, over a 1-D grid of 64-wide workgroups. */
  invocations: number;
  rows?: number; n?: number; m?: number; p4?: number;
  scale?: number; total?: number; per?: number;
}

const uniformsOf = (l: Omit<Launch, 'entry' | 'buffers' | 'invocations'>): number[] =>
  [l.rows ?? 0, l.n ?? 0, l.m ?? 0, l.p4 ?? 0, 0, f32bits(l.scale ?? 1), l.total ?? 0, l.per ?? 0];

/** The row and elementwise kernels (the default variant's module serves them all). */
function launch(l: Launch): void {
  if (l.invocations === 0) return;
  const { kernel, source: src } = variant();
  engine().runtime.dispatch({
    kernel, family: 'softmax_jacobian', source: src, entry: l.entry, constants: { WG },
    uniforms: uniformsOf(l), buffers: l.buffers, workgroups: grid1d(l.invocations, WG),
  });
}

/** Rows and row length of a tensor seen over its last axis. */
function rowsOf(t: Tensor): [number, number] {
  const n = t.shape[t.rank - 1];
  return [n === 0 ? 0 : t.size / n, n];
}

/** out = scale · A ∘ (V − rowsum(A ∘ V)), no autograd. */
function jvpRaw(A: Tensor, V: Tensor, scale: number, what: string): Tensor {
  const out = empty(A.shape, 'f32', what);
  const [rows, n] = rowsOf(A);
  if (n > 0) launch({ entry: 'jvp', buffers: [A.buffer, V.buffer, out.buffer], invocations: rows, rows, n, scale });
  return out;
}

/** Gradient of A ∘ (V − rowsum(A ∘ V)) with respect to A, given the output gradient g. */
function jvpGradA(A: Tensor, V: Tensor, g: Tensor): Tensor {
  const out = empty(A.shape, 'f32', 'softmaxJvp backward');
  const [rows, n] = rowsOf(A);
  if (n > 0) launch({ entry: 'jvp_grad_a', buffers: [A.buffer, V.buffer, g.buffer, out.buffer], invocations: rows, rows, n });
  return out;
}

// ---------------------------------------------------------------- shape rules
function checkRowPair(op: string, A: Tensor, V: Tensor, vName: string): void {
  checkF32(op, A, V);
  if (A.rank < 1) throw new Error(`${op}: A must have rank >= 1 (rows along the last axis), got ${fmt(A.shape)}`);
  if (!sameShape(A.shape, V.shape)) throw new Error(`${op}: A ${fmt(A.shape)} and ${vName} ${fmt(V.shape)} must have the same shape`);
}

interface AttnDims { lead: number[]; batch: number; N: number; M: number; d: number; }

/** Q [..., N, d], K [..., M, d] with the same leading dimensions. */
function attnDims(op: string, Q: Tensor, K: Tensor): AttnDims {
  checkF32(op, Q, K);
  if (Q.rank < 2 || K.rank !== Q.rank) throw new Error(`${op}: Q ${fmt(Q.shape)} and K ${fmt(K.shape)} must have the same rank >= 2 ([..., N, d] and [..., M, d])`);
  const lead = Q.shape.slice(0, -2);
  const d = Q.shape[Q.rank - 1];
  if (!sameShape(lead, K.shape.slice(0, -2)) || K.shape[K.rank - 1] !== d) {
    throw new Error(`${op}: Q ${fmt(Q.shape)} and K ${fmt(K.shape)} must agree in leading dimensions and in d ([..., N, d] and [..., M, d])`);
  }
  return { lead, batch: lead.reduce((a, b) => a * b, 1), N: Q.shape[Q.rank - 2], M: K.shape[K.rank - 2], d };
}

function checkScores(op: string, name: string, A: Tensor, g: AttnDims): void {
  checkF32(op, A);
  const want = [...g.lead, g.N, g.M];
  if (!sameShape(A.shape, want)) throw new Error(`${op}: ${name} ${fmt(A.shape)} must have shape ${fmt(want)} (queries × keys of Q and K)`);
}

const scaleOf = (op: string, o: AttentionShiftOptions, d: number): number => {
  const s = o.scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(s)) throw new Error(`${op}: scale ${s} must be a finite number`);
  return s;
};

// ---------------------------------------------------------------- composed reference paths
/** scale · A ∘ (V − rowsum(A ∘ V)) from mul, sum, sub (autograd through the primitives). */
function jvpComposed(A: Tensor, V: Tensor, scale = 1): Tensor {
  return scope(() => {
    const r = sum(mul(A, V), -1, true);
    const out = mul(A, sub(V, r));
    return scale === 1 ? out : mulScalar(out, scale);
  });
}

/** dS = (dQ Kᵀ + Q dKᵀ) · scale from matmul, add, mulScalar. */
function scoreShiftComposed(Q: Tensor, K: Tensor, dQ: Tensor, dK: Tensor, scale: number): Tensor {
  return scope(() => mulScalar(add(matmul(dQ, K, { transB: true }), matmul(Q, dK, { transB: true })), scale));
}

function amvComposed(A: Tensor, Aref: Tensor): Tensor {
  return scope(() => {
    const t = sub(A, Aref);
    return sum(mul(t, t), [-2, -1]);
  });
}

// ---------------------------------------------------------------- JVP and VJP
function rowJacobian(op: 'softmaxJvp' | 'softmaxVjp', A: Tensor, V: Tensor, o: SoftmaxJacobianOptions): Tensor {
  checkRowPair(op, A, V, op === 'softmaxJvp' ? 'dS' : 'G');
  if (implOf(op, o) === 'composed') return jvpComposed(A, V);
  const out = jvpRaw(A, V, 1, op);
  return record(op, out, [A, V], [A, V], (gy, [As, Vs]) => [
    // The map is linear in V with a symmetric Jacobian, so V's gradient is the same map applied to gy.
    A.requiresGrad ? jvpGradA(As, Vs, gy) : undefined,
    V.requiresGrad ? jvpRaw(As, gy, 1, `${op} backward`) : undefined,
  ]);
}

/**
 * The softmax JVP along the last axis: for A = softmax(S) and a score shift dS,
 * dA = A ∘ (dS − rowsum(A ∘ dS)), the first-order change of A. A and dS share any shape of rank ≥ 1.
 */
export const softmaxJvp = (A: Tensor, dS: Tensor, o: SoftmaxJacobianOptions = {}): Tensor => rowJacobian('softmaxJvp', A, dS, o);

/**
 * The softmax VJP along the last axis: for A = softmax(S) and the gradient G of a loss with respect
 * to A, the gradient with respect to S, A ∘ (G − rowsum(G ∘ A)). (Numerically the same map as the
 * JVP, since the softmax Jacobian diag(A) − A Aᵀ is symmetric; kept as its own op for what it means.)
 */
export const softmaxVjp = (A: Tensor, G: Tensor, o: SoftmaxJacobianOptions = {}): Tensor => rowJacobian('softmaxVjp', A, G, o);

/** Packs [a_r, b_r] per row, zero-padded to 4·p4 values (the fused shift's operand layout). */
function packPair(a: Tensor, b: Tensor, rows: number, d: number, p4: number): Tensor {
  const out = empty([rows, 4 * p4], 'f32', 'attentionShift pack');
  const total = rows * 4 * p4;
  launch({ entry: 'pack_pair', buffers: [a.buffer, b.buffer, out.buffer], invocations: total, total, per: d, p4 });
  return out;
}

/** The fused shift kernel: dA from Q, K, dQ, dK and A, with dS never stored. No autograd. */
function shiftRaw(Q: Tensor, K: Tensor, dQ: Tensor, dK: Tensor, A: Tensor, g: AttnDims, scale: number): Tensor {
  const out = empty(A.shape, 'f32', 'attentionShift');
  if (out.size === 0) return out;
  const { batch, N, M, d } = g;
  const t = tuning().shift;
  const rt = engine().runtime;
  // The direct kernel reads the operands in place as vec4s: d a multiple of 4 and 6 storage buffers.
  const packed = t.packed ?? (d % 4 !== 0 || engine().gpu.limits.maxStorageBuffersPerShaderStage < 6);
  // Batch entries over y (and z past the per-dimension limit), row blocks over x.
  const gy = Math.min(batch, rt.maxWorkgroupsPerDim), gz = Math.ceil(batch / gy);
  const workgroups: [number, number, number] = [Math.ceil(N / (t.wg * t.tr)), gy, gz];
  const { kernel, source: src } = variant(t.tr, t.tc4, !packed);
  if (!packed) {
    rt.dispatch({
      kernel, family: 'softmax_jacobian', source: src, entry: 'shift', constants: { SWG: t.wg, DIRECT: 1 },
      uniforms: uniformsOf({ rows: batch, n: N, m: M, p4: d / 4, scale }),
      buffers: [Q.buffer, K.buffer, A.buffer, out.buffer, dQ.buffer, dK.buffer], workgroups,
    });
    return out;
  }
  const p4 = Math.max(1, Math.ceil((2 * d) / 4));
  // X_i = [dQ_i, Q_i], Y_j = [K_j, dK_j]: X_i · Y_j = dQ_i·K_j + Q_i·dK_j.
  const X = packPair(dQ, Q, batch * N, d, p4);
  const Y = packPair(K, dK, batch * M, d, p4);
  rt.dispatch({
    kernel, family: 'softmax_jacobian', source: src, entry: 'shift', constants: { SWG: t.wg },
    uniforms: uniformsOf({ rows: batch, n: N, m: M, p4, scale }),
    buffers: [X.buffer, Y.buffer, A.buffer, out.buffer], workgroups,
  });
  X.dispose();
  Y.dispose();
  return out;
}

/**
 * The exact first-order attention shift: with dS = (dQ Kᵀ + Q dKᵀ)·scale (scale defaults to 1/√d),
 * dA = A ∘ (dS − rowsum(A ∘ dS)). Q, dQ are [..., N, d], K, dK [..., M, d], A [..., N, M] (the
 * attention probabilities softmax(Q Kᵀ·scale)). The fused kernel never stores dS. Gradients flow
 * to all five inputs (dS is formed in the backward only when A needs its gradient).
 */
export function attentionShift(Q: Tensor, K: Tensor, dQ: Tensor, dK: Tensor, A: Tensor, o: AttentionShiftOptions = {}): Tensor {
  const op = 'attentionShift';
  const g = attnDims(op, Q, K);
  checkF32(op, dQ, dK);
  if (!sameShape(dQ.shape, Q.shape)) throw new Error(`${op}: dQ ${fmt(dQ.shape)} must have the shape of Q ${fmt(Q.shape)}`);
  if (!sameShape(dK.shape, K.shape)) throw new Error(`${op}: dK ${fmt(dK.shape)} must have the shape of K ${fmt(K.shape)}`);
  checkScores(op, 'A', A, g);
  const scale = scaleOf(op, o, g.d);
  if (implOf(op, o) === 'composed') return scope(() => jvpComposed(A, scoreShiftComposed(Q, K, dQ, dK, scale)));
  const out = shiftRaw(Q, K, dQ, dK, A, g, scale);
  const inputs = [Q, K, dQ, dK, A];
  return record(op, out, inputs, inputs, (gy, [Qs, Ks, dQs, dKs, As]) => {
    // gS = scale · J(A) gy (J symmetric), then the four products of dS = scale·(dQ Kᵀ + Q dKᵀ).
    const gS = jvpRaw(As, gy, scale, `${op} backward`);
    const grads = [
      Q.requiresGrad ? matmul(gS, dKs) : undefined,
      K.requiresGrad ? matmul(gS, dQs, { transA: true }) : undefined,
      dQ.requiresGrad ? matmul(gS, Ks) : undefined,
      dK.requiresGrad ? matmul(gS, Qs, { transA: true }) : undefined,
      A.requiresGrad ? scope(() => jvpGradA(As, scoreShiftComposed(Qs, Ks, dQs, dKs, scale), gy)) : undefined,
    ];
    gS.dispose();
    return grads;
  });
}

// ---------------------------------------------------------------- attention-variation loss
function amvShapes(op: string, A: Tensor, Aref: Tensor): { lead: Shape; rows: number; n: number } {
  checkF32(op, A, Aref);
  if (A.rank < 2) throw new Error(`${op}: A must be [..., N, M] (rank >= 2), got ${fmt(A.shape)}`);
  if (!sameShape(A.shape, Aref.shape)) throw new Error(`${op}: A ${fmt(A.shape)} and Aref ${fmt(Aref.shape)} must have the same shape`);
  const [rows, n] = rowsOf(A);
  if (A.shape[A.rank - 2] === 0 || n === 0) throw new Error(`${op}: A ${fmt(A.shape)} has no queries or no keys: there is no attention map to compare`);
  return { lead: A.shape.slice(0, -2), rows, n };
}

/** Sums per-row partials [..., N] into [...]; a raw tensor in, a raw tensor out. */
function sumRows(rowLoss: Tensor): Tensor {
  const s = sum(rowLoss, -1);
  rowLoss.dispose();
  return s;
}

/**
 * The attention variation ‖A − Aref‖²_F per attention map: A and Aref [..., N, M] give [...]
 * (per layer/head: [B, H] for [B, H, N, M]). The backward gives 2(A − Aref)·gy to A and its
 * negative to Aref.
 */
export function amvLoss(A: Tensor, Aref: Tensor, o: SoftmaxJacobianOptions = {}): Tensor {
  const op = 'amvLoss';
  const { lead, rows, n } = amvShapes(op, A, Aref);
  if (implOf(op, o) === 'composed') return amvComposed(A, Aref);
  const rowLoss = empty([...lead, A.shape[A.rank - 2]], 'f32', op);
  launch({ entry: 'amv_rows', buffers: [A.buffer, Aref.buffer, rowLoss.buffer], invocations: rows, rows, n });
  const loss = noGrad(() => sumRows(rowLoss));
  return record(op, loss, [A, Aref], [A, Aref], (gy, [As, Rs]) => {
    const gA = empty(A.shape, 'f32', `${op} backward`);
    const per = A.shape[A.rank - 2] * A.shape[A.rank - 1];
    launch({ entry: 'amv_bwd', buffers: [As.buffer, Rs.buffer, gy.buffer, gA.buffer], invocations: Math.ceil(A.size / 4), total: A.size, per: Math.max(per, 1) });
    const gRef = Aref.requiresGrad ? neg(gA) : undefined;
    if (!A.requiresGrad) { gA.dispose(); return [undefined, gRef]; }
    return [gA, gRef];
  });
}

/** Σ‖A − Aref‖²_F over every attention map, as a scalar (autograd flows through amvLoss and sum). */
export function amvLossSum(A: Tensor, Aref: Tensor, o: SoftmaxJacobianOptions = {}): Tensor {
  return scope(() => sum(amvLoss(A, Aref, o)));
}

export interface AmvGrad {
  /** ‖softmax(Q Kᵀ·scale) − Aref‖²_F per attention map, [...]. */
  loss: Tensor;
  /** Gradient of the summed loss with respect to Q, [..., N, d]. */
  dQ: Tensor;
  /** Gradient of the summed loss with respect to K, [..., M, d]. */
  dK: Tensor;
}

/**
 * The attention variation of A = softmax(Q Kᵀ·scale) from a reference Aref, and the gradient of its
 * sum back to Q and K: dS = A ∘ (G − rowsum(G ∘ A)) with G = 2(A − Aref), dQ = dS K·scale,
 * dK = dSᵀ Q·scale. The fused path forms G, the row loss and scale·dS in one pass per row; the
 * products run on the engine's matmul. Returns plain tensors (nothing is recorded).
 */
export function amvGradQK(Q: Tensor, K: Tensor, Aref: Tensor, o: AttentionShiftOptions = {}): AmvGrad {
  const op = 'amvGradQK';
  const g = attnDims(op, Q, K);
  checkScores(op, 'Aref', Aref, g);
  if (g.N === 0 || g.M === 0) throw new Error(`${op}: Q ${fmt(Q.shape)} and K ${fmt(K.shape)} give no queries or no keys: there is no attention map to compare`);
  const scale = scaleOf(op, o, g.d);
  const impl = implOf(op, o);
  return noGrad(() => scope(() => {
    if (impl === 'composed') {
      const A = softmax(mulScalar(matmul(Q, K, { transB: true }), scale));
      const dS = jvpComposed(A, mulScalar(sub(A, Aref), 2), scale);
      return { loss: amvComposed(A, Aref), dQ: matmul(dS, K), dK: matmul(dS, Q, { transA: true }) };
    }
    // Scaling Q (N·d values) rather than the scores (N·M) before the product.
    const A = softmax(matmul(mulScalar(Q, scale), K, { transB: true }));
    const dS = empty(A.shape, 'f32', `${op} dS`);
    const rowLoss = empty([...g.lead, g.N], 'f32', `${op} rows`);
    const rows = g.batch * g.N;
    launch({ entry: 'amv_vjp', buffers: [A.buffer, Aref.buffer, dS.buffer, rowLoss.buffer], invocations: rows, rows, n: g.M, scale });
    return { loss: sumRows(rowLoss), dQ: matmul(dS, K), dK: matmul(dS, Q, { transA: true }) };
  }));
}
