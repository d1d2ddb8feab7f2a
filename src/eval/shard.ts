// Splitting a long evaluation across machines (`amrm eval --shard i/n`) and merging the reports
// (`amrm merge`). A shard is a run of whole batches of the evaluation order, so that its random
// draws (numbered by position, see robust.ts) are those of the unsharded run: merged shards give the
// same predictions and counts as one run.

export interface Shard { index: number; count: number; }

/** Parses `i/n` with 1 ≤ i ≤ n. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!(index >= 1 && index <= count)) throw new Error(`a shard is i/n with 1 ≤ i ≤ n (e.g. 2/4), got '${text}'`);
  return { index, count };
}

/** Positions [from, to) of shard i of n over `total` images in batches of `batch` (whole batches; a shard may be empty). */
export function shardRange(total: number, batch: number, s: Shard): { from: number; to: number } {
  const batches = Math.ceil(total / batch);
  const b0 = Math.floor(((s.index - 1) * batches) / s.count), b1 = Math.floor((s.index * batches) / s.count);
  return { from: Math.min(b0 * batch, total), to: Math.min(b1 * batch, total) };
}

/** What `amrm eval --json` writes (the fields merge reads; the rest is carried through). */
export interface EvalReport {
  n: number;
  correct: number;
  clean_accuracy: number;
  robust_accuracy?: number;
  attack?: ({ robust_correct: number } & Record<string, unknown>) | null;
  purifier?: Record<string, unknown> | null;
  images_per_s: number;
  seconds: number;
  config: Record<string, unknown> & { shard?: { index: number; count: number; from: number; to: number; of: number } | null };
  predictions?: string;
  robust_predictions?: string;
  date?: string;
}

type WorstCase = { name: string; broke: number }[];
/** The attacks of a worst-case list without their per-shard counts (undefined for a single attack). */
const worstCaseNames = (a: Record<string, unknown>): string[] | undefined => (a.worst_case as WorstCase | undefined)?.map((w) => w.name);

/** Fields that may differ between the shards of one evaluation. */
const PER_SHARD = new Set(['shard', 'command']);

const canonical = (v: unknown): string => JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

/**
 * Merges the reports of shards 1…n of one evaluation: every shard exactly once, the same
 * configuration (all but the shard and the command line), positions that tile the whole. Counts
 * add up; accuracies are recomputed from them; images_per_s is images per second of summed shard
 * time (machine time, not wall time). Throws naming the file and the field at fault.
 */
export function mergeReports(reports: { file: string; report: EvalReport }[]): EvalReport & { merged_from: string[] } {
  if (!reports.length) throw new Error('merge: no reports');
  for (const { file, report } of reports) {
    if (typeof report?.n !== 'number' || typeof report.correct !== 'number' || !report.config) throw new Error(`merge: ${file} is not an amrm eval report (no n, correct or config)`);
    if (!report.config.shard) throw new Error(`merge: ${file} is not a shard (config.shard is missing: run amrm eval with --shard i/n)`);
  }
  const count = reports[0].report.config.shard!.count;
  const sorted = [...reports].sort((a, b) => a.report.config.shard!.index - b.report.config.shard!.index);
  const strip = (r: EvalReport): string => canonical({
    ...r, n: 0, correct: 0, clean_accuracy: 0, robust_accuracy: 0, images_per_s: 0, seconds: 0, date: 0, predictions: 0, robust_predictions: 0,
    attack: r.attack ? { ...r.attack, robust_correct: 0, worst_case: worstCaseNames(r.attack) } : r.attack,
    config: Object.fromEntries(Object.entries(r.config).filter(([k]) => !PER_SHARD.has(k))),
  });
  const base = strip(sorted[0].report);
  let expectFrom = 0;
  sorted.forEach(({ file, report }, k) => {
    const sh = report.config.shard!;
    if (sh.count !== count) throw new Error(`merge: ${file} is shard ${sh.index}/${sh.count}, ${sorted[0].file} belongs to a split in ${count}`);
    if (k && sorted[k - 1].report.config.shard!.index === sh.index) throw new Error(`merge: shard ${sh.index}/${count} is given twice (${sorted[k - 1].file}, ${file})`);
    if (sh.index !== k + 1) throw new Error(`merge: shard ${k + 1}/${count} is missing`);
    if (strip(report) !== base) throw new Error(`merge: ${file} was run with another configuration than ${sorted[0].file} (options, models or data differ)`);
    if (sh.from !== expectFrom || sh.to - sh.from !== report.n) throw new Error(`merge: ${file} covers positions ${sh.from}-${sh.to} (n ${report.n}), expected to start at ${expectFrom}`);
    expectFrom = sh.to;
  });
  if (sorted.length !== count) throw new Error(`merge: ${count} shards expected, got ${sorted.length}`);
  const of = sorted[0].report.config.shard!.of;
  if (expectFrom !== of) throw new Error(`merge: the shards cover ${expectFrom} of ${of} images`);
  const rs = sorted.map((s) => s.report);
  const n = rs.reduce((a, r) => a + r.n, 0);
  const correct = rs.reduce((a, r) => a + r.correct, 0);
  const robustCorrect = rs.reduce((a, r) => a + Math.round((r.robust_accuracy ?? r.clean_accuracy) * r.n), 0);
  const seconds = rs.reduce((a, r) => a + r.seconds, 0);
  const join = (key: 'predictions' | 'robust_predictions'): string | undefined => (rs.every((r) => typeof r[key] === 'string') ? rs.map((r) => r[key]).join('') : undefined);
  const first = rs[0];
  const { shard: _shard, command: _command, ...config } = first.config;
  const merged: EvalReport & { merged_from: string[] } = {
    ...first, n, correct, clean_accuracy: n ? correct / n : 0, images_per_s: seconds ? n / seconds : 0, seconds,
    config: { ...config, shard: null, commands: rs.map((r) => r.config.command) },
    predictions: join('predictions'), robust_predictions: join('robust_predictions'),
    merged_from: sorted.map((s) => s.file), date: new Date().toISOString(),
  };
  if (first.robust_accuracy !== undefined) merged.robust_accuracy = n ? robustCorrect / n : 0;
  if (first.attack) {
    merged.attack = { ...first.attack, robust_correct: robustCorrect };
    // A worst case over a list: each attack's count of broken images, summed over the shards.
    const lists = rs.map((r) => r.attack?.worst_case as WorstCase | undefined);
    if (lists[0]) merged.attack.worst_case = lists[0].map((w, k) => ({ name: w.name, broke: lists.reduce((a, l) => a + l![k].broke, 0) }));
  }
  return merged;
}
