// The loop every `amrm train` kind shares once its model and task are built (train.ts for the models
// trained from scratch, train-robust.ts for robust fine-tuning): the run folder, the log, progress
// lines, per-epoch evaluation, checkpoints and the final files.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { checkOutputFolder } from './outputs.js';
import { join } from 'node:path';
import { writeAtomic } from '../engine/io/node.js';
import { BatchLoader } from '../train/loader.js';
import { train, type StepInfo, type TrainTask } from '../train/trainer.js';
import type { OptimizerOptions } from '../train/optim.js';
import { hasCheckpoint } from '../train/checkpoint.js';
import { lossCurveSvg } from '../train/plot.js';

/** One console line per step; the time left extrapolates this session's pace (a resumed run's earlier steps took other sessions' time). */
function progressLine(i: StepInfo): string {
  const left = i.step < i.totalSteps ? ((i.totalSteps - i.step) * i.seconds) / Math.max(1, i.sessionSteps) : 0;
  const fmtT = (s: number): string => `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  const pct = ((100 * i.step) / i.totalSteps).toFixed(1);
  return `step ${i.step}/${i.totalSteps} (${pct}%) epoch ${i.epoch + 1} loss ${i.loss.toFixed(4)} lr ${i.lr.toExponential(2)} ${i.imagesPerS.toFixed(1)} img/s elapsed ${fmtT(i.seconds)} left ${fmtT(left)}`;
}

/** The step the checkpoint `latest` names. */
function checkpointStep(dir: string): number {
  try { return Number(JSON.parse(readFileSync(join(dir, 'latest'), 'utf8')).step); } catch (e) { throw new Error(`train: cannot read ${join(dir, 'latest')}: ${(e as Error).message}`); }
}

/**
 * A resumed run repeats the steps its predecessor ran past the last checkpoint: their log lines
 * (steps after it, and the end of an epoch not finished by it) go, so that no step is logged twice.
 */
function trimLog(path: string, step: number, perEpoch: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8').split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      const l = JSON.parse(line) as { step?: number; epoch_end?: number };
      if (typeof l.step === 'number') return l.step <= step;
      if (typeof l.epoch_end === 'number') return (l.epoch_end + 1) * perEpoch <= step;
      return true;
    } catch { return false; } // a line cut short when the run was killed
  });
  writeAtomic(path, keep.map((l) => `${l}\n`).join(''));
}

/** What a run writes into its folder (runTraining; `adversarial` is train robust's cache). */
const RUN_ENTRIES = ['checkpoints', 'log.jsonl', 'model.safetensors', 'loss.svg', 'summary.json', 'adversarial'];
/** Console logs a user may keep beside the run (`> DIR/train.log`): never written by a run. */
const isConsoleLog = (name: string): boolean => name.endsWith('.log');

/**
 * Makes --out. It must be a new or empty folder, or one holding a run alone (and console logs):
 * files of anything else (`--out models`) are never written over, and a finished or interrupted run
 * only with --resume.
 */
export function openRunFolder(out: string, resume: boolean): void {
  if (existsSync(out)) {
    checkOutputFolder(out);
    const entries = readdirSync(out).filter((e) => !isConsoleLog(e));
    const foreign = entries.filter((e) => !RUN_ENTRIES.includes(e));
    if (foreign.length) {
      throw new Error(`train: --out ${out} holds files that are not a training run's (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); train into a new or empty folder`);
    }
    if (!resume && hasCheckpoint(join(out, 'checkpoints'))) {
      throw new Error(`train: ${out} holds a run (${join(out, 'checkpoints')}); pass --resume to continue it, or train into another folder`);
    }
    if (!resume && entries.length) {
      throw new Error(`train: ${out} holds an earlier run's files (${entries.join(', ')}); pass --resume to continue it, or train into another folder`);
    }
  }
  mkdirSync(out, { recursive: true });
  const checkpointDir = join(out, 'checkpoints');
  if (resume && !hasCheckpoint(checkpointDir)) console.log(`--resume: no checkpoint in ${checkpointDir} yet, so this run starts at step 0`);
}

export interface RunSettings { out: string; resume: boolean; epochs: number; checkpointEvery?: number; title: string; }
export interface RunSetup {
  task: TrainTask;
  loader: BatchLoader;
  optimizer: OptimizerOptions;
  lr: number;
  warmup: number;
  /** Recorded in the checkpoints (what a resume must match) and summary.json. */
  config: Record<string, unknown>;
  saveFinal: () => Promise<Uint8Array>;
  onEpoch: (epoch: number) => Promise<Record<string, unknown>>;
  /** Extra fields of a step's log line (after the step's loss is read). */
  stepLog?: () => Promise<Record<string, unknown>>;
  dispose: () => void;
  banner: string;
}

/**
 * The loop every `amrm train` kind shares, once its model and task are built: the log (emptied for a
 * new run, trimmed on resume), progress lines, per-epoch evaluation, checkpoints, and the final
 * model.safetensors, loss.svg and summary.json, each written atomically.
 */
export async function runTraining(a: RunSettings, r0: RunSetup): Promise<number> {
  const { task, loader, optimizer, lr, warmup, config, saveFinal, onEpoch, dispose } = r0;
  const logPath = join(a.out, 'log.jsonl');
  const checkpointDir = join(a.out, 'checkpoints');
  const log = (o: Record<string, unknown>): void => appendFileSync(logPath, `${JSON.stringify(o)}\n`);
  // The log is emptied only now, once the configuration has been checked and the model built.
  if (!a.resume || !hasCheckpoint(checkpointDir)) writeFileSync(logPath, '');
  else trimLog(logPath, checkpointStep(checkpointDir), loader.batchesPerEpoch);
  console.log(r0.banner);
  const tty = process.stdout.isTTY;
  let lastPrint = 0;
  const t0 = performance.now();
  try {
    const r = await train(task, loader, {
      epochs: a.epochs, optimizer, lr, warmupSteps: warmup, minLr: 0, checkpointDir,
      checkpointEvery: a.checkpointEvery, resume: a.resume, config,
      onStep: async (i) => {
        log({ step: i.step, epoch: i.epoch, loss: i.loss, ...(await r0.stepLog?.()), lr: i.lr, images_per_s: Number(i.imagesPerS.toFixed(2)), seconds: Number(i.seconds.toFixed(2)) });
        const now = performance.now();
        if (tty) process.stdout.write(`\r${progressLine(i)}\x1b[K`);
        else if (now - lastPrint > 10000 || i.step === i.totalSteps) { console.log(progressLine(i)); lastPrint = now; }
      },
      onEpoch: async (epoch) => {
        const r = await onEpoch(epoch);
        if (tty) process.stdout.write('\n');
        console.log(`epoch ${epoch + 1}: ${Object.entries(r).map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`).join(', ')}`);
        log({ epoch_end: epoch, ...r });
        return r;
      },
    });
    writeAtomic(join(a.out, 'model.safetensors'), await saveFinal());
    writeAtomic(join(a.out, 'loss.svg'), lossCurveSvg(r.lossHistory, { title: a.title }));
    const summary = {
      steps: r.steps, session_steps: r.sessionSteps, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      images_per_s: Number(r.imagesPerS.toFixed(2)), final_loss: r.lossHistory.at(-1), epochs: r.epochResults, config, resumed_from: r.resumedFrom ?? null,
    };
    writeAtomic(join(a.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`done: ${r.steps} steps, ${r.imagesPerS.toFixed(1)} img/s; wrote ${join(a.out, 'model.safetensors')}, log.jsonl, loss.svg, summary.json`);
  } finally {
    dispose();
  }
  return 0;
}
