// Patch reconstruction loss benchmark: forward + backward (gradients to the prediction and to the
// image) of the fused kernels against the same loss composed from primitive ops, at CIFAR MAE
// shapes (32×32×3 images, p 4: 64 patches of 48 values), with and without norm_pix.
//
// GB/s counts the traffic the math cannot avoid: read pred and img, write d pred and d img, and
// read the mask, in f32. Both implementations are charged the same bytes, so the GB/s ratio is the
// speed ratio.
import { init, engine } from '../src/engine/engine.js';
import { asyncScope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { grad } from '../src/engine/autograd.js';
import { reconstructionLoss, type PatchLossImpl } from '../src/engine/ops/patch.js';
import { Rng } from '../src/engine/random.js';

export interface PatchBenchRow {
  kernel: 'patch_loss';
  shape: string;
  impl: 'amrm' | 'amrm-composed';
  adapter: string;
  median_ms: number;
  gbps: number;
}

export interface PatchBenchOptions { quick?: boolean; }

const C = 3, H = 32, W = 32, P = 4, MASK_RATIO = 0.25;
const N = (H / P) * (W / P), DIM = P * P * C;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timeOne(batch: number, normPix: boolean, impl: PatchLossImpl, runs: number, warmup: number): Promise<number> {
  const rng = new Rng(7 + batch);
  const img = Float32Array.from({ length: batch * C * H * W }, () => rng.uniform(0, 1));
  const pred = Float32Array.from({ length: batch * N * DIM }, () => rng.uniform(-1, 1));
  const mask = new Float32Array(batch * N);
  for (let b = 0; b < batch; b++) {
    const perm = rng.permutation(N);
    for (let k = 0; k < Math.round(MASK_RATIO * N); k++) mask[b * N + perm[k]] = 1;
  }
  const rt = engine().runtime;
  return asyncScope(async () => {
    const tp = tensor(pred, [batch, N, DIM]).requireGrad();
    const tx = tensor(img, [batch, C, H, W]).requireGrad();
    const tm = tensor(mask, [batch, N]);
    const times: number[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      await rt.sync();
      const t0 = performance.now();
      await asyncScope(async () => {
        const loss = reconstructionLoss(tp, tx, tm, { p: P, normPix, impl });
        grad(loss, [tp, tx]);
        await rt.sync(); // timed to completion
      });
      const t1 = performance.now();
      if (i >= warmup) times.push(t1 - t0);
    }
    return median(times);
  });
}

/** Fused vs composed forward+backward of the masked reconstruction loss; one row per case. */
export async function runPatchBench({ quick = false }: PatchBenchOptions = {}): Promise<PatchBenchRow[]> {
  await init();
  const adapter = engine().gpu.kind;
  const runs = quick ? 10 : 20, warmup = quick ? 2 : 3;
  const rows: PatchBenchRow[] = [];
  for (const batch of quick ? [32] : [32, 128]) {
    for (const normPix of [false, true]) {
      const bytes = 4 * (4 * batch * C * H * W + batch * N);
      for (const [impl, name] of [['fused', 'amrm'], ['composed', 'amrm-composed']] as const) {
        const ms = await timeOne(batch, normPix, impl, runs, warmup);
        rows.push({
          kernel: 'patch_loss', shape: `[${batch}, ${C}, ${H}, ${W}] p ${P}${normPix ? ' normPix' : ''}`,
          impl: name, adapter, median_ms: ms, gbps: bytes / (ms * 1e6),
        });
      }
    }
  }
  return rows;
}
