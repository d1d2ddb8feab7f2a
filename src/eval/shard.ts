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

/**
 * The shard of a scheduler's array job, from its environment, or undefined outside one:
 *   Slurm job arrays: SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT
 *     (--array=0-3 or 1-4: the task's place in the range is the shard);
 *   Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX (0-based), with the completion count from
 *     `count` (a flag) or AMRM_SHARD_COUNT, since Kubernetes does not pass it.
 * Throws naming the variable that is missing or out of range.
 */
export function shardFromEnv(env: Record<string, string | undefined>, count?: number): (Shard & { source: string }) | undefined {
  const int = (name: string): number => {
    const v = env[name];
    if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${name} must be a whole number, got '${v ?? ''}'`);
    return Number(v);
  };
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = int('SLURM_ARRAY_TASK_ID'), min = env.SLURM_ARRAY_TASK_MIN !== undefined ? int('SLURM_ARRAY_TASK_MIN') : 0;
    const n = int('SLURM_ARRAY_TASK_COUNT');
    const index = id - min + 1;
    if (!(index >= 1 && index <= n)) throw new Error(`SLURM_ARRAY_TASK_ID ${id} is not in the array's ${n} tasks from ${min} (use a contiguous --array range)`);
    return { index, count: n, source: `Slurm array task ${id} of ${min}-${min + n - 1}` };
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const n = count ?? (env.AMRM_SHARD_COUNT !== undefined ? int('AMRM_SHARD_COUNT') : undefined);
    if (!n) throw new Error('JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not the number of completions: pass --shard-count N or set AMRM_SHARD_COUNT');
    const index = int('JOB_COMPLETION_INDEX') + 1;
    if (index > n) throw new Error(`JOB_COMPLETION_INDEX ${index - 1} is past the ${n} completions`);
    return { index, count: n, source: `Kubernetes completion index ${index - 1} of ${n}` };
  }
  return undefined;
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

/** A report's counts agree with each other and with its predictions (a hand-edited shard does not pass). */
function checkCounts(file: string, r: EvalReport): void {
  const bad = (what: string): never => { throw new Error(`merge: ${file}: ${what}`); };
  if (!Number.isInteger(r.n) || r.n < 0 || !Number.isInteger(r.correct) || r.correct < 0 || r.correct > r.n) bad(`correct ${r.correct} of n ${r.n} is not a count of its images`);
  if (Math.abs(r.clean_accuracy - (r.n ? r.correct / r.n : 0)) > 1e-12) bad(`clean_accuracy ${r.clean_accuracy} is not correct / n = ${r.correct}/${r.n}`);
  const rc = r.attack?.robust_correct;
  if (rc !== undefined && (!Number.isInteger(rc) || rc < 0 || rc > r.correct)) bad(`robust_correct ${rc} exceeds correct ${r.correct}`);
  if (rc !== undefined && r.robust_accuracy !== undefined && Math.abs(r.robust_accuracy - (r.n ? rc / r.n : 0)) > 1e-12) bad(`robust_accuracy ${r.robust_accuracy} is not robust_correct / n = ${rc}/${r.n}`);
  for (const key of ['predictions', 'robust_predictions'] as const) {
    const p = r[key];
    if (typeof p === 'string' && p.length !== r.n) bad(`${key} has ${p.length} entries for n ${r.n}`);
  }
  // Robust predictions can only be right where the clean ones are (an image already wrong is not attacked).
  if (typeof r.predictions === 'string' && typeof r.robust_predictions === 'string' && rc !== undefined) {
    let same = 0;
    for (let i = 0; i < r.n; i++) if (r.predictions[i] === r.robust_predictions[i]) same++;
    if (same < rc) bad(`robust_correct ${rc} is more than the ${same} images whose robust prediction equals the clean one`);
  }
}

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
    checkCounts(file, report);
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
