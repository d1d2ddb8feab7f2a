// Interleaved timing rounds and medians, the part of the benchmarks' timing that runs anywhere the
// engine runs (Node and the browser lab's page): no Node module, no TF.js. bench/timing.ts adds the
// Node side (TF.js on the engine's GPUDevice) and re-exports these.
import { median } from '../src/engine/profile.js';

export { median };

/**
 * Median run time of each implementation, timed in interleaved rounds (one run of each per round)
 * so that a change in the machine's load (other processes share its cores) hits all of them alike.
 * Two untimed runs first (the first compiles the pipelines). An implementation whose second
 * warm-up run is longer than `maxMs` is left out (undefined).
 */
export async function interleavedMedians(reps: number, maxMs: number, impls: (() => Promise<void>)[]): Promise<(number | undefined)[]> {
  const live: boolean[] = [];
  for (const once of impls) {
    await once();
    const t0 = performance.now();
    await once();
    live.push(performance.now() - t0 <= maxMs);
  }
  const times: number[][] = impls.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, once] of impls.entries()) {
      if (!live[i]) continue;
      const t0 = performance.now();
      await once();
      times[i].push(performance.now() - t0);
    }
  }
  return times.map((t, i) => (live[i] ? median(t) : undefined));
}
