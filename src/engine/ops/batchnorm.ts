// Inference-mode batch normalization, composed from broadcasting elementwise ops so that autograd
// supplies its gradients (to x, gamma, beta, and the running statistics too).
import { Tensor } from '../tensor.js';
import { checkF32, fmt } from '../shape.js';
import { add, addScalar, mul, rsqrt, sub } from './elementwise.js';
import { reshape } from './layout.js';

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
