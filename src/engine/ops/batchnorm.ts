// Batch normalization (inference mode with running statistics; training mode with batch statistics),
// composed from broadcasting elementwise ops so that autograd
// supplies its gradients (to x, gamma, beta, and the running statistics too).
import { Tensor } from '../tensor.js';
import { checkF32, fmt } from '../shape.js';
import { add, addScalar, mul, mulScalar, rsqrt, sub } from './elementwise.js';
import { reshape } from './layout.js';
import { mean } from './reduce.js';
import { noGrad } from '../autograd.js';

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
 * batch's own mean and biased variance, y = (x − μ)·rsqrt(σ² + eps)·gamma + beta. Composed from
 * reductions and broadcasting ops, so autograd gives the full backward (through μ and σ² too);
 * a fused kernel would save dispatches but not change the result. Also returns the batch mean
 * and the unbiased variance [C] (no gradient), which the caller folds into its running statistics
 * as PyTorch does: running = (1 − momentum)·running + momentum·batch.
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
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const bshape = x.shape.map((d, i) => (i === 1 ? c : 1));
  const mu = mean(x, axes, true);
  const xc = sub(x, mu);
  const sq = mul(xc, xc);
  const v = mean(sq, axes, true);
  const ve = addScalar(v, eps);
  const inv = rsqrt(ve);
  const xn = mul(xc, inv);
  const g = reshape(gamma, bshape), b = reshape(beta, bshape);
  const xg = mul(xn, g);
  const y = add(xg, b);
  const stats = noGrad(() => ({ mean: reshape(mu, [c]), variance: mulScalar(reshape(v, [c]), count / (count - 1)) }));
  for (const t of [mu, xc, sq, v, ve, inv, xn, g, b, xg]) t.dispose();
  return { y, mean: stats.mean, variance: stats.variance };
}
