import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup } from '../harness.js';
import { BatchLoader } from '../../src/train/loader.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { teacherSet, mlpTask } from './tasks.js';

await setup();
const test = suite('checkpoint');
const dirs: string[] = [];
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'amrm-ck-')); dirs.push(d); return d; };

const set = teacherSet(96, 6, 3, 31);
const base = (dir?: string): TrainOptions => ({
  epochs: 4, lr: 1e-2, warmupSteps: 3, checkpointDir: dir,
  optimizer: { kind: 'adamw', weightDecay: 0.05, clipNorm: 1 },
});
// 12 batches of 8 per epoch, 4 epochs: 48 steps; the crop-flip augmentation does not apply to
// these 1×1×6 "images", so the loader runs its plain path; shuffling still depends on the seed.
async function run(o: TrainOptions): Promise<number[]> {
  const { task, dispose } = mlpTask(6, 16, 3, 2);
  try {
    const r = await train(task, new BatchLoader(set, { batch: 8, seed: 11 }), o);
    return r.lossHistory;
  } finally { dispose(); }
}

test('resume after an interruption repeats the uninterrupted loss curve exactly', async () => {
  const straight = await run(base());
  assert.is(straight.length, 48);
  const dir = tmp();
  // Interrupted mid-epoch at step 17, with a checkpoint there; a new model resumes from it.
  const part = await run({ ...base(dir), stopAfterStep: 17 });
  assert.is(part.length, 17);
  const resumed = await run({ ...base(dir), resume: true });
  assert.is(resumed.length, 48);
  for (let i = 0; i < 48; i++) assert.is(resumed[i], straight[i], `loss at step ${i}: ${resumed[i]} vs ${straight[i]}`);
  const ck = loadCheckpoint(dir);
  assert.is(ck.state.step, 48);
  assert.equal(ck.state.loader, { epoch: 4, index: 0 });
  // Only the newest two step folders are kept.
  assert.equal(readdirSync(dir).filter((e) => e.startsWith('step-')).length, 2);
});

test('a save interrupted at any point leaves the previous checkpoint loadable', async () => {
  for (const at of ['model-written', 'optimizer-written', 'folder-renamed'] as const) {
    const dir = tmp();
    await run({ ...base(dir), stopAfterStep: 12 });
    const before = loadCheckpoint(dir);
    assert.is(before.state.step, 12);
    let failed = false;
    try {
      await run({
        ...base(dir), resume: true, stopAfterStep: 20,
        saveOptions: { fault: (p) => { if (p === at) throw new Error(`simulated crash at ${p}`); } },
      });
    } catch (e) {
      failed = /simulated crash/.test((e as Error).message);
    }
    assert.ok(failed, `the save at ${at} was interrupted`);
    const after = loadCheckpoint(dir);
    const latest = JSON.parse(readFileSync(join(dir, 'latest'), 'utf8'));
    if (at === 'folder-renamed') {
      // The new folder is complete but `latest` was not moved: the old checkpoint is still the one loaded.
      assert.is(latest.step, 12);
    }
    assert.is(after.state.step, 12, `after a crash at ${at}, latest still names step 12`);
    assert.equal(after.state.lossHistory, before.state.lossHistory);
    // And training resumes from it.
    const resumed = await run({ ...base(dir), resume: true, stopAfterStep: 14 });
    assert.is(resumed.length, 14);
  }
});

test('a stale temporary of latest is cleared at the next save; a damaged state file is named', async () => {
  const dir = tmp();
  await run({ ...base(dir), stopAfterStep: 4 });
  writeFileSync(join(dir, 'latest.99999.abc123.tmp'), '{"step"');
  await run({ ...base(dir), resume: true, stopAfterStep: 8 });
  assert.ok(!existsSync(join(dir, 'latest.99999.abc123.tmp')), 'the temporary of a killed run is gone');
  const latest = JSON.parse(readFileSync(join(dir, 'latest'), 'utf8'));
  writeFileSync(join(dir, latest.dir, 'state.json'), '{"step": 8, ');
  assert.throws(() => loadCheckpoint(dir), /checkpoint: .*state\.json is not valid JSON .*the checkpoint is damaged/);
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
