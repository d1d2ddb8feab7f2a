// float64 reference of layer normalization over the last axis (biased variance, as PyTorch).
import { type Arr, arr } from './core.js';

export function layerNorm(x: Arr, gamma?: Arr, beta?: Arr, eps = 1e-5): Arr {
  const d = x.shape[x.shape.length - 1];
  const out = arr(x.shape);
  for (let b = 0; b < x.data.length; b += d) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x.data[b + i];
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x.data[b + i] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) {
      out.data[b + i] = (x.data[b + i] - mean) * rstd * (gamma ? gamma.data[i] : 1) + (beta ? beta.data[i] : 0);
    }
  }
  return out;
}
