// `amrm compare A.json B.json`: two `amrm eval` reports on the same images, compared image by image.
// The labels are read again from the data set the reports name (their config says which images),
// and each report's own count is checked against them before anything is compared.
import { UsageError, parseFlags, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { readReport } from './reports.js';
import { writeAtomic } from '../engine/io/node.js';
import { loadSplit } from '../data/split.js';
import { selectIndices } from '../data/sample.js';
import type { EvalReport } from '../eval/shard.js';
import { pairedCounts, type PairedCounts } from '../eval/paired.js';

export const COMPARE_USAGE = `  compare A.json B.json [--on clean|robust] [--data DIR] [--json OUT]
                                     two 'amrm eval' reports on the same images, image by image: how many
                                     each gets right, how many only one does, and the exact McNemar
                                     p-value of the difference; --on clean compares the (purified) clean
                                     predictions, robust (the default when both ran an attack) the images
                                     right both clean and attacked; DIR overrides the reports' data path`;

type On = 'clean' | 'robust';

interface CompareArgs { files: [string, string]; on?: On; data?: string; json?: string }

export function parseCompareArgs(args: string[]): CompareArgs {
  const flags = parseFlags(args, { valued: ['--on', '--data', '--json'], positional: true });
  const files = flags.positional;
  if (files.length !== 2) throw new UsageError(`give exactly two reports to compare, got ${files.length}`);
  const on = flags.values.get('--on');
  if (on !== undefined && on !== 'clean' && on !== 'robust') throw new UsageError(`--on must be clean or robust, got '${on}'`);
  return { files: [files[0], files[1]], on: on as On | undefined, data: flags.values.get('--data'), json: flags.values.get('--json') };
}

/** The fields of a report's config that fix its images. */
const SELECTION = ['dataset', 'split', 'n', 'seed', 'indices'] as const;

/** Which images of a report count as right under `on`, from its one-digit-per-image predictions. */
function rightOf(file: string, r: EvalReport, labels: ArrayLike<number>, on: On): boolean[] {
  const digits = (what: 'predictions' | 'robust_predictions'): string => {
    const p = r[what];
    if (typeof p !== 'string') throw new Error(`compare: ${file} has no ${what} (reports keep them for 10 classes or fewer)`);
    if (p.length !== labels.length) throw new Error(`compare: ${file} has ${p.length} ${what} for ${labels.length} images`);
    return p;
  };
  const clean = digits('predictions');
  const right = Array.from(labels, (y, i) => Number(clean[i]) === y);
  if (on === 'clean') return right;
  const robust = digits('robust_predictions');
  // As the report counts it: right on the attacked image and on the clean one.
  return right.map((ok, i) => ok && Number(robust[i]) === labels[i]);
}

/** The count the report itself states for `on`, which the recomputed one must equal. */
function statedCount(file: string, r: EvalReport, on: On): number {
  if (on === 'clean') return r.correct;
  const rc = r.attack?.robust_correct;
  if (typeof rc !== 'number') throw new Error(`compare: ${file} ran no attack; compare with --on clean`);
  return rc;
}

export async function compareCommand(args: string[]): Promise<number> {
  const a = withUsage('compare', COMPARE_USAGE, () => parseCompareArgs(args));
  if (a === 2) return 2;
  checkOutputFiles([a.json]);
  const [fa, fb] = a.files;
  const ra = readReport(fa, 'compare'), rb = readReport(fb, 'compare');
  for (const [f, r] of [[fa, ra], [fb, rb]] as const) {
    if (!r.config || typeof r.config !== 'object') throw new Error(`compare: ${f} has no config (not an 'amrm eval' report)`);
    if (r.config.shard) throw new Error(`compare: ${f} is one shard of a run; 'amrm merge' its shards first`);
  }
  for (const k of SELECTION) {
    const x = ra.config[k] ?? null, y = rb.config[k] ?? null;
    if (JSON.stringify(x) !== JSON.stringify(y)) throw new Error(`compare: the reports ran on different images: ${k} is ${JSON.stringify(x)} in ${fa} and ${JSON.stringify(y)} in ${fb}`);
  }
  const on: On = a.on ?? (ra.attack && rb.attack ? 'robust' : 'clean');
  const c = ra.config as Record<string, unknown>;
  const dataset = c.dataset as string, split = (c.split ?? 'test') as 'train' | 'test';
  if (dataset !== 'mnist' && dataset !== 'cifar10' && dataset !== 'cifar100') throw new Error(`compare: ${fa} names data set '${dataset}'`);
  const all = loadSplit(dataset, a.data ?? (c.data as string), split);
  const indices = selectIndices(all.n, { indices: c.indices as string | null, n: c.n as number | null, seed: c.seed as number | null });
  const labels = indices ? Array.from(indices, (i) => all.labels[i]) : Array.from(all.labels);
  const rights = ([[fa, ra], [fb, rb]] as const).map(([f, r]) => {
    const stated = statedCount(f, r, on);
    const right = rightOf(f, r, labels, on);
    const got = right.filter(Boolean).length;
    if (got !== stated) throw new Error(`compare: the labels read again give ${got} right for ${f}, its report says ${stated}: not the data it ran on (--data)?`);
    return right;
  });
  const p: PairedCounts = pairedCounts(rights[0], rights[1]);
  const pct = (k: number): string => `${(100 * k / p.n).toFixed(1)}%`;
  console.log(`compare (${on}, ${p.n} ${dataset} ${split} images):`);
  console.log(`  A ${fa}: ${p.a} right (${pct(p.a)})`);
  console.log(`  B ${fb}: ${p.b} right (${pct(p.b)})`);
  console.log(`  both ${p.both}, only A ${p.aOnly}, only B ${p.bOnly}, neither ${p.neither}; exact McNemar p = ${p.pValue.toPrecision(3)}`);
  if (a.json) {
    writeAtomic(a.json, `${JSON.stringify({ on, dataset, split, reports: { a: fa, b: fb }, ...p, command: `npx amrm compare ${args.join(' ')}`, date: new Date().toISOString() }, null, 2)}\n`);
    console.log(`wrote ${a.json}`);
  }
  return 0;
}
