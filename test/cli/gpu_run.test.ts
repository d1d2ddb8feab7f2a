import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const test = suite('bench/gpu/run.sh');

test('the prepared GPU run, dry: every step on this adapter with tiny sizes, its results as files', () => {
  const out = mkdtempSync(join(tmpdir(), 'amrm-gpu-dry-'));
  try {
    const r = spawnSync('bash', ['bench/gpu/run.sh', '--dry-run'], { encoding: 'utf8', env: { ...process.env, OUT: out } });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /every step ok/);
    const read = (f: string) => JSON.parse(readFileSync(join(out, f), 'utf8'));
    assert.type(read('dryrun-adapter.json').adapter.description, 'string');
    const kernels = read('dryrun-kernels.json');
    assert.ok(kernels.rows.length > 0 && kernels.rows.every((x: { gflops: number }) => x.gflops > 0));
    const purifyRow = read('dryrun-purify.json').rows[0];
    assert.ok(purifyRow.median_step_ms > 0);
    // The matmuls' work per step is counted (forward and input gradient of every linear layer).
    assert.ok(purifyRow.matmul_gflop_per_step > 0 && purifyRow.matmul_gflops_effective > 0, JSON.stringify(purifyRow));
    assert.match(read('dryrun-kernels-register.json').command, /--tuning/);
    assert.match(read('dryrun-kernels-f16.json').command, /"f16":true/);
    assert.match(readFileSync(join(out, 'dryrun-op-tests.log'), 'utf8'), /Passed:\s+\d+/);
    // The PyTorch steps ran where torch is installed, and were skipped (said so) where it is not.
    if (existsSync(join(out, 'dryrun-torch-kernels.json'))) {
      assert.ok(read('dryrun-torch-kernels.json').rows.some((x: { kernel: string }) => x.kernel === 'matmul'));
      assert.ok(read('dryrun-torch-purify.json').median_step_ms > 0);
    } else assert.match(r.stdout, /PyTorch steps skipped/);
  } finally { rmSync(out, { recursive: true, force: true }); }
});

test.run();
