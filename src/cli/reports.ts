// Reading `amrm eval` reports back (merge joins shards, compare pairs two runs): a file that cannot be
// read or parsed is named in the error, with the command that wanted it.
import { readFileSync } from 'node:fs';
import type { EvalReport } from '../eval/shard.js';

export function readReport(file: string, command: string): EvalReport {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new Error(`${command}: cannot read ${file}: ${(e as Error).message}`); }
  try { return JSON.parse(text) as EvalReport; } catch (e) { throw new Error(`${command}: ${file} is not JSON (${(e as Error).message})`); }
}
