// Why one attack on the classifier alone transfers through AMRM-Pure better than another: for each
// attack, how far past the classifier's decision boundary its adversarial images land (the margin
// z_y − max_{j≠y} z_j on the classifier, negative = fooled), how much of the ball they use, and how
// many the purified pipeline still classifies correctly. Same seeded CIFAR-10 test sample as
// bench/robust/cifar10.sh (positions 0..n-1 of the 128-image sample, seed 0), attacked where the
// classifier alone is right.
//
//   node dist/bench/robust/transfer.js --data ../shared/data/cifar-10-batches-bin \
//     [--n 64] [--json bench/results/robust/transfer-diagnosis-linf-8_255.json]
import { intFlag, parseFlags } from '../../src/cli/args.js';
import { init, engine } from '../../src/engine/engine.js';
import { loadStateDictFile, writeAtomic } from '../../src/engine/io/node.js';
import { loadCifar10 } from '../../src/data/cifar-fs.js';
import { subset } from '../../src/data/dataset.js';
import { sampleIndices } from '../../src/data/sample.js';
import { createClassifier } from '../../src/models/classifiers.js';
import { MAE } from '../../src/models/mae.js';
import { MaeReconstruction } from '../../src/purify/loss.js';
import { purifyConfig } from '../../src/purify/amrm.js';
import { classifierTarget, drawSeed, logitsOf, margins, predictions, purifiedTarget, type AttackTarget } from '../../src/attacks/target.js';
import { pgd, type AttackResult } from '../../src/attacks/pgd.js';
import { apgd } from '../../src/attacks/apgd.js';
import { median } from '../../src/engine/profile.js';

const EPS = 8 / 255, BATCH = 32;


async function batched<T>(n: number, f: (from: number, to: number) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let from = 0; from < n; from += BATCH) out.push(...await f(from, Math.min(n, from + BATCH)));
  return out;
}

const direct = process.argv[1]?.endsWith('/bench/robust/transfer.js');
if (direct) {
  const flags = parseFlags(process.argv.slice(2), { valued: ['--n', '--data', '--classifier', '--purifier', '--json'] }).values;
  const n = intFlag(flags, '--n', 1) ?? 64;
  const data = flags.get('--data') ?? '../shared/data/cifar-10-batches-bin';
  const classifierFile = flags.get('--classifier') ?? '../shared/models/resnet20-12fca82f.th';
  const purifierFile = flags.get('--purifier') ?? 'models/cifar10-mae.safetensors';
  await init();
  const all = loadCifar10(data, { split: 'test' });
  const sample = sampleIndices(all.n, 128, 0).slice(0, Math.min(n, 128));
  const classifier = createClassifier(undefined, loadStateDictFile(classifierFile));
  const mae = MAE.load(loadStateDictFile(purifierFile));
  const purifier = { model: new MaeReconstruction(mae), options: purifyConfig('mae-cifar10', { seed: 0 }) };
  const plain = classifierTarget(classifier), defended = purifiedTarget(classifier, purifier, 'exact');
  const per = 3 * 32 * 32, K = classifier.numClasses;

  // The images the classifier alone gets right, then their purified clean predictions.
  const full = subset(all, sample);
  const z0 = await logitsOf(plain, full.images, full.n, 0);
  const right = Array.from(predictions(z0, K)).flatMap((p, i) => (p === full.labels[i] ? [i] : []));
  const set = subset(full, right.map((i) => i));
  const x = set.images, y = set.labels;
  const purifiedPred = (xs: Float32Array, pass: number): Promise<number[]> => batched(set.n, async (a, b) =>
    Array.from(predictions(await logitsOf(defended, xs.slice(a * per, b * per), b - a, drawSeed(7, 2 * a + pass)), K)));
  const cleanPurified = await purifiedPred(x, 0);
  const pipelineRight = cleanPurified.map((p, i) => p === y[i]);
  console.log(`${set.n} of ${full.n} sampled test images right on the classifier; ${pipelineRight.filter(Boolean).length} also right after purification`);

  const attacks: { name: string; run: (t: AttackTarget) => Promise<AttackResult> }[] = [
    { name: 'PGD-20, first fooling iterate', run: (t) => pgd(t, x, y, { norm: 'linf', eps: EPS, steps: 20, seed: 1, keep: 'first' }) },
    { name: 'PGD-20, last iterate', run: (t) => pgd(t, x, y, { norm: 'linf', eps: EPS, steps: 20, seed: 1, keep: 'last' }) },
    { name: 'APGD-CE-20', run: (t) => apgd(t, x, y, { norm: 'linf', eps: EPS, steps: 20, seed: 1, loss: 'ce' }) },
  ];
  const rows = [];
  for (const a of attacks) {
    const t0 = performance.now();
    const r = await a.run(plain);
    const m = margins(await logitsOf(plain, r.adversarial, set.n, 0), K, y);
    let atBound = 0, absSum = 0;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(r.adversarial[i] - x[i]);
      absSum += d;
      if (d >= EPS - 1e-6) atBound++;
    }
    const pp = await purifiedPred(r.adversarial, 1);
    const keptRight = pp.filter((p, i) => p === y[i] && pipelineRight[i]).length;
    const row = {
      attack: a.name,
      fooled_classifier: Array.from(m).filter((v) => v < 0).length,
      classifier_margin_median: +median(m).toFixed(3),
      mean_abs_perturbation_over_eps: +(absSum / x.length / EPS).toFixed(3),
      fraction_of_pixels_at_eps: +(atBound / x.length).toFixed(3),
      purified_right: pp.filter((p, i) => p === y[i]).length,
      purified_right_of_pipeline_right: keptRight,
      seconds: +((performance.now() - t0) / 1000).toFixed(1),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const report = {
    bench: 'transfer-diagnosis', command: `node dist/bench/robust/transfer.js ${process.argv.slice(2).join(' ')}`,
    adapter: engine().gpu.kind, images: `CIFAR-10 test, positions 0-${sample.length - 1} of the seeded sample (128, seed 0)`,
    classifier: classifierFile, purifier: `${purifierFile}, mae-cifar10`, threat: 'l_inf 8/255, attacks on the classifier alone',
    classifier_right: set.n, pipeline_right: pipelineRight.filter(Boolean).length, rows, date: new Date().toISOString(),
  };
  const json = flags.get('--json');
  if (json) writeAtomic(json, JSON.stringify(report, null, 2) + '\n');
  mae.dispose();
  classifier.dispose();
  process.exit(0);
}
