// `amrm theorem`: Theorems 3.1 and 3.2, the exact first-order attention shift and the AMV oracle,
// measured on a purifier of either family (an MAE, or MaskDiT at its preset's σ_pur under one noise
// draw seeded by --seed) and real test images (src/eval/theorem.ts). Writes the report as JSON (every
// number, the conventions, the command), SVG plots beside it, and prints a summary table.
import { init } from '../engine/engine.js';
import { UsageError, fractionListFlag, intFlag, parseFlags, ratioFlag, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { writeAtomic } from '../engine/io/node.js';
import { purifyConfig } from '../purify/amrm.js';
import { purifyPresetNames } from '../purify/presets.js';
import type { Norm } from '../attacks/ball.js';
import { loadClassifierAndPurifier } from './purifier.js';
import { checkModelFiles, datasetFlag, sampleTestSet, shippedModels, type ShippedDataset } from './shipped.js';
import { theoremAnalysis } from '../eval/theorem.js';
import { theoremSummary, theoremSvgs } from '../eval/theorem_report.js';
import { THEOREM_CONVENTIONS } from '../eval/theorem_math.js';

/** The budgets of docs/method.md section 7 (and Figure 4's, without 0), l_inf in /255. */
const DEFAULT_BUDGETS = [0.5, 1, 2, 4, 8, 16].map((v) => v / 255);

export const THEOREM_USAGE = `  theorem [--dataset mnist|cifar10] [--data DIR] [--purifier FILE] [--classifier FILE] [--n 16] [--seed 0]
          [--eps 0.5/255,1/255,2/255,4/255,8/255,16/255] [--norm linf|l2] [--attack-steps 10]
          [--adaptive none|exact] [--preset NAME] [--purify-steps S] [--mask-ratio R]
          [--features 64] [--orthogonal] [--pairs 512] [--oracle-eps E|none] --json OUT
                                     Theorems 3.1 and 3.2 and the exact first-order attention shift on
                                     real test images under one mask, and the AMV oracle's purification
                                     beside L_rec's with the preset's masks per step (an MAE or MaskDiT
                                     purifier; preset default: the family's for the data set); writes OUT, the SVG
                                     plots beside it (OUT minus .json + -shift/-bound/-theorem32.svg)
                                     and prints a summary; the shipped models by default`;

interface TheoremArgs {
  dataset: ShippedDataset; data?: string; purifier: string; classifier: string; n: number; seed: number;
  budgets: number[]; norm: Norm; attackSteps: number; adaptive: 'none' | 'exact'; preset?: string; purifySteps?: number;
  maskRatio?: number; features: number; orthogonal: boolean; pairs: number; oracleEps?: number; json: string;
}

const VALUED = ['--dataset', '--data', '--purifier', '--classifier', '--n', '--seed', '--eps', '--norm', '--attack-steps', '--adaptive',
  '--preset', '--purify-steps', '--mask-ratio', '--features', '--pairs', '--oracle-eps', '--json'];

export function parseTheoremArgs(args: string[]): TheoremArgs {
  const flags = parseFlags(args, { valued: VALUED, switches: ['--orthogonal'] });
  const got = flags.values;
  const { dataset, data } = datasetFlag(got);
  const json = got.get('--json');
  if (!json) throw new UsageError('--json OUT is required (the report; the SVG plots go beside it)');
  if (!json.endsWith('.json')) throw new UsageError(`--json must name a .json file, got '${json}'`);
  const budgets = fractionListFlag(got, '--eps') ?? DEFAULT_BUDGETS;
  const norm = got.get('--norm') ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') throw new UsageError(`--norm must be linf or l2, got '${norm}'`);
  const adaptive = got.get('--adaptive') ?? 'none';
  if (adaptive !== 'none' && adaptive !== 'exact') throw new UsageError(`--adaptive must be none or exact, got '${adaptive}'`);
  // Without --preset the purifier's family picks it (mae-DATASET or maskdit-DATASET), once the file is read.
  const preset = got.get('--preset');
  if (preset !== undefined && !purifyPresetNames().includes(preset)) throw new UsageError(`--preset must be one of ${purifyPresetNames().join(', ')}, got '${preset}'`);
  const maskRatio = ratioFlag(got, '--mask-ratio');
  const oracleS = got.get('--oracle-eps');
  // Default: the oracle runs at 8/255 when it is a budget, else at the largest budget.
  const oracleList = oracleS === 'none' ? undefined : fractionListFlag(got, '--oracle-eps');
  if (oracleList && oracleList.length !== 1) throw new UsageError(`--oracle-eps takes one budget, got '${oracleS}'`);
  const oracleEps = oracleS === 'none' ? undefined
    : oracleList?.[0] ?? budgets.find((b) => Math.abs(b - 8 / 255) < 1e-12) ?? Math.max(...budgets);
  if (oracleEps !== undefined && !budgets.some((b) => Math.abs(b - oracleEps) < 1e-12)) {
    throw new UsageError(`--oracle-eps ${oracleS} must be one of the --eps budgets (or none)`);
  }
  const models = shippedModels(dataset);
  return {
    dataset, data, purifier: got.get('--purifier') ?? models.mae, classifier: got.get('--classifier') ?? models.classifier,
    n: intFlag(got, '--n', 1) ?? 16, seed: intFlag(got, '--seed', 0) ?? 0, budgets, norm, attackSteps: intFlag(got, '--attack-steps', 1) ?? 10,
    adaptive, preset, purifySteps: intFlag(got, '--purify-steps', 1), maskRatio,
    features: intFlag(got, '--features', 1) ?? 64, orthogonal: flags.switches.has('--orthogonal'), pairs: intFlag(got, '--pairs', 1) ?? 512,
    oracleEps: oracleEps === undefined ? undefined : budgets.find((b) => Math.abs(b - oracleEps) < 1e-12), json,
  };
}

/** The SVG files written beside the JSON report. */
export const theoremSvgPaths = (json: string): Record<'shift' | 'bound' | 'theorem32', string> => {
  const stem = json.replace(/\.json$/, '');
  return { shift: `${stem}-shift.svg`, bound: `${stem}-bound.svg`, theorem32: `${stem}-theorem32.svg` };
};

export async function theoremCommand(args: string[]): Promise<number> {
  const a = withUsage('theorem', THEOREM_USAGE, () => parseTheoremArgs(args));
  if (a === 2) return 2;
  const svgs = theoremSvgPaths(a.json);
  checkOutputFiles([a.json, ...Object.values(svgs)]);
  checkModelFiles({ classifier: a.classifier, purifier: a.purifier });
  const { set, indices } = sampleTestSet(a.dataset, a.data, a.n, a.seed);
  const eng = await init();
  const models = loadClassifierAndPurifier(a.classifier, a.purifier, { preset: a.preset, inputShape: set.shape.slice(1), dataset: a.dataset, noiseSeed: a.seed });
  const { classifier, loaded } = models;
  const t0 = performance.now();
  try {
    // The preset's loop, masks per step included: the oracle averages over as many masks as the
    // purifier's loss does, so the two loops compare step for step.
    const purify = purifyConfig(loaded.preset, { steps: a.purifySteps, seed: a.seed });
    const maskRatio = a.maskRatio ?? purify.maskRatio;
    const model = loaded.reconstructor;
    console.log(`theorem: ${set.n} ${a.dataset} test images (seed ${a.seed}), purifier ${a.purifier} (${model.description}), classifier ${classifier.arch}, adapter ${eng.gpu.kind}`);
    console.log(`  mask ratio ${maskRatio}, ${a.features} ${a.orthogonal ? 'orthogonal' : 'iid Gaussian'} features, ${a.pairs} pairs per image and head, oracle ${a.oracleEps === undefined ? 'off' : `at ${a.oracleEps.toFixed(5)}`} (${loaded.preset}, ${purify.steps} steps)`);
    const report = await theoremAnalysis({ reconstructor: model, loss: loaded.recon }, classifier, set.images, set.labels, {
      budgets: a.budgets, norm: a.norm, attackSteps: a.attackSteps, adaptive: a.adaptive, purify, maskRatio, seed: a.seed,
      features: a.features, orthogonal: a.orthogonal, pairs: a.pairs, oracleEps: a.oracleEps, onProgress: (s) => console.log(`  ${s}`),
    });
    const seconds = (performance.now() - t0) / 1000;
    console.log(theoremSummary(report, a.norm));
    const plots = theoremSvgs(report, a.norm);
    const out = {
      command: `amrm theorem ${args.join(' ')}`, dataset: a.dataset, indices: Array.from(indices), seed: a.seed,
      purifier: a.purifier, preset: loaded.preset, purifier_config: loaded.config, classifier: a.classifier, adapter: eng.gpu.kind,
      attack: { name: 'pgd', norm: a.norm, steps: a.attackSteps, adaptive: a.adaptive, keep: 'last', budgets: a.budgets },
      purify, features: { m: a.features, orthogonal: a.orthogonal, pairsPerImageAndHead: a.pairs },
      conventions: THEOREM_CONVENTIONS, seconds, ...report,
    };
    writeAtomic(a.json, JSON.stringify(out, null, 1) + '\n');
    for (const k of ['shift', 'bound', 'theorem32'] as const) writeAtomic(svgs[k], plots[k]);
    console.log(`\n${seconds.toFixed(1)} s; wrote ${a.json}, ${Object.values(svgs).join(', ')}`);
    return 0;
  } finally {
    models.dispose();
  }
}
