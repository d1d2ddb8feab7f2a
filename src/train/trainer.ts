// The training loop: batches from the loader, loss and backward, one optimizer step, the schedule,
// checkpoints, and callbacks for progress and per-epoch evaluation. Everything the run depends on
// is a function of (seed, step) or saved in the checkpoint, so a resumed run repeats the loss curve
// of an uninterrupted one.
import { flush } from '../engine/engine.js';
import { Tensor, scope } from '../engine/tensor.js';
import { backward } from '../engine/autograd.js';
import type { StateDict } from '../engine/io/host-tensor.js';
import type { NamedTensor } from '../models/module.js';
import { Optimizer, cosineLr, type OptimizerOptions } from './optim.js';
import { BatchLoader, type Batch } from './loader.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type SaveOptions, type TrainState } from './checkpoint.js';

/** A model with its loss: what the loop trains. */
export interface TrainTask {
  /** The tensors the optimizer updates, under their state-dict keys. */
  parameters(): NamedTensor[];
  /** Switches training behaviour (BatchNorm statistics) on or off. */
  setTraining(on: boolean): void;
  /**
   * Work a step needs before its loss that cannot run inside the loss's synchronous scope (robust
   * fine-tuning attacks the batch here). Randomness must derive from `step`.
   */
  prepare?(batch: Batch, step: number): Promise<void>;
  /** The scalar loss of a batch at 0-based `step` (autograd recorded). Randomness must derive from `step`. */
  loss(batch: Batch, step: number): Tensor;
  /** The weights (and buffers) on the host, as saved in checkpoints and the final model file. */
  stateDict(): Promise<StateDict>;
  /** Restores `stateDict()`'s output. */
  loadStateDict(sd: StateDict): void;
}

export interface StepInfo {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  /** Images per second over the steps of this session so far. */
  imagesPerS: number;
  /** Seconds since this session started. */
  seconds: number;
  /** Steps taken in this session (fewer than `step` after a resume). */
  sessionSteps: number;
}

export interface TrainOptions {
  epochs: number;
  optimizer: OptimizerOptions;
  lr: number;
  warmupSteps?: number;
  minLr?: number;
  /** Checkpoint folder; none when absent. */
  checkpointDir?: string;
  /** Save every this many steps too (checkpoints are always saved at each epoch's end). */
  checkpointEvery?: number;
  /** Continue from the checkpoint in checkpointDir when there is one. */
  resume?: boolean;
  /** Stop after this step (a test's interruption; the schedule still spans every epoch). */
  stopAfterStep?: number;
  /** Recorded in checkpoints. */
  config?: Record<string, unknown>;
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Called after each epoch (in eval mode); what it returns is logged and kept in the state. */
  onEpoch?: (epoch: number) => Promise<Record<string, unknown> | void>;
  saveOptions?: SaveOptions;
}

export interface TrainResult {
  lossHistory: number[];
  steps: number;
  /** Steps run in this session (after a resume, fewer than `steps`). */
  sessionSteps: number;
  seconds: number;
  imagesPerS: number;
  epochResults: Record<string, unknown>[];
  resumedFrom?: number;
}

/**
 * The settings a resumed run must share with the run that wrote the checkpoint: the model, the
 * data, the optimizer and its schedule (the learning rate follows the total step count, so the
 * epochs too), and for robust fine-tuning the attack and the surrogate. Where, how often to checkpoint and the adapter may change.
 */
const RUN_DEFINING = ['kind', 'dataset', 'config', 'epochs', 'batch', 'lr', 'wd', 'optimizer', 'warmup', 'clip', 'seed', 'patch', 'maskRatio', 'limit',
  // robust fine-tuning: the model it starts from, the classifier, the attack and the surrogate
  'purifier', 'classifier', 'preset', 'purifySteps', 'eps', 'attackSteps', 'attackStepSize', 'noise', 'recWeight', 'surrogate', 'unrolledSteps', 'unrolledStepSize', 'tau'];

function checkSameRun(saved: Record<string, unknown>, now: Record<string, unknown>, dir: string): void {
  for (const key of RUN_DEFINING) {
    if (!(key in saved) && !(key in now)) continue;
    const a = JSON.stringify(saved[key]), b = JSON.stringify(now[key]);
    if (a !== b) throw new Error(`resume: the checkpoint in ${dir} was made with ${key} ${a ?? 'unset'}, this run asks for ${b ?? 'unset'}; resume with the same settings or train into another folder`);
  }
}

/** Trains `task` on `loader`'s batches for `options.epochs` epochs (or resumes and finishes). */
export async function train(task: TrainTask, loader: BatchLoader, options: TrainOptions): Promise<TrainResult> {
  const perEpoch = loader.batchesPerEpoch;
  const totalSteps = options.epochs * perEpoch;
  const opt = new Optimizer(task.parameters(), options.optimizer);
  let step = 0;
  let lossHistory: number[] = [];
  let epochResults: Record<string, unknown>[] = [];
  let resumedFrom: number | undefined;
  let data = loader;
  if (options.resume && options.checkpointDir && hasCheckpoint(options.checkpointDir)) {
    const ck = loadCheckpoint(options.checkpointDir);
    checkSameRun(ck.state.config, options.config ?? {}, options.checkpointDir);
    task.loadStateDict(ck.model);
    opt.loadStateDict(ck.optimizer);
    step = ck.state.step;
    lossHistory = ck.state.lossHistory.slice();
    epochResults = ((ck.state.extra?.epochResults as Record<string, unknown>[]) ?? []).slice();
    resumedFrom = step;
    data = new BatchLoader(loader.set, loader.options, ck.state.loader);
    loader.dispose();
  }
  const save = async (): Promise<void> => {
    if (!options.checkpointDir) return;
    const state: TrainState = {
      step, epoch: Math.floor(step / perEpoch), loader: data.position, rng: { seed: data.options.seed },
      config: options.config ?? {}, lossHistory, extra: { epochResults },
    };
    saveCheckpoint(options.checkpointDir, { model: await task.stateDict(), optimizer: await opt.stateDict(), state }, options.saveOptions);
  };

  const t0 = performance.now();
  let sessionSteps = 0;
  const stopAt = Math.min(totalSteps, options.stopAfterStep ?? totalSteps);
  task.setTraining(true);
  try {
    while (step < stopAt) {
      const batch = data.take();
      const lr = cosineLr(step, { lr: options.lr, totalSteps, warmupSteps: options.warmupSteps, minLr: options.minLr });
      await task.prepare?.(batch, step);
      const loss = scope(() => {
        const l = task.loss(batch, step);
        backward(l);
        return l;
      });
      opt.step(lr);
      flush();
      // The next batch is gathered, augmented and uploaded while the GPU runs this step.
      data.prefetch();
      const value = (await loss.data())[0];
      loss.dispose();
      batch.dispose();
      lossHistory.push(value);
      step++;
      sessionSteps++;
      const seconds = (performance.now() - t0) / 1000;
      await options.onStep?.({ step, totalSteps, epoch: Math.floor((step - 1) / perEpoch), loss: value, lr, imagesPerS: (sessionSteps * batch.shape[0]) / seconds, seconds, sessionSteps });
      const epochEnd = step % perEpoch === 0;
      if (epochEnd && options.onEpoch) {
        task.setTraining(false);
        const r = await options.onEpoch(step / perEpoch - 1);
        task.setTraining(true);
        if (r) epochResults.push({ epoch: step / perEpoch - 1, step, ...r });
      }
      if (epochEnd || (options.checkpointEvery && step % options.checkpointEvery === 0) || step === stopAt) await save();
    }
  } finally {
    data.dispose();
    opt.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    lossHistory, steps: step, sessionSteps, seconds, epochResults, resumedFrom,
    imagesPerS: seconds > 0 ? (sessionSteps * loader.options.batch) / seconds : 0,
  };
}
