// `amrm eval-mae --dataset mnist|cifar10 [--data DIR] --mae FILE [--mask-ratio 0.75] [--seed 1234]
// [--batch 100] [--json OUT] [--png FILE]`: the MAE's reconstruction loss on the held-out images, computed as
// `amrm train` reports it after each epoch (same seed, batch and ratio: the same number), so a
// shipped model's card can be checked with one command. --png writes a picture of the first test
// images: originals, masked inputs and reconstructions, one row each.
import { init } from '../engine/engine.js';
import { UsageError, intFlag, parseFlags, ratioFlag, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { loadStateDictFile, writeAtomic } from '../engine/io/node.js';
import { loadSplit } from '../data/split.js';
import { MAE } from '../models/mae.js';
import { MaeReconstructor } from '../models/reconstructor.js';
import { maeHeldOutLoss } from '../eval/mae.js';
import { reconstructionView, stageGrid } from '../eval/reconstruction_figure.js';
import { writePngGrid } from '../data/png.js';

export const EVAL_MAE_USAGE = `  eval-mae --dataset mnist|cifar10 [--data DIR] --mae FILE [--mask-ratio 0.75] [--seed 1234] [--batch 100] [--json OUT]
         [--png FILE [--show 8]]    an MAE's reconstruction loss on the held-out (test) images; --png: the
                                     first test images, masked (mask drawn from --seed) and reconstructed`;

const FLAGS = ['--dataset', '--data', '--mae', '--mask-ratio', '--seed', '--batch', '--json', '--png', '--show'];

interface EvalMaeArgs {
  dataset: 'mnist' | 'cifar10'; data?: string; file: string; maskRatio: number; seed: number; batch: number; json?: string;
  png?: string; show: number;
}

function parse(args: string[]): EvalMaeArgs {
  const got = parseFlags(args, { valued: FLAGS }).values;
  const dataset = got.get('--dataset') ?? 'mnist';
  if (dataset !== 'mnist' && dataset !== 'cifar10') throw new UsageError(`--dataset must be mnist or cifar10, got '${dataset}'`);
  const file = got.get('--mae');
  if (!file) throw new UsageError('--mae FILE is required');
  if (dataset === 'cifar10' && !got.has('--data')) throw new UsageError('--dataset cifar10 needs --data DIR');
  const maskRatio = ratioFlag(got, '--mask-ratio', { positive: true }) ?? 0.75;
  return {
    dataset, data: got.get('--data'), file, maskRatio,
    seed: intFlag(got, '--seed', 0) ?? 1234, batch: intFlag(got, '--batch', 1) ?? 100, json: got.get('--json'),
    png: got.get('--png'), show: intFlag(got, '--show', 1) ?? 8,
  };
}

export async function evalMaeCommand(args: string[]): Promise<number> {
  const a = withUsage('eval-mae', EVAL_MAE_USAGE, () => parse(args));
  if (a === 2) return 2;
  checkOutputFiles([a.json, a.png]);
  const { dataset, file, maskRatio, seed, batch } = a;
  const set = loadSplit(dataset, a.data, 'test');
  const eng = await init();
  const mae = MAE.load(loadStateDictFile(file));
  try {
    const t0 = performance.now();
    const r = await maeHeldOutLoss(mae, set, { batch: Math.min(batch, set.n), seed, maskRatio });
    const seconds = (performance.now() - t0) / 1000;
    console.log(`${file} on ${dataset} test (${r.n} images, mask ratio ${maskRatio}, seed ${seed}): reconstruction loss ${r.loss.toFixed(4)}, ${(r.n / seconds).toFixed(1)} images/s, adapter ${eng.gpu.kind}`);
    if (a.png) {
      const show = Math.min(a.show, set.n);
      const per = set.shape[1] * set.shape[2] * set.shape[3];
      const x = set.images.subarray(0, show * per);
      const v = await reconstructionView(new MaeReconstructor(mae), x, show, { maskRatio, seed });
      writePngGrid(a.png, stageGrid([x, v.masked, v.rec], show, per), [3 * show, set.shape[1], set.shape[2], set.shape[3]], { cols: show, pad: 2 });
      console.log(`wrote ${a.png} (rows: original, masked, reconstruction; test images 0-${show - 1})`);
    }
    const json = a.json;
    if (json) {
      writeAtomic(json, JSON.stringify({ n: r.n, reconstruction_loss: r.loss, images_per_s: r.n / seconds, config: { dataset, mae: file, mask_ratio: maskRatio, seed, batch, adapter: eng.gpu.kind },
        command: `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm eval-mae ${args.join(' ')}`, date: new Date().toISOString() }, null, 2) + '\n');
      console.log(`wrote ${json}`);
    }
    return 0;
  } finally {
    mae.dispose();
  }
}
