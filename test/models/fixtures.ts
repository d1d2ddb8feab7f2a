// Random classifier weights for tests: a state dict with the keys and shapes a model expects,
// scaled so that activations stay of order one through deep stacks.
import type { HostTensor } from '../../src/engine/io/host-tensor.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng } from '../../src/engine/random.js';

export function randomStateDict(keys: Map<string, number[]>, rng: Rng): Map<string, HostTensor> {
  const sd = new Map<string, HostTensor>();
  const u = (n: number, lo: number, hi: number): Float32Array => Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
  for (const [key, shape] of keys) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (shape.length === 4) {
      // Uniform with the variance of He initialization: 2 / fan_in.
      const a = Math.sqrt(6 / (shape[1] * shape[2] * shape[3]));
      data = u(n, -a, a);
    } else if (key.endsWith('running_var') || (key.endsWith('.weight') && shape.length === 1)) data = u(n, 0.5, 1.5);
    else if (key.endsWith('running_mean') || (key.endsWith('.bias') && shape.length === 1)) data = u(n, -0.3, 0.3);
    else data = u(n, -0.4, 0.4);
    sd.set(key, { shape: [...shape], dtype: 'f32', data });
    if (key.endsWith('.running_var')) {
      // As PyTorch saves it (int64, read as i32): accepted and ignored.
      sd.set(key.replace('running_var', 'num_batches_tracked'), { shape: [], dtype: 'i32', data: Int32Array.of(100) });
    }
  }
  return sd;
}

/** Σ sizes of the learned tensors (BatchNorm running statistics excluded), as PyTorch counts parameters. */
export function parameterCount(keys: Map<string, number[]>): number {
  let n = 0;
  for (const [k, s] of keys) if (!/running_(mean|var)$/.test(k)) n += s.reduce((a, b) => a * b, 1);
  return n;
}

/** Where the shared checkpoints and CIFAR-10 live on the development machine (absent elsewhere). */
export const MODELS_DIR = resolve(process.env.AMRM_MODELS ?? '../shared/models');
export const CIFAR_DIR = resolve(process.env.AMRM_DATA ?? '../shared/data', 'cifar-10-batches-bin');
export const RESNET20 = join(MODELS_DIR, 'resnet20-12fca82f.th');
export const RESNET56 = join(MODELS_DIR, 'resnet56-4bfd9763.th');

/** True when every path exists; otherwise prints a visible notice that `what` was skipped. */
export function haveFiles(what: string, ...paths: string[]): boolean {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length) console.log(`  NOTICE: ${missing.join(', ')} absent; ${what} skipped`);
  return missing.length === 0;
}
