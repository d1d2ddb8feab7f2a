import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const test = suite('cli bench');
const amrm = (args: string[]) => spawnSync(process.execPath, ['bin/amrm.js', ...args], { encoding: 'utf8' });

test('profile flags: --method and --repeats need --profile, and --method names a method', () => {
  let r = amrm(['bench', 'purify', '--method', 'timestamp']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--method goes with --profile/);
  r = amrm(['bench', 'purify', '--repeats', '3']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--repeats goes with --profile/);
  r = amrm(['bench', 'purify', '--profile', '--method', 'fast']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--method must be timestamp or elimination, got 'fast'/);
});

test('--tuning: JSON of tuning sections, each checked by name before any work', () => {
  let r = amrm(['bench', 'kernels', '--tuning', '{matmul']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--tuning must be JSON/);
  r = amrm(['bench', 'kernels', '--tuning', '[1]']);
  assert.match(r.stderr, /--tuning must be a JSON object of tuning sections/);
  r = amrm(['bench', 'kernels', '--tuning', '{"rows":"warp"}']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--tuning: setTuning: rows must be loop or subgroups, got 'warp'/);
  r = amrm(['bench', 'kernels', '--tuning', '{"matmull":{}}']);
  assert.match(r.stderr, /unknown section 'matmull'/);
});

test('bench purify --profile: one step of the shipped MNIST MAE, per family, written as JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'amrm-profile-'));
  try {
    const out = join(dir, 'profile.json');
    const r = amrm(['bench', 'purify', '--profile', '--only', '^mnist-mae', '--batch', '2', '--repeats', '1', '--json', out]);
    assert.is(r.status, 0, r.stderr);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    assert.is(report.rows.length, 1);
    const row = report.rows[0];
    assert.match(row.model, /mnist-mae/);
    assert.ok(row.dispatches_per_step > 50 && row.dispatches_per_step < row.dispatches, `${row.dispatches_per_step} of ${row.dispatches}`);
    // The profiled step is a later one: the first also fills the held weight textures (llvmpipe).
    assert.is(row.dispatches_per_later_step, row.dispatches_per_step);
    assert.ok(row.dispatches_first_step >= row.dispatches_per_step, `${row.dispatches_first_step} vs ${row.dispatches_per_step}`);
    const families = Object.fromEntries(row.families.map((f: { family: string; dispatches: number }) => [f.family, f.dispatches]));
    assert.ok(families.matmul > 0 && families.attention > 0 && families.layernorm > 0, JSON.stringify(families));
    assert.is(row.families.reduce((n: number, f: { dispatches: number }) => n + f.dispatches, 0), row.dispatches);
    assert.match(r.stdout, /dispatches per step/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('bench e2e: the shipped MAEs step by amrm, by TF.js on the same device (its loss checked against ours), and by PyTorch where a python3 with torch is present', () => {
  const dir = mkdtempSync(join(tmpdir(), 'amrm-e2e-'));
  try {
    const out = join(dir, 'e2e.json');
    const r = amrm(['bench', 'e2e', '--batch', '2', '--steps', '1', '--json', out]);
    assert.is(r.status, 0, r.stderr);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(report.rows.map((x: { model: string }) => x.model.split(' ')[0]), ['cifar10-mae', 'mnist-mae']);
    for (const row of report.rows) {
      assert.ok(row.amrm_ms > 0);
      if (row.pytorch_ms !== null) assert.ok(row.pytorch_ms > 0 && row.ratio > 0);
      // TF.js loads wherever the engine runs (its package is a dev dependency of the benchmarks).
      assert.ok(row.tfjs_ms > 0 && row.tfjs_ratio > 0, JSON.stringify(row));
      assert.ok(row.tfjs_loss_rel_diff <= 1e-4, `TF.js's loss differs from amrm's by ${row.tfjs_loss_rel_diff}`);
    }
    assert.match(report.why.pytorch, /OpenBLAS/);
    assert.match(report.tfjs, /tfjs-core/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test.run();
