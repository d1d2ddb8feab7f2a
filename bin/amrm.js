#!/usr/bin/env node
// The `amrm` command: runs the bundled CLI, building it first on a fresh checkout or when a source
// file (src/, kernels/) is newer than the bundle, so a pulled or edited checkout never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/node/cli.js');

/** The newest modification time of the files below dir (0 when it does not exist). */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const stale = !existsSync(cli) || Math.max(newest(join(root, 'src')), newest(join(root, 'kernels'))) > statSync(cli).mtimeMs;
if (stale) execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
