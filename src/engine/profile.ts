// Where the time of a repeated unit of work (a purification step, a training step) goes: how many
// dispatches of each kernel family and entry it records, and each family's share of its time. Two
// ways to get the time, chosen by what the adapter offers:
// - timestamp queries: every dispatch in a compute pass of its own, bracketed by two timestamps
//   (GPU time only; copies and host work are what is left of the wall time);
// - elimination (any adapter, llvmpipe has no timestamps): the work run again with one family's
//   dispatches left out; the family costs the wall time that goes away, its submission and
//   per-dispatch overhead included. The results of such a run are garbage and are thrown away.
import { engine } from './engine.js';
import type { DispatchObserver } from './runtime.js';

export type ProfileMethod = 'timestamp' | 'elimination';

export interface ProfileFamily {
  /** The kernel family (`matmul`, `layout`, `copy` …). */
  family: string;
  dispatches: number;
  /** Dispatches per entry point of the family (`layout.strided_copy` …). */
  entries: Record<string, number>;
  /** Milliseconds of one unit of work attributed to the family. */
  ms: number;
  /** ms over the unit's median wall time. */
  share: number;
}

export interface WorkProfile {
  method: ProfileMethod;
  adapter: string;
  /** Median wall time of the unit of work, unprofiled, over `repeats` runs. */
  medianMs: number;
  repeats: number;
  dispatches: number;
  /** Families, most time first. */
  families: ProfileFamily[];
  /** medianMs minus the families' sum: host work, submission, synchronisation (elimination: also the interactions). */
  otherMs: number;
}

export interface ProfileOptions {
  /** Default: timestamps where the device has the feature, elimination otherwise. */
  method?: ProfileMethod;
  /** Timed runs (elimination: pairs of runs) per measurement, whose median counts. Default 3. */
  repeats?: number;
}

const familyOf = (name: string): string => name.split('.')[0];
/** The median of a list of numbers (NaN for none). */
export const median = (v: ArrayLike<number>): number => {
  const s = Array.from(v).sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs `work` with an observer installed, always taking it off again. */
async function observed<T>(observer: DispatchObserver, work: () => Promise<T>): Promise<T> {
  const rt = engine().runtime;
  if (rt.observer) throw new Error('profile: another profile is running');
  rt.observer = observer;
  try { return await work(); } finally { rt.observer = undefined; }
}

async function wallMs(work: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await work();
  await engine().runtime.sync();
  return performance.now() - t;
}

/** The dispatch and copy names one run of `work` records, in order. */
export async function recordDispatches(work: () => Promise<void>): Promise<string[]> {
  const names: string[] = [];
  await observed({ see: (n) => { names.push(n); return true; } }, async () => { await work(); await engine().runtime.sync(); });
  return names;
}

/** Milliseconds per family from timestamps: each dispatch timed in its own pass (copies are not). */
async function timestampMs(work: () => Promise<void>, count: number): Promise<Map<string, number>> {
  const { device } = engine().gpu;
  const rt = engine().runtime;
  const slots = 2 * count;
  const querySet = device.createQuerySet({ type: 'timestamp', count: slots });
  const resolved = device.createBuffer({ size: slots * 8, usage: 0x0200 /* QUERY_RESOLVE */ | 0x0004 /* COPY_SRC */ });
  const timed: string[] = [];
  try {
    await observed({
      see: (n) => { if (n !== 'copy') timed.push(n); return true; },
      timestampSlot: () => {
        const index = 2 * (timed.length - 1);
        if (index + 1 >= slots) throw new Error(`profile: the work recorded more dispatches than the ${count} counted before`);
        return { querySet, index };
      },
    }, async () => { await work(); rt.submit(); });
    const enc = device.createCommandEncoder();
    enc.resolveQuerySet(querySet, 0, 2 * timed.length, resolved, 0);
    device.queue.submit([enc.finish()]);
    const ticks = new BigInt64Array(await rt.read(resolved, 2 * timed.length * 8));
    const ms = new Map<string, number>();
    timed.forEach((n, i) => {
      const f = familyOf(n);
      // Nanoseconds; a pass whose end reads before its begin (a quantized clock) counts as zero.
      const dt = Math.max(0, Number(ticks[2 * i + 1] - ticks[2 * i])) / 1e6;
      ms.set(f, (ms.get(f) ?? 0) + dt);
    });
    return ms;
  } finally {
    querySet.destroy();
    resolved.destroy();
  }
}

/**
 * Milliseconds per family by elimination: the median over `repeats` pairs of (a full run − a run
 * without the family), the two runs of a pair back to back so that a shared machine's changing
 * load hits both alike.
 */
async function eliminationMs(work: () => Promise<void>, families: string[], repeats: number): Promise<Map<string, number>> {
  const ms = new Map<string, number>();
  const rt = engine().runtime;
  for (const f of families) {
    const without: DispatchObserver = { see: (n) => familyOf(n) !== f };
    const diffs: number[] = [];
    await observed(without, () => wallMs(work)); // the first run without the family may compile other variants
    for (let r = 0; r < repeats; r++) {
      const full = await wallMs(work);
      rt.observer = without;
      try { diffs.push(full - await wallMs(work)); } finally { rt.observer = undefined; }
    }
    ms.set(f, Math.max(0, median(diffs)));
  }
  return ms;
}

/**
 * Profiles one unit of work (a function that records the same dispatches every time it runs; its
 * results are its own business). Runs it once to compile, `repeats` times for the median wall
 * time, once to count, then once per family (elimination) or once with timestamps.
 */
export async function profileWork(work: () => Promise<void>, o: ProfileOptions = {}): Promise<WorkProfile> {
  const repeats = o.repeats ?? 3;
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`profile: repeats must be a positive integer, got ${repeats}`);
  const gpu = engine().gpu;
  const hasTimestamps = gpu.features.includes('timestamp-query');
  const method = o.method ?? (hasTimestamps ? 'timestamp' : 'elimination');
  if (method === 'timestamp' && !hasTimestamps) throw new Error(`profile: the ${gpu.kind} adapter has no timestamp-query feature; use elimination`);
  await wallMs(work);
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) times.push(await wallMs(work));
  const medianMs = median(times);
  const names = await recordDispatches(work);
  const counts = new Map<string, Map<string, number>>();
  for (const n of names) {
    const f = familyOf(n);
    let e = counts.get(f);
    if (!e) counts.set(f, (e = new Map()));
    e.set(n, (e.get(n) ?? 0) + 1);
  }
  const ms = method === 'timestamp'
    ? await timestampMs(work, names.length)
    : await eliminationMs(work, [...counts.keys()], repeats);
  const families: ProfileFamily[] = [...counts].map(([family, e]) => {
    const t = ms.get(family) ?? 0;
    return {
      family, dispatches: [...e.values()].reduce((a, b) => a + b, 0),
      entries: Object.fromEntries([...e].sort((a, b) => b[1] - a[1])),
      ms: +t.toFixed(3), share: +(t / medianMs).toFixed(4),
    };
  }).sort((a, b) => b.ms - a.ms || b.dispatches - a.dispatches);
  const attributed = families.reduce((a, f) => a + f.ms, 0);
  return {
    method, adapter: gpu.kind, medianMs: +medianMs.toFixed(2), repeats, dispatches: names.length, families,
    otherMs: +(medianMs - attributed).toFixed(2),
  };
}

/** The profile as a table for a console. */
export function formatProfile(p: WorkProfile): string {
  const lines = [`${p.adapter}, ${p.method}: ${p.medianMs.toFixed(1)} ms (median of ${p.repeats}), ${p.dispatches} dispatches and copies`];
  lines.push(`  ${'family'.padEnd(18)} ${'dispatches'.padStart(10)} ${'ms'.padStart(9)} ${'share'.padStart(7)}  entries`);
  for (const f of p.families) {
    const entries = Object.entries(f.entries).map(([n, c]) => `${n.slice(f.family.length + 1) || n} ${c}`).join(', ');
    lines.push(`  ${f.family.padEnd(18)} ${String(f.dispatches).padStart(10)} ${f.ms.toFixed(1).padStart(9)} ${(100 * f.share).toFixed(1).padStart(6)}%  ${entries}`);
  }
  lines.push(`  ${'other'.padEnd(18)} ${''.padStart(10)} ${p.otherMs.toFixed(1).padStart(9)} ${(100 * p.otherMs / p.medianMs).toFixed(1).padStart(6)}%  host work, submission, waiting${p.method === 'elimination' ? ', overlap between families' : ''}`);
  return lines.join('\n');
}
