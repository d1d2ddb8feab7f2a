// Command-line flags, one way for every `amrm` command: `--flag value` or `--flag=value`, switches
// without a value, and lists (`--input A.png B.png`) that run until the next flag. Anything unclear is
// a UsageError, which `withUsage` turns into the message, the command's usage text and exit code 2.

import { parseEps } from '../attacks/ball.js';

export class UsageError extends Error {}

export interface FlagSpec {
  /** Flags that take one value. */
  valued: readonly string[];
  /** Flags that take none (present or absent). */
  switches?: readonly string[];
  /** Flags that take every following argument up to the next `--flag`. */
  lists?: readonly string[];
  /** Arguments that are not flags are taken in order (files to read), instead of refused. */
  positional?: boolean;
}

export interface Flags {
  values: Map<string, string>;
  switches: Set<string>;
  lists: Map<string, string[]>;
  /** With `positional`: the arguments that are not flags, in order. */
  positional: string[];
}

export function parseFlags(args: readonly string[], spec: FlagSpec): Flags {
  const out: Flags = { values: new Map(), switches: new Set(), lists: new Map(), positional: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (spec.switches?.includes(a)) { out.switches.add(a); continue; }
    if (spec.lists?.includes(a)) {
      const items = out.lists.get(a) ?? [];
      while (i + 1 < args.length && !args[i + 1].startsWith('--')) items.push(args[++i]);
      out.lists.set(a, items);
      continue;
    }
    if (spec.positional && !a.startsWith('--')) { out.positional.push(a); continue; }
    if (!spec.valued.includes(flag)) throw new UsageError(`unknown option '${a}'`);
    const value = flag !== a ? a.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    // `--json --seed 3` is a forgotten value, not a file named --seed (`--json=--seed` says it is).
    if (flag === a && value.startsWith('--')) throw new UsageError(`${flag} needs a value, got the option '${value}' (write ${flag}=${value} if that is the value)`);
    if (out.values.has(flag)) throw new UsageError(`${flag} is given twice`);
    out.values.set(flag, value);
  }
  return out;
}

/** The value of an integer flag ≥ min (decimal digits only), or undefined when absent. */
export function intFlag(values: Map<string, string>, flag: string, min: number): number | undefined {
  const v = values.get(flag);
  if (v === undefined) return undefined;
  const k = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(k) || k < min) throw new UsageError(`${flag} must be an integer ≥ ${min}, got '${v}'`);
  return k;
}

/** The value of a finite number flag ≥ min, or undefined when absent. */
export function numFlag(values: Map<string, string>, flag: string, min: number): number | undefined {
  const v = values.get(flag);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x < min) throw new UsageError(`${flag} must be a number ≥ ${min}, got '${v}'`);
  return x;
}

/** The value of a fraction flag in [0, 1) (a mask ratio; (0, 1) with `positive`), or undefined when absent. */
export function ratioFlag(values: Map<string, string>, flag: string, o: { positive?: boolean } = {}): number | undefined {
  const v = values.get(flag);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !((o.positive ? x > 0 : x >= 0) && x < 1)) throw new UsageError(`${flag} must be in ${o.positive ? '(' : '['}0, 1), got '${v}'`);
  return x;
}

/** Runs a command's parser; a UsageError becomes `amrm <command>: <message>`, the usage text and exit code 2. */
export function withUsage<T>(command: string, usage: string, parse: () => T): T | 2 {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`amrm ${command}: ${e.message}\nusage:\n${usage}`);
    return 2;
  }
}

/**
 * The value of a radius-like flag, a number ≥ 0 or a fraction such as 8/255 (or `inf` where `inf`
 * is allowed: an unbounded ball), or undefined when absent.
 */
export function fractionFlag(values: Map<string, string>, flag: string, o: { inf?: boolean } = {}): number | undefined {
  const v = values.get(flag);
  if (v === undefined) return undefined;
  if (o.inf && v === 'inf') return Infinity;
  try { return parseEps(v); } catch { throw new UsageError(`${flag} must be a number ≥ 0${o.inf ? ', inf' : ''} or a fraction like 8/255, got '${v}'`); }
}

/** A comma-separated list of positive radii (numbers or fractions such as 8/255), or undefined when absent. */
export function fractionListFlag(values: Map<string, string>, flag: string): number[] | undefined {
  const v = values.get(flag);
  if (v === undefined) return undefined;
  return v.split(',').map((part) => {
    const s = part.trim();
    let x: number;
    try { x = parseEps(s); } catch { throw new UsageError(`${flag} must be numbers or fractions like 8/255, comma-separated; got '${s}'`); }
    if (!(x > 0)) throw new UsageError(`${flag} must be positive, got '${s}'`);
    return x;
  });
}
