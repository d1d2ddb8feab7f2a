// Output files are checked before a command starts its work, so that a mistyped path costs a message,
// not a finished evaluation that cannot be written (writeAtomic would fail only at the end).
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Each path (undefined ones skipped) must be a file in an existing folder: throws naming the first that is not. */
export function checkOutputFiles(paths: (string | undefined)[]): void {
  for (const p of paths) {
    if (p === undefined) continue;
    const dir = dirname(resolve(p));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`the output folder ${dir} (for ${p}) does not exist`);
    if (existsSync(p) && statSync(p).isDirectory()) throw new Error(`the output ${p} is a folder, not a file`);
  }
}
