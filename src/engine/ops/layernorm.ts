// Layer normalization over the last axis with optional affine gamma/beta (PyTorch semantics:
// biased variance). The backward rebuilds each row's mean and 1/std from the saved input.
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, scope, Tensor } from '../tensor.js';
import { isHigherOrder, record } from '../autograd.js';
import { add, addScalar, mul, rsqrt, sub } from './elementwise.js';
import { checkF32, fmt } from '../shape.js';
import { mean, sum } from './reduce.js';
import fullSource from '../../../kernels/layernorm.wgsl';
import subgroupEntries from '../../../kernels/layernorm_subgroup.wgsl';
import { tuning } from '../tuning.js';
import { specialize } from '../wgsl.js';

const WG = 64;
/** Invocations per row of the subgroup entries (layernorm_subgroup.wgsl's RW). */
const RW = 64;
/** The kernels without (the default) and with the dx pass's accumulated-gradient input. */
const source = specialize(fullSource, { file: 'layernorm.wgsl', drop: ['acc'] });
const subgroupSource = (acc: boolean): string => `enable subgroups;\n${acc ? fullSource : source}\n${subgroupEntries}`;

/**
 * The forward / dx launch of a row length: one invocation per row, or (vec4 rows, where the tuning
 * asks for subgroups) one workgroup per row with subgroup sums.
 */
function rowLaunch(rows: number, vec4: string, entry: 'layernorm_fwd' | 'layernorm_dx', acc = false) {
  const tag = acc ? '_acc' : '';
  if (!vec4 || tuning().rows !== 'subgroups') return { kernel: `layernorm${tag}`, family: 'layernorm', source: acc ? fullSource : source, entry: `${entry}${vec4}`, workgroups: grid1d(rows, WG) };
  if (!engine().gpu.features.includes('subgroups')) throw new Error('layerNorm: the subgroup row reduction needs the device feature \'subgroups\', which this adapter lacks');
  return { kernel: `layernorm_sg${tag}`, family: 'layernorm', source: subgroupSource(acc), entry: `${entry}4_sg`, workgroups: grid1d(rows * RW, RW) };
}
/** Rows per partial column sum in the dgamma/dbeta backward. */
const CHUNK_ROWS = 64;

function validate(x: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, eps: number): number {
  checkF32('layerNorm', x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : []));
  if (x.rank < 1) throw new Error(`layerNorm: expected a tensor of rank >= 1 (it normalizes the last axis), got ${fmt(x.shape)}`);
  const d = x.shape[x.rank - 1];
  if (d === 0) throw new Error(`layerNorm: the last axis of ${fmt(x.shape)} is empty`);
  for (const [name, p] of [['gamma', gamma], ['beta', beta]] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== d)) {
      throw new Error(`layerNorm: ${name} shape ${fmt(p.shape)} must be [${d}], the last axis of x ${fmt(x.shape)}`);
    }
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`layerNorm: eps must be a finite number >= 0, got ${eps}`);
  return d;
}

/**
 * (x − mean) / sqrt(var + eps) · gamma + beta over the last axis of x; gamma and beta have shape
 * [d] (absent: 1 and 0).
 */
export function layerNorm(x: Tensor, gamma?: Tensor, beta?: Tensor, eps = 1e-5): Tensor {
  const d = validate(x, gamma, beta, eps);
  // Inside differentiableTwice: the composed form, whose backward is itself differentiable.
  if (isHigherOrder()) return composedLayerNorm(x, gamma, beta, eps);
  const rows = x.size / d;
  const rt = engine().runtime;
  const vec4 = d % 4 === 0 ? '4' : '';
  const constants = { WG, HAS_GAMMA: gamma ? 1 : 0, HAS_BETA: beta ? 1 : 0 };
  // An absent gamma or beta binds x in its place (never read).
  const g = gamma ?? x, b = beta ?? x;
  const y = empty(x.shape, 'f32', 'layerNorm');
  const uniforms = [rows, d, f32bits(eps), CHUNK_ROWS, Math.max(1, Math.ceil(rows / CHUNK_ROWS)), 0, 0, 0];
  if (rows > 0) {
    rt.dispatch({ ...rowLaunch(rows, vec4, 'layernorm_fwd'), constants, uniforms, buffers: [x.buffer, g.buffer, b.buffer, y.buffer] });
  }
  const inputs = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  return record('layerNorm', y, inputs, [x, g], (gy, [xs, gs], pending) => {
    const dx = x.requiresGrad ? empty(x.shape, 'f32', 'layerNorm backward dx') : undefined;
    // x's gradient from its other consumers so far (a residual stream's), folded into this pass.
    const acc = dx && rows > 0 ? pending?.(0) : undefined;
    if (dx && rows > 0) {
      rt.dispatch({ ...rowLaunch(rows, vec4, 'layernorm_dx', !!acc), constants, uniforms, buffers: [xs.buffer, gs.buffer, gy.buffer, dx.buffer, ...(acc ? [acc.buffer] : [])] });
    }
    acc?.dispose();
    const wantGamma = !!gamma?.requiresGrad, wantBeta = !!beta?.requiresGrad;
    let dgamma: Tensor | undefined, dbeta: Tensor | undefined;
    if (wantGamma || wantBeta) {
      [dgamma, dbeta] = paramGrads(xs, gy, d, vec4, uniforms);
      if (!wantGamma) { dgamma.dispose(); dgamma = undefined; }
      if (!wantBeta) { dbeta.dispose(); dbeta = undefined; }
    }
    const grads: (Tensor | undefined)[] = [dx];
    if (gamma) grads.push(dgamma);
    if (beta) grads.push(dbeta);
    return grads;
  });
}

/** The same normalization in recorded primitive ops (biased variance, as the kernel). */
function composedLayerNorm(x: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, eps: number): Tensor {
  return scope(() => {
    const dev = sub(x, mean(x, -1, true));
    let y = mul(dev, rsqrt(addScalar(mean(mul(dev, dev), -1, true), eps)));
    if (gamma) y = mul(y, gamma);
    if (beta) y = add(y, beta);
    return y;
  });
}

/** dgamma = Σ_rows gy·xh and dbeta = Σ_rows gy: partial sums per chunk of rows, then a sum over chunks. */
function paramGrads(xs: Tensor, gy: Tensor, d: number, vec4: string, uniforms: number[]): [Tensor, Tensor] {
  const rt = engine().runtime;
  const rows = uniforms[0], chunks = uniforms[4];
  // (mean, rstd) per row: recomputed here rather than saved by every forward, which would cost
  // inference and purification a buffer and a binding for what only training reads.
  const stats = empty([rows, 2], 'f32', 'layerNorm statistics');
  if (rows > 0) rt.dispatch({ kernel: 'layernorm', source, entry: 'layernorm_stats', constants: { WG }, uniforms, buffers: [xs.buffer, stats.buffer], workgroups: grid1d(rows, WG) });
  const part = empty([chunks, 2 * d], 'f32', 'layerNorm backward partial sums');
  rt.dispatch({
    kernel: 'layernorm', source, entry: `layernorm_dgb${vec4}`, constants: { WG }, uniforms,
    buffers: [xs.buffer, stats.buffer, gy.buffer, part.buffer], workgroups: grid1d(chunks * (vec4 ? d / 4 : d), WG),
  });
  stats.dispose();
  let total = part;
  if (chunks > 1) { total = sum(part, 0); part.dispose(); }
  const dgamma = empty([d], 'f32', 'layerNorm backward dgamma');
  const dbeta = empty([d], 'f32', 'layerNorm backward dbeta');
  rt.copy(total.buffer, dgamma.buffer, d * 4);
  rt.copy(total.buffer, dbeta.buffer, d * 4, d * 4);
  total.dispose();
  return [dgamma, dbeta];
}
