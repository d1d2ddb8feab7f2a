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
    const families = Object.fromEntries(row.families.map((f: { family: string; dispatches: number }) => [f.family, f.dispatches]));
    assert.ok(families.matmul > 0 && families.attention > 0 && families.layernorm > 0, JSON.stringify(families));
    assert.is(row.families.reduce((n: number, f: { dispatches: number }) => n + f.dispatches, 0), row.dispatches);
    assert.match(r.stdout, /dispatches per step/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test.run();
