// The adaptive attack's gradient through an S-step purification, by the two routes of
// purifyDifferentiable (src/purify/amrm.ts): the closed form (the diagonal d x_S / d x0 carried
// along the plain loop) and the tape (the unrolled loop recorded, then backward). Per route and S:
// the peak GPU memory above what was in use before (the pool's bytes in use, peak) and the wall
// time of one gradient of a fixed linear read-out of x_S (the classifier's part is the same for
// both routes and is left out).
import { existsSync } from 'node:fs';
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { Rng } from '../src/engine/random.js';
import { asyncScope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { mul } from '../src/engine/ops/elementwise.js';
import { sum } from '../src/engine/ops/reduce.js';
import { grad } from '../src/engine/autograd.js';
import { loadPurifier } from '../src/cli/purifier.js';
import { purifyConfig, purifyDifferentiable, type PurifyGradientRoute } from '../src/purify/amrm.js';
import { median } from '../src/engine/profile.js';

export interface GradientRouteRow {
  model: string; preset: string; batch: number; steps: number; route: PurifyGradientRoute;
  peak_bytes: number; seconds: number;
}

export interface GradientRouteOptions { file?: string; preset?: string; batch?: number; steps?: number[]; repeats?: number; json?: string; command?: string; }

export async function runGradientRouteBench(o: GradientRouteOptions = {}): Promise<GradientRouteRow[]> {
  await init();
  const file = o.file ?? 'models/cifar10-mae.safetensors', preset = o.preset ?? 'mae-cifar10';
  if (!existsSync(file)) throw new Error(`bench gradient-route: ${file} is not there`);
  const batch = o.batch ?? 8, stepsList = o.steps ?? [1, 10, 50, 150];
  const p = loadPurifier(file, { preset });
  const rows: GradientRouteRow[] = [];
  try {
    const [C, H, W] = p.recon.inputShape;
    const rng = new Rng(5);
    const x = Float32Array.from({ length: batch * C * H * W }, () => rng.next());
    const u = Float32Array.from({ length: x.length }, () => rng.uniform(-1, 1));
    const rt = engine().runtime;
    const once = (route: PurifyGradientRoute, steps: number) => asyncScope(async () => {
      const x0 = tensor(x, [batch, C, H, W]).requireGrad();
      const r = await purifyDifferentiable(p.recon, x0, purifyConfig(preset, { steps }), {}, route);
      const [g] = grad(sum(mul(r.images, tensor(u, [batch, C, H, W]))), [x0]);
      await g.data();
      g.dispose();
    });
    await once('closed-form', 1); // compiles
    const repeats = o.repeats ?? 3;
    for (const steps of stepsList) {
      // The routes interleaved, `repeats` rounds: a change in the machine's load hits both alike.
      const times: Record<PurifyGradientRoute, number[]> = { 'closed-form': [], tape: [] };
      const peaks: Record<PurifyGradientRoute, number> = { 'closed-form': 0, tape: 0 };
      for (let k = 0; k < repeats; k++) {
        for (const route of ['closed-form', 'tape'] as const) {
          await rt.sync();
          const before = rt.stats().bytesInUse;
          rt.resetPeak();
          const t0 = performance.now();
          await once(route, steps);
          times[route].push((performance.now() - t0) / 1000);
          peaks[route] = Math.max(peaks[route], rt.stats().peakBytesInUse - before);
        }
      }
      for (const route of ['closed-form', 'tape'] as const) {
        const row = { model: file, preset, batch, steps, route, peak_bytes: peaks[route], seconds: +median(times[route]).toFixed(2) };
        rows.push(row);
        console.log(`S ${String(steps).padStart(4)} ${route.padEnd(11)} peak ${(row.peak_bytes / 2 ** 20).toFixed(1).padStart(8)} MiB ${row.seconds.toFixed(2).padStart(8)} s (median of ${repeats})`);
      }
    }
  } finally { p.dispose(); }
  if (o.json) {
    writeAtomic(o.json, `${JSON.stringify({
      bench: 'gradient-route', command: o.command ?? 'runGradientRouteBench()', adapter: engine().gpu.kind, date: new Date().toISOString(),
      measure: 'peak_bytes: the most pool bytes in use at once during one gradient, above those in use before it; seconds: the median wall time of one gradient over interleaved rounds',
      rows,
    }, null, 2)}\n`);
  }
  return rows;
}
