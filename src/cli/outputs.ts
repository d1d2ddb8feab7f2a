// Output files and folders are checked before a command starts its work, so that a mistyped path
// costs a message, not a finished evaluation that cannot be written (writeAtomic would fail only at
// the end).
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
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

/** The output folder `dir` (given by `flag`) can be made: it is not a file. Creates nothing. */
export function checkOutputFolder(dir: string, flag = '--out'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${flag} ${dir} is a file, not a folder`);
}

/** Makes the output folder `dir` (given by `flag`) or finds it writable; throws naming it otherwise. */
export function openOutputFolder(dir: string, flag = '--out'): void {
  checkOutputFolder(dir, flag);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new Error(`cannot write to ${flag} ${dir}: ${(e as Error).message}`);
  }
}
