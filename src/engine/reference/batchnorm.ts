// float64 reference of inference-mode batch normalization.
import { type Arr, arr } from './core.js';

/** Inference batch norm over axis 1: (x − mean) / sqrt(var + eps) · gamma + beta. */
export function batchNorm(x: Arr, mean: Arr, variance: Arr, gamma: Arr, beta: Arr, eps = 1e-5): Arr {
  const c = x.shape[1];
  const inner = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const y = arr(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const k = Math.floor(i / inner) % c;
    y.data[i] = ((x.data[i] - mean.data[k]) / Math.sqrt(variance.data[k] + eps)) * gamma.data[k] + beta.data[k];
  }
  return y;
}

/** Training batch norm over axis 1 with the batch's mean and biased variance. */
export function batchNormTrain(x: Arr, gamma: Arr, beta: Arr, eps = 1e-5): Arr {
  const c = x.shape[1];
  const inner = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const count = x.data.length / c;
  const mean = new Float64Array(c), variance = new Float64Array(c);
  for (let i = 0; i < x.data.length; i++) mean[Math.floor(i / inner) % c] += x.data[i] / count;
  for (let i = 0; i < x.data.length; i++) { const k = Math.floor(i / inner) % c; variance[k] += (x.data[i] - mean[k]) ** 2 / count; }
  const y = arr(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const k = Math.floor(i / inner) % c;
    y.data[i] = ((x.data[i] - mean[k]) / Math.sqrt(variance[k] + eps)) * gamma.data[k] + beta.data[k];
  }
  return y;
}
