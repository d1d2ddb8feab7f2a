// `amrm merge SHARD.json ... --json OUT`: joins the reports of `amrm eval --shard i/n` runs into the
// report of the whole evaluation (see src/eval/shard.ts for what is checked).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, parseFlags, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { writeAtomic } from '../engine/io/node.js';
import { mergeReports } from '../eval/shard.js';
import { readReport } from './reports.js';

export const MERGE_USAGE = `  merge SHARD.json|DIR [...] --json OUT
                                     joins the reports of 'amrm eval --shard i/n' (every shard once, the
                                     same configuration, counts that agree) into one report of the whole
                                     evaluation; a folder stands for the shard reports in it`;

export async function mergeCommand(args: string[]): Promise<number> {
  const a = withUsage('merge', MERGE_USAGE, () => {
    const flags = parseFlags(args, { valued: ['--json'], positional: true });
    const files = flags.positional, out = flags.values.get('--json');
    if (!out) throw new UsageError('--json OUT is required');
    if (!files.length) throw new UsageError('give the shard reports to merge');
    return { files, out };
  });
  if (a === 2) return 2;
  checkOutputFiles([a.out]);
  // A folder stands for the shard reports in it (every *.json whose config names a shard).
  const files = a.files.flatMap((f) => (existsSync(f) && statSync(f).isDirectory()
    ? readdirSync(f).filter((x) => x.endsWith('.json')).sort().map((x) => join(f, x)).filter((x) => readReport(x, 'merge').config?.shard)
    : [f]));
  if (!files.length) throw new Error(`merge: no shard reports in ${a.files.join(', ')}`);
  const merged = mergeReports(files.map((file) => ({ file, report: readReport(file, 'merge') })));
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  console.log(`merged ${files.length} shards: ${merged.n} images, clean accuracy ${pct(merged.clean_accuracy)} (${merged.correct}/${merged.n})` +
    (merged.robust_accuracy !== undefined ? `, robust accuracy ${pct(merged.robust_accuracy)}` : '') +
    `, ${merged.images_per_s.toFixed(2)} images per machine-second`);
  writeAtomic(a.out, `${JSON.stringify(merged, null, 2)}\n`);
  console.log(`wrote ${a.out}`);
  return 0;
}
