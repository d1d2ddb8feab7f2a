// Patch reconstruction loss benchmark: forward + backward (gradients to the prediction and to the
// image) of the fused kernels against the same loss composed from primitive ops, at CIFAR MAE
// shapes (32×32×3 images, p 4: 64 patches of 48 values), with and without norm_pix.
//
// TF.js's composition of the same loss (reshape/transpose patchify, moments, tf.grads) runs on the
// same GPUDevice as the third implementation.
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
import { interleavedMedians, loadTfjs, tfOnce, type TfSide, type TfTensor } from './timing.js';

export interface PatchBenchRow {
  kernel: 'patch_loss';
  shape: string;
  impl: 'amrm' | 'amrm-composed' | 'tfjs';
  adapter: string;
  median_ms: number;
  gbps: number;
}

export interface PatchBenchOptions { quick?: boolean; noTfjs?: boolean; }

const C = 3, H = 32, W = 32, P = 4, MASK_RATIO = 0.25;
const N = (H / P) * (W / P), DIM = P * P * C;

/** Inputs of one case: images in [0, 1], predictions, and a mask hiding MASK_RATIO of each image's patches. */
function caseData(batch: number): { img: Float32Array; pred: Float32Array; mask: Float32Array } {
  const rng = new Rng(7 + batch);
  const img = Float32Array.from({ length: batch * C * H * W }, () => rng.uniform(0, 1));
  const pred = Float32Array.from({ length: batch * N * DIM }, () => rng.uniform(-1, 1));
  const mask = new Float32Array(batch * N);
  for (let b = 0; b < batch; b++) {
    const perm = rng.permutation(N);
    for (let k = 0; k < Math.round(MASK_RATIO * N); k++) mask[b * N + perm[k]] = 1;
  }
  return { img, pred, mask };
}

/** The loss in TF.js ops: patchify as reshape + transpose (values in (row, col, channel) order). */
function tfLoss(side: TfSide, batch: number, normPix: boolean): (pred: TfTensor, img: TfTensor, mask: TfTensor) => TfTensor {
  const tf = side.tf;
  return (pred, img, mask) => {
    let t = tf.reshape(tf.transpose(tf.reshape(img, [batch, C, H / P, P, W / P, P]), [0, 2, 4, 3, 5, 1]), [batch, N, DIM]);
    if (normPix) {
      const { mean, variance } = tf.moments(t, -1, true);
      // Unbiased variance, as MAE's forward_loss (torch's var()).
      t = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(tf.mul(variance, DIM / (DIM - 1)), 1e-6)));
    }
    const perPatch = tf.mean(tf.square(tf.sub(pred, t)), -1);
    return tf.div(tf.sum(tf.mul(perPatch, mask)), tf.sum(mask));
  };
}

/** Fused vs composed vs TF.js, forward+backward of the masked reconstruction loss; one row per case. */
export async function runPatchBench({ quick = false, noTfjs = false }: PatchBenchOptions = {}): Promise<{ rows: PatchBenchRow[]; tfjs: string }> {
  await init();
  const adapter = engine().gpu.kind;
  const rt = engine().runtime;
  const reps = quick ? 10 : 20;
  const tfSide = noTfjs ? 'left out (noTfjs)' : await loadTfjs();
  const tf = typeof tfSide === 'string' ? undefined : tfSide;
  const rows: PatchBenchRow[] = [];
  for (const batch of quick ? [32] : [32, 128]) {
    const { img, pred, mask } = caseData(batch);
    const tp = tensor(pred, [batch, N, DIM]).requireGrad();
    const tx = tensor(img, [batch, C, H, W]).requireGrad();
    const tm = tensor(mask, [batch, N]);
    const tfIn = tf ? [tf.tf.tensor(pred, [batch, N, DIM]), tf.tf.tensor(img, [batch, C, H, W]), tf.tf.tensor(mask, [batch, N])] : [];
    for (const normPix of [false, true]) {
      const bytes = 4 * (4 * batch * C * H * W + batch * N);
      const amrm = (impl: PatchLossImpl) => async () => {
        await asyncScope(async () => {
          const loss = reconstructionLoss(tp, tx, tm, { p: P, normPix, impl });
          grad(loss, [tp, tx]);
          await rt.sync(); // timed to completion
        });
      };
      const names: PatchBenchRow['impl'][] = ['amrm', 'amrm-composed'];
      const impls = [amrm('fused'), amrm('composed')];
      if (tf) {
        const f = tfLoss(tf, batch, normPix);
        const g = tf.tf.grads((p: TfTensor, x: TfTensor) => f(p, x, tfIn[2]));
        names.push('tfjs');
        impls.push(tfOnce(tf, () => g([tfIn[0], tfIn[1]])));
      }
      const ms = await interleavedMedians(reps, 20_000, impls);
      for (const [i, impl] of names.entries()) {
        if (ms[i] === undefined) continue;
        rows.push({
          kernel: 'patch_loss', shape: `[${batch}, ${C}, ${H}, ${W}] p ${P}${normPix ? ' normPix' : ''}`,
          impl, adapter, median_ms: ms[i]!, gbps: bytes / (ms[i]! * 1e6),
        });
      }
    }
    for (const t of [tp, tx, tm]) t.dispose();
    if (tf) tf.tf.dispose(tfIn);
  }
  return { rows, tfjs: typeof tfSide === 'string' ? tfSide : `${tfSide.version} (WebGPU backend) on the same GPUDevice` };
}
