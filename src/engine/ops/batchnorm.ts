// Batch normalization: inference mode with running statistics, composed from broadcasting
// elementwise ops so that autograd supplies its gradients (to x, gamma, beta and the running
// statistics too); training mode with batch statistics as fused kernels (kernels/batchnorm.wgsl).
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { record, noGrad } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { add, addScalar, mul, rsqrt, sub } from './elementwise.js';
import { reshape, slice } from './layout.js';
import source from '../../../kernels/batchnorm.wgsl';

/**
 * y = (x − mean) / sqrt(var + eps) · gamma + beta over axis 1 of x [N, C, ...], with the running
 * statistics (PyTorch's BatchNorm in eval mode). Computed as y = x·scale + shift with the
 * per-channel scale = gamma·rsqrt(var + eps) and shift = beta − mean·scale.
 */
export function batchNorm(x: Tensor, runningMean: Tensor, runningVar: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const op = 'batchNorm';
  checkF32(op, x, runningMean, runningVar, gamma, beta);
  if (x.rank < 2) throw new Error(`${op}: expected x [N, C, ...], got ${fmt(x.shape)}`);
  const c = x.shape[1];
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 1 || t.shape[0] !== c) throw new Error(`${op}: ${name} must be [${c}] for x ${fmt(x.shape)}, got ${fmt(t.shape)}`);
  }
  if (!(eps >= 0)) throw new Error(`${op}: eps must be ≥ 0, got ${eps}`);
  const bshape = x.shape.map((d, i) => (i === 1 ? c : 1));
  const shifted = addScalar(runningVar, eps);
  const inv = rsqrt(shifted);
  const scale = mul(gamma, inv);
  const meanScale = mul(runningMean, scale);
  const shift = sub(beta, meanScale);
  const scaleB = reshape(scale, bshape);
  const shiftB = reshape(shift, bshape);
  const xs = mul(x, scaleB);
  const y = add(xs, shiftB);
  // The intermediates stay alive through the graph (autograd keeps what it saved); drop our handles.
  for (const t of [shifted, inv, scale, meanScale, shift, scaleB, shiftB, xs]) t.dispose();
  return y;
}

/**
 * Training-mode batch normalization over axis 1 of x [N, C, ...]: each channel normalized by the
 * batch's own mean and biased variance, y = (x − μ)·rsqrt(σ² + eps)·gamma + beta, with the full
 * backward (through μ and σ² too) to x, gamma and beta. Three dispatches forward and three backward
 * (kernels/batchnorm.wgsl) where the composition from reductions and broadcasting ops took about
 * twelve and twenty-five. Also returns the batch mean and the unbiased variance [C] (no gradient),
 * which the caller folds into its running statistics as PyTorch does:
 * running = (1 − momentum)·running + momentum·batch.
 */
export function batchNormTrain(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): { y: Tensor; mean: Tensor; variance: Tensor } {
  const op = 'batchNormTrain';
  checkF32(op, x, gamma, beta);
  if (x.rank < 2) throw new Error(`${op}: expected x [N, C, ...], got ${fmt(x.shape)}`);
  const c = x.shape[1];
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 1 || t.shape[0] !== c) throw new Error(`${op}: ${name} must be [${c}] for x ${fmt(x.shape)}, got ${fmt(t.shape)}`);
  }
  const count = x.size / c;
  if (count < 2) throw new Error(`${op}: needs more than one value per channel to estimate a variance, got x ${fmt(x.shape)}`);
  if (!(eps >= 0)) throw new Error(`${op}: eps must be ≥ 0, got ${eps}`);
  const n = x.shape[0], spatial = count / n;
  // Runs of batch rows per channel: enough invocations (C·parts ≥ 256) to fill the lanes.
  const parts = Math.max(1, Math.min(n, Math.ceil(256 / c)));
  const uniforms = [n, c, spatial, parts, f32bits(eps), 0, 0, 0];
  const rt = engine().runtime;
  const dispatch = (entry: string, buffers: Tensor[], invocations: number): void => {
    rt.dispatch({ kernel: 'batchnorm', source, entry, uniforms, buffers: buffers.map((t) => t.buffer), workgroups: grid1d(invocations, 64) });
  };
  const gb = empty([2 * c], 'f32', `${op} gamma|beta`);
  rt.copy(gamma.buffer, gb.buffer, c * 4);
  rt.copy(beta.buffer, gb.buffer, c * 4, 0, c * 4);
  const partials = empty([c * parts, 2], 'f32', `${op} partial sums`);
  const stats = empty([c, 8], 'f32', `${op} statistics`);
  const y = empty(x.shape, 'f32', op);
  dispatch('bn_partials', [x, partials], c * parts);
  dispatch('bn_combine', [partials, x, gb, stats], c);
  dispatch('bn_apply', [x, stats, y], x.size);
  partials.dispose();
  gb.dispose();
  const column = (t: Tensor, k: number): Tensor => reshape(slice(t, [0, k], [c, k + 1]), [c]);
  const out = record(op, y, [x, gamma, beta], [x, stats], (gy, [xs, st]) => {
    const bp = empty([c * parts, 2], 'f32', `${op} backward partial sums`);
    const bstats = empty([c, 8], 'f32', `${op} backward statistics`);
    dispatch('bn_bwd_partials', [xs, gy, st, bp], c * parts);
    dispatch('bn_bwd_combine', [bp, st, bstats], c);
    bp.dispose();
    let gx: Tensor | undefined;
    if (x.requiresGrad) {
      gx = empty(x.shape, 'f32', `${op} backward dx`);
      dispatch('bn_bwd_apply', [xs, gy, bstats, gx], x.size);
    }
    const dgamma = gamma.requiresGrad ? column(bstats, 6) : undefined;
    const dbeta = beta.requiresGrad ? column(bstats, 5) : undefined;
    bstats.dispose();
    return [gx, dgamma, dbeta];
  });
  const stat = noGrad(() => ({ mean: column(stats, 0), variance: column(stats, 4) }));
  stats.dispose(); // the node's saved handle keeps it for the backward
  return { y: out, mean: stat.mean, variance: stat.variance };
}
