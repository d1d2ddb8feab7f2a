// `amrm eval-mae --dataset mnist|cifar10 [--data DIR] --mae FILE [--mask-ratio 0.75] [--seed 1234]
// [--batch 100] [--json OUT]`: the MAE's reconstruction loss on the held-out images, computed as
// `amrm train` reports it after each epoch (same seed, batch and ratio: the same number), so a
// shipped model's card can be checked with one command.
import { init } from '../engine/engine.js';
import { loadStateDictFile, writeAtomic } from '../engine/io/node.js';
import { loadMnistSplit } from '../data/mnist.js';
import { loadCifar } from '../data/cifar-fs.js';
import { MAE } from '../models/mae.js';
import { maeHeldOutLoss } from '../eval/mae.js';

export const EVAL_MAE_USAGE = `  eval-mae --dataset mnist|cifar10 [--data DIR] --mae FILE [--mask-ratio 0.75] [--seed 1234] [--batch 100] [--json OUT]
                                     an MAE's reconstruction loss on the held-out (test) images`;

const FLAGS = ['--dataset', '--data', '--mae', '--mask-ratio', '--seed', '--batch', '--json'];

export async function evalMaeCommand(args: string[]): Promise<number> {
  const got = new Map<string, string>();
  const fail = (msg: string): number => { console.error(`amrm eval-mae: ${msg}\nusage:\n${EVAL_MAE_USAGE}`); return 2; };
  for (let i = 0; i < args.length; i++) {
    if (!FLAGS.includes(args[i])) return fail(`unknown option '${args[i]}'`);
    const v = args[i + 1];
    if (v === undefined || v === '') return fail(`${args[i]} needs a value`);
    got.set(args[i], v);
    i++;
  }
  const dataset = got.get('--dataset') ?? 'mnist';
  if (dataset !== 'mnist' && dataset !== 'cifar10') return fail(`--dataset must be mnist or cifar10, got '${dataset}'`);
  const file = got.get('--mae');
  if (!file) return fail('--mae FILE is required');
  if (dataset === 'cifar10' && !got.has('--data')) return fail('--dataset cifar10 needs --data DIR');
  const maskRatio = Number(got.get('--mask-ratio') ?? 0.75), seed = Number(got.get('--seed') ?? 1234), batch = Number(got.get('--batch') ?? 100);
  if (!(maskRatio > 0 && maskRatio < 1)) return fail(`--mask-ratio must be in (0, 1), got '${got.get('--mask-ratio')}'`);
  if (!Number.isInteger(seed) || seed < 0) return fail(`--seed must be a non-negative integer, got '${got.get('--seed')}'`);
  if (!Number.isInteger(batch) || batch < 1) return fail(`--batch must be a positive integer, got '${got.get('--batch')}'`);
  const set = dataset === 'mnist' ? loadMnistSplit('test') : loadCifar(got.get('--data')!, 'cifar10', { split: 'test' });
  const eng = await init();
  const mae = MAE.load(loadStateDictFile(file));
  try {
    const t0 = performance.now();
    const r = await maeHeldOutLoss(mae, set, { batch: Math.min(batch, set.n), seed, maskRatio });
    const seconds = (performance.now() - t0) / 1000;
    console.log(`${file} on ${dataset} test (${r.n} images, mask ratio ${maskRatio}, seed ${seed}): reconstruction loss ${r.loss.toFixed(4)}, ${(r.n / seconds).toFixed(1)} images/s, adapter ${eng.gpu.kind}`);
    const json = got.get('--json');
    if (json) {
      writeAtomic(json, JSON.stringify({ n: r.n, reconstruction_loss: r.loss, images_per_s: r.n / seconds, config: { dataset, mae: file, mask_ratio: maskRatio, seed, batch, adapter: eng.gpu.kind } }, null, 2) + '\n');
      console.log(`wrote ${json}`);
    }
    return 0;
  } finally {
    mae.dispose();
  }
}
