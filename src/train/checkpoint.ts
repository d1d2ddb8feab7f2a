// Training checkpoints (Node): weights and optimizer moments as safetensors, plus a JSON training
// state (step, epoch, loader position, RNG state, config, loss history). Layout under DIR:
//   DIR/step-00000120/model.safetensors, optimizer.safetensors, state.json
//   DIR/latest            {"step": 120, "dir": "step-00000120"}, written last
// A save writes a new step folder under a temporary name (each file fsynced), renames the folder,
// and only then replaces `latest` (temp file + rename). A crash at any point leaves `latest`
// naming a complete earlier folder, so an interrupted save never breaks the last good checkpoint.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic, readBytes } from '../engine/io/node.js';
import { readSafetensors, writeSafetensors } from '../engine/io/safetensors.js';
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';

export const STATE_FORMAT = 'amrm-train-state-1';

export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  /** Epochs completed. */
  epoch: number;
  /** The data loader's next batch. */
  loader: { epoch: number; index: number };
  /** Generator states the run needs to continue identically (seeds derived per step need none). */
  rng: Record<string, number>;
  /** The run's configuration (command-line options, model and optimizer settings). */
  config: Record<string, unknown>;
  /** Loss per step so far. */
  lossHistory: number[];
  /** Anything else worth keeping (evaluation results per epoch, wall time). */
  extra?: Record<string, unknown>;
}

export interface Checkpoint {
  model: StateDict;
  /** Optimizer moments as named f32 tensors, and its step count. */
  optimizer: { step: number; tensors: Map<string, Float32Array> };
  state: TrainState;
}

export interface SaveOptions {
  /** How many step folders to keep (default 2: the new one and the one before). */
  keep?: number;
  /** Test hook: called between the writes of a save; throwing there simulates a crash at that point. */
  fault?: (at: 'model-written' | 'optimizer-written' | 'folder-renamed') => void;
}

const stepDir = (step: number): string => `step-${String(step).padStart(8, '0')}`;

/** Saves a checkpoint of step `state.step` under `dir` (see the header for the order of writes). */
export function saveCheckpoint(dir: string, ck: Checkpoint, options: SaveOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const name = stepDir(ck.state.step);
  const tmp = join(dir, `${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const modelBytes = writeSafetensors(ck.model);
  writeAtomic(join(tmp, 'model.safetensors'), modelBytes);
  options.fault?.('model-written');
  const optTensors = new Map<string, HostTensor>();
  for (const [k, v] of ck.optimizer.tensors) optTensors.set(k, { shape: [v.length], dtype: 'f32', data: v });
  const optBytes = writeSafetensors({ tensors: optTensors, metadata: { 'amrm.optimizer.step': String(ck.optimizer.step) } });
  writeAtomic(join(tmp, 'optimizer.safetensors'), optBytes);
  options.fault?.('optimizer-written');
  const state = { format: STATE_FORMAT, ...ck.state, files: { 'model.safetensors': modelBytes.length, 'optimizer.safetensors': optBytes.length } };
  writeAtomic(join(tmp, 'state.json'), `${JSON.stringify(state)}\n`);
  const final = join(dir, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  options.fault?.('folder-renamed');
  writeAtomic(join(dir, 'latest'), `${JSON.stringify({ step: ck.state.step, dir: name })}\n`);
  prune(dir, name, options.keep ?? 2);
  return final;
}

/** Removes step folders older than the newest `keep` (never the one `latest` names) and stale temporaries. */
function prune(dir: string, current: string, keep: number): void {
  const entries = readdirSync(dir);
  for (const e of entries) if (/^step-\d+\.tmp-\d+$/.test(e) && !e.endsWith(`.tmp-${process.pid}`)) rmSync(join(dir, e), { recursive: true, force: true });
  // A run killed while writing `latest` leaves writeAtomic's temporary beside it.
  for (const e of entries) if (/^latest\.\d+\.\w+\.tmp$/.test(e) && !e.startsWith(`latest.${process.pid}.`)) rmSync(join(dir, e), { force: true });
  const steps = entries.filter((e) => /^step-\d+$/.test(e)).sort();
  const drop = steps.slice(0, Math.max(0, steps.length - Math.max(1, keep)));
  for (const e of drop) if (e !== current) rmSync(join(dir, e), { recursive: true, force: true });
}

/** Whether `dir` holds a checkpoint (`latest` exists). */
export function hasCheckpoint(dir: string): boolean { return existsSync(join(dir, 'latest')); }

/** A JSON file's value, with errors that name the file. */
function readJson(path: string): unknown {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) { throw new Error(`checkpoint: cannot read ${path}: ${(e as Error).message}`); }
  try { return JSON.parse(text); } catch (e) { throw new Error(`checkpoint: ${path} is not valid JSON (${(e as Error).message}); the checkpoint is damaged`); }
}

/** Loads the checkpoint `latest` names, checking that its files are complete. */
export function loadCheckpoint(dir: string): Checkpoint {
  const latestPath = join(dir, 'latest');
  if (!existsSync(latestPath)) throw new Error(`checkpoint: no checkpoint in ${dir} (no 'latest' file)`);
  const latest = readJson(latestPath) as { step: number; dir: string };
  if (typeof latest.dir !== 'string' || !/^step-\d+$/.test(latest.dir)) throw new Error(`checkpoint: ${latestPath} names no step folder`);
  const folder = join(dir, latest.dir);
  const raw = readJson(join(folder, 'state.json')) as TrainState & { format?: string; files?: Record<string, number> };
  if (raw.format !== STATE_FORMAT) throw new Error(`checkpoint: ${folder}/state.json has format ${raw.format}, expected ${STATE_FORMAT}`);
  for (const [f, size] of Object.entries(raw.files ?? {})) {
    const got = statSync(join(folder, f)).size;
    if (got !== size) throw new Error(`checkpoint: ${folder}/${f} has ${got} bytes, state.json recorded ${size}`);
  }
  const model = readSafetensors(readBytes(join(folder, 'model.safetensors')), `${folder}/model.safetensors`);
  const opt = readSafetensors(readBytes(join(folder, 'optimizer.safetensors')), `${folder}/optimizer.safetensors`);
  const tensors = new Map<string, Float32Array>();
  for (const [k, t] of opt.tensors) tensors.set(k, t.data as Float32Array);
  const { format: _f, files: _s, ...state } = raw;
  return { model, optimizer: { step: Number(opt.metadata['amrm.optimizer.step'] ?? state.step), tensors }, state };
}
