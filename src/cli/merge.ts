// `amrm merge SHARD.json ... --json OUT`: joins the reports of `amrm eval --shard i/n` runs into the
// report of the whole evaluation (see src/eval/shard.ts for what is checked).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, parseFlags, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { writeAtomic } from '../engine/io/node.js';
import { mergeReports, type EvalReport } from '../eval/shard.js';

export const MERGE_USAGE = `  merge SHARD.json|DIR [...] --json OUT
                                     joins the reports of 'amrm eval --shard i/n' (every shard once, the
                                     same configuration, counts that agree) into one report of the whole
                                     evaluation; a folder stands for the shard reports in it`;

function readReport(file: string): EvalReport {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new Error(`merge: cannot read ${file}: ${(e as Error).message}`); }
  try { return JSON.parse(text) as EvalReport; } catch (e) { throw new Error(`merge: ${file} is not JSON (${(e as Error).message})`); }
}

export async function mergeCommand(args: string[]): Promise<number> {
  const a = withUsage('merge', MERGE_USAGE, () => {
    const files = args.filter((x, i) => !x.startsWith('--') && args[i - 1] !== '--json');
    const flags = parseFlags(args.filter((x) => !files.includes(x)), { valued: ['--json'] });
    const out = flags.values.get('--json');
    if (!out) throw new UsageError('--json OUT is required');
    if (!files.length) throw new UsageError('give the shard reports to merge');
    return { files, out };
  });
  if (a === 2) return 2;
  checkOutputFiles([a.out]);
  // A folder stands for the shard reports in it (every *.json whose config names a shard).
  const files = a.files.flatMap((f) => (existsSync(f) && statSync(f).isDirectory()
    ? readdirSync(f).filter((x) => x.endsWith('.json')).sort().map((x) => join(f, x)).filter((x) => readReport(x).config?.shard)
    : [f]));
  if (!files.length) throw new Error(`merge: no shard reports in ${a.files.join(', ')}`);
  const merged = mergeReports(files.map((file) => ({ file, report: readReport(file) })));
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  console.log(`merged ${files.length} shards: ${merged.n} images, clean accuracy ${pct(merged.clean_accuracy)} (${merged.correct}/${merged.n})` +
    (merged.robust_accuracy !== undefined ? `, robust accuracy ${pct(merged.robust_accuracy)}` : '') +
    `, ${merged.images_per_s.toFixed(2)} images per machine-second`);
  writeAtomic(a.out, `${JSON.stringify(merged, null, 2)}\n`);
  console.log(`wrote ${a.out}`);
  return 0;
}
