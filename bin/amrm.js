#!/usr/bin/env node
// The `amrm` command: runs the bundled CLI, building it first on a fresh checkout or when a source
// file (src/, kernels/, bench/) is newer than the bundle, so a pulled or edited checkout never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// An installed package ships its bundle and no build script: only a checkout rebuilds (file times
// in an installed package follow the order npm unpacked them, not the order they were made).
const checkout = existsSync(join(root, 'scripts/build.mjs'));
// In a checkout AMRM_DIST names another build folder inside the repository (its bundles find
// node_modules from there), as for scripts/build.mjs; relative paths are from the repository root.
const dist = checkout ? resolve(root, process.env.AMRM_DIST ?? 'dist') : join(root, 'dist');
const cli = join(dist, 'node/cli.js');

/** The newest modification time of the source files (.ts, .wgsl) below dir (0 when there are none). */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (/\.(ts|wgsl|html|css)$/.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

if (!checkout && !existsSync(cli)) throw new Error(`amrm: ${cli} is missing from this installation`);
// `amrm serve` serves the browser lab, so it needs that bundle too (web/ is its source).
const serving = process.argv[2] === 'serve';
const bundle = serving ? join(dist, 'web/lab/lab.js') : cli;
const sources = () => Math.max(newest(join(root, 'src')), newest(join(root, 'kernels')), newest(join(root, 'bench')), serving ? newest(join(root, 'web')) : 0);
const stale = process.env.AMRM_CLI_CHILD !== '1' && checkout && (!existsSync(cli) || !existsSync(bundle) || sources() > Math.min(statSync(cli).mtimeMs, statSync(bundle).mtimeMs));
// Only the library and the CLI (and for serve the lab) are rebuilt here; the tests and the other browser bundles are npm test's.
if (stale) execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit', env: { ...process.env, AMRM_DIST: dist, AMRM_BUILD_TARGETS: serving ? 'node,lab' : 'node' } });

// Dawn writes two "artificially reduced" limit warnings to the process's stderr (native code, not
// console) whenever an adapter is opened on llvmpipe or SwiftShader; they say nothing to a user. The
// CLI therefore runs in a child whose stderr passes through here line by line, less those lines.
// stdout stays the terminal's, so tables, progress and exit codes are the child's own.
const DAWN_NOISE = /^Warning: maxDynamic\w+PerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

if (process.env.AMRM_CLI_CHILD === '1') {
  const { main } = await import(cli);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'pipe'], env: { ...process.env, AMRM_CLI_CHILD: '1' },
  });
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    const kept = lines.filter((l) => !DAWN_NOISE.test(l));
    if (kept.length) process.stderr.write(kept.join('\n') + '\n');
    // A partial line (a progress counter rewritten with \r) goes out at once, not at its newline.
    if (pending.includes('\r') || pending.length > 4096) { process.stderr.write(pending); pending = ''; }
  });
  // Ctrl-C reaches the child through the terminal's process group; a signal sent to this process alone is passed on.
  for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  process.on('SIGINT', () => {});
  child.on('close', (code, signal) => {
    if (pending && !DAWN_NOISE.test(pending)) process.stderr.write(pending);
    // A child killed by a signal ends this process by the same signal (the shell then reports it as such).
    if (signal) { process.removeAllListeners(signal); process.kill(process.pid, signal); }
    else process.exitCode = code ?? 1;
  });
}
