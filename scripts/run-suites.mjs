// Runs every bundled uvu suite (dist/test/**/*.test.js) in this process, on the adapter that
// AMRM_ADAPTER names, the way uvu's own CLI does: one queue, one summary.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const walk = (dir) => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? walk(p) : f.endsWith('.test.js') ? [p] : [];
});
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;
const dist = process.env.AMRM_DIST ?? 'dist';
const files = walk(`${dist}/test`).filter((f) => !filter || filter.test(f)).sort();
globalThis.UVU_DEFER = 1;
const { exec } = await import('uvu');
for (const [i, f] of files.entries()) {
  globalThis.UVU_INDEX = i;
  globalThis.UVU_QUEUE.push([relative(`${dist}/test`, f)]);
  await import(pathToFileURL(resolve(f)).href);
}
await exec(false);
process.exit(process.exitCode ?? 0);
