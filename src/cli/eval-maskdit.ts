// `amrm eval-maskdit --dataset mnist|cifar10 [--data DIR] --model FILE [--sigma 0.1] [--mask-ratio 0.5]
// [--seed 1234] [--batch 100] [--json OUT] [--png FILE]`: a MaskDiT's training loss on the held-out
// images at a fixed noise level, computed as `amrm train maskdit` reports it after each epoch (same
// seed, batch, σ and ratio: the same number), so a shipped model's card can be checked with one
// command. --png writes the first test images as rows: clean, noised (y + n at σ), the noised input
// with its hidden patches grey, and the denoised D(y + n; σ) under that mask (its hidden patches
// predicted by the decoder from the visible ones, shown as MaskDiT.picture does).
import { init } from '../engine/engine.js';
import { UsageError, intFlag, numFlag, parseFlags, ratioFlag, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { loadStateDictFile, writeAtomic } from '../engine/io/node.js';
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import { writePngGrid } from '../data/png.js';
import { MaskDiT, diffusionNoise } from '../models/maskdit.js';
import { maskDitHeldOutLoss } from '../eval/maskdit.js';
import { maskedView, stageGrid } from '../eval/reconstruction_figure.js';
import { datasetFlag, loadTestSet } from './shipped.js';

export const EVAL_MASKDIT_USAGE = `  eval-maskdit [--dataset mnist|cifar10] [--data DIR] --model FILE [--sigma 0.1] [--mask-ratio 0.5]
         [--seed 1234] [--batch 100] [--json OUT] [--png FILE [--show 8]]
                                     a MaskDiT's training loss on the held-out (test) images at noise level
                                     σ ([-1, 1] units); --png: the first test images clean, noised, masked
                                     and denoised`;

const FLAGS = ['--dataset', '--data', '--model', '--sigma', '--mask-ratio', '--seed', '--batch', '--json', '--png', '--show'];

export async function evalMaskDitCommand(args: string[]): Promise<number> {
  const a = withUsage('eval-maskdit', EVAL_MASKDIT_USAGE, () => {
    const got = parseFlags(args, { valued: FLAGS }).values;
    const { dataset, data } = datasetFlag(got);
    const file = got.get('--model');
    if (!file) throw new UsageError('--model FILE is required (a MaskDiT checkpoint)');
    const maskRatio = ratioFlag(got, '--mask-ratio', { positive: true }) ?? 0.5;
    const sigma = numFlag(got, '--sigma', 1e-6) ?? 0.1;
    return {
      dataset, data, file, maskRatio, sigma, seed: intFlag(got, '--seed', 0) ?? 1234, batch: intFlag(got, '--batch', 1) ?? 100,
      json: got.get('--json'), png: got.get('--png'), show: intFlag(got, '--show', 1) ?? 8,
    };
  });
  if (a === 2) return 2;
  checkOutputFiles([a.json, a.png]);
  const set = loadTestSet(a.dataset, a.data);
  const eng = await init();
  const model = MaskDiT.load(loadStateDictFile(a.file));
  try {
    const [, C, H, W] = set.shape, per = C * H * W;
    const want = [model.config.inChans, ...model.config.imgSize].join();
    if (want !== [C, H, W].join()) throw new Error(`${a.file} takes [${want}] images, ${a.dataset} has [${C},${H},${W}]`);
    const t0 = performance.now();
    const r = await maskDitHeldOutLoss(model, set, { batch: Math.min(a.batch, set.n), seed: a.seed, maskRatio: a.maskRatio, sigma: a.sigma });
    const seconds = (performance.now() - t0) / 1000;
    console.log(`${a.file} on ${a.dataset} test (${r.n} images, σ ${a.sigma}, mask ratio ${a.maskRatio}, seed ${a.seed}): loss ${r.loss.toFixed(4)} ` +
      `(denoising ${r.denoising.toFixed(4)}, its unweighted MSE ${r.denoisingMse.toExponential(3)}), ${(r.n / seconds).toFixed(1)} images/s, adapter ${eng.gpu.kind}`);
    if (a.png) {
      const show = Math.min(a.show, set.n);
      const x = set.images.subarray(0, show * per);
      const rows = await asyncScope(async () => {
        const rng = new Rng(a.seed);
        const n = diffusionNoise(rng, Array<number>(show).fill(a.sigma), per);
        // In [-1, 1] units: y = 2x − 1, noised y + n; pictures map back by (v + 1) / 2.
        const noisy = Float32Array.from(x, (v, i) => 2 * v - 1 + n[i]);
        const plan = model.maskPlan(show, { maskRatio: a.maskRatio, rng });
        const d = noGrad(() => {
          const input = tensor(noisy, [show, C, H, W]);
          const { patches, plan: used } = model.denoisePatches(input, { sigma: a.sigma, mask: plan.mask });
          return model.picture(patches, input, used);
        });
        const toImage = (v: ArrayLike<number>): Float32Array => Float32Array.from(v, (u) => (u + 1) / 2);
        const noisedImage = toImage(noisy);
        return [x, noisedImage, maskedView(noisedImage, plan.mask, C, H, W, model.config.patchSize), toImage(await d.data())];
      });
      writePngGrid(a.png, stageGrid(rows, show, per), [rows.length * show, C, H, W], { cols: show, pad: 2 });
      console.log(`wrote ${a.png} (rows: clean, noised at σ ${a.sigma}, masked, denoised; test images 0-${show - 1})`);
    }
    if (a.json) {
      writeAtomic(a.json, JSON.stringify({
        n: r.n, loss: r.loss, denoising: r.denoising, denoising_mse: r.denoisingMse, images_per_s: r.n / seconds,
        config: { dataset: a.dataset, model: a.file, sigma: a.sigma, mask_ratio: a.maskRatio, seed: a.seed, batch: a.batch, adapter: eng.gpu.kind },
        command: `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm eval-maskdit ${args.join(' ')}`, date: new Date().toISOString(),
      }, null, 2) + '\n');
      console.log(`wrote ${a.json}`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}
