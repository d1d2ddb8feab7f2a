#!/usr/bin/env node
// The `amrm` command: runs the bundled CLI, building it first on a fresh checkout.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/node/cli.js');
if (!existsSync(cli)) execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
