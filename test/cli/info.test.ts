import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const test = suite('cli info');
const amrm = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/amrm.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test('amrm info --json reports the adapter AMRM_ADAPTER names, with features and limits', () => {
  const r = amrm(['info', '--json']);
  assert.is(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  for (const k of ['vendor', 'architecture', 'description']) assert.type(info.adapter[k], 'string');
  assert.ok(['core', 'compatibility'].includes(info.featureLevel));
  assert.ok(Array.isArray(info.features));
  assert.type(info.limits.maxStorageBufferBindingSize, 'number');
  if (process.env.AMRM_ADAPTER === 'llvmpipe') {
    assert.is(info.featureLevel, 'compatibility');
    assert.match(info.adapter.description, /Mesa|llvmpipe/i);
  }
  if (process.env.AMRM_ADAPTER === 'swiftshader') assert.match(info.adapter.description, /SwiftShader/i);
});

test('bin/amrm.js honours AMRM_DIST and builds only the library and the CLI there', () => {
  // Inside the repository: the bundle resolves its external packages (webgpu) from node_modules above it.
  mkdirSync('.tmp', { recursive: true });
  const dir = mkdtempSync(join('.tmp', 'amrm-dist-'));
  try {
    const r = amrm(['info', '--json'], { AMRM_DIST: dir });
    assert.is(r.status, 0, r.stderr);
    assert.equal(readdirSync(dir), ['node']);
    assert.ok(existsSync(join(dir, 'node', 'cli.js')));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('amrm help lists every command with its own usage text', () => {
  const r = amrm(['help']);
  assert.is(r.status, 0, r.stderr);
  for (const line of ['info [--json]', 'bench e2e', 'convert IN OUT', 'eval --dataset cifar10|cifar100|mnist', 'merge SHARD.json|DIR',
    'eval-mae', 'eval-maskdit', 'demo', 'figures', 'purify --purifier FILE', 'theorem', 'train mae|classifier|maskdit']) {
    assert.ok(r.stdout.includes(`  ${line}`), `help lacks '${line}'`);
  }
});

test("Dawn's 'artificially reduced' limit warnings stay off the CLI's stderr; its own messages and exit codes pass", () => {
  const r = amrm(['info']);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /artificially reduced/);
  const bad = amrm(['eval', '--dataset', 'foo']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^amrm eval: --dataset must be cifar10, cifar100 or mnist, got 'foo'\nusage:\n  eval --dataset/);
});

test('amrm CMD --help and amrm help CMD print that command\'s usage and exit 0', () => {
  for (const args of [['demo', '--help'], ['help', 'demo'], ['demo', '-h']]) {
    const r = amrm(args);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage:\n  demo \[--dataset mnist\|cifar10\]/);
    assert.not.match(r.stdout, /  purify --purifier/);
  }
});

test('an unknown adapter name is refused with the accepted names', () => {
  const r = amrm(['info'], { AMRM_ADAPTER: 'quantum' });
  assert.is(r.status, 1);
  assert.match(r.stderr, /AMRM_ADAPTER=quantum is not one of auto, gpu, llvmpipe, swiftshader/);
});

test('an adapter that cannot be opened gives an error listing the attempt and its reason', () => {
  const r = amrm(['info'], { AMRM_ADAPTER: 'gpu' });
  if (r.status === 0) return; // a machine with a hardware GPU
  assert.match(r.stderr, /no WebGPU adapter could be opened:\n\s+gpu: /);
});

test('an unknown command prints the usage', () => {
  const r = amrm(['frobnicate']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'[\s\S]*usage: amrm/);
});

test.run();
