// What one more dispatch costs on this adapter, apart from its work: chains of n elementwise ops
// (x + 0.001, each its own dispatch into a fresh pooled buffer, recorded by the engine as any op is:
// allocation, bind group, encoding, the submission batches) timed to the end of the GPU queue at
// two chain lengths; the slope between them is the time per dispatch. Done for a tiny tensor (the
// cost is then all overhead) and for one of a CIFAR-10 MAE activation's size ([32·65, 96]), and
// multiplied by the dispatches of a purification step, to weigh issue 16's dispatch target
// (at most 100 per CIFAR-10 MAE step, 136 now) against the step's time.
//   node dist/bench/dispatch_cost.js [--json FILE] [--reps N]   (AMRM_ADAPTER picks the adapter)
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { Rng } from '../src/engine/random.js';
import { tensor } from '../src/engine/ops/creation.js';
import { addScalar } from '../src/engine/ops/elementwise.js';
import type { Tensor } from '../src/engine/tensor.js';
import { interleavedMedians } from './timing.js';
import { intFlag, parseFlags } from '../src/cli/args.js';

const flags = parseFlags(process.argv.slice(2), { valued: ['--reps', '--json'] }).values;
const reps = intFlag(flags, '--reps', 1) ?? 15;
const json = flags.get('--json');
/** Chain lengths: the per-dispatch cost is the slope between them. */
const SHORT = 40, LONG = 400;
const SIZES = [{ name: 'tiny [64]', size: 64 }, { name: 'MAE activation [2080×96]', size: 2080 * 96 }];
/** Dispatches of one shipped CIFAR-10 MAE purification step (bench/results/profile-purify-llvmpipe.json). */
const STEP_DISPATCHES = 136;

await init();
const rt = engine().runtime;
const rng = new Rng(9);

const chain = (x: Tensor, n: number) => (): Promise<void> => {
  let y = x;
  for (let i = 0; i < n; i++) {
    const z = addScalar(y, 1e-3);
    if (y !== x) y.dispose();
    y = z;
  }
  y.dispose();
  return rt.sync();
};

const rows = [];
for (const s of SIZES) {
  const x = tensor(Float32Array.from({ length: s.size }, () => rng.next()), [s.size]);
  const [short, long] = await interleavedMedians(reps, Infinity, [chain(x, SHORT), chain(x, LONG)]);
  x.dispose();
  const perUs = ((long! - short!) / (LONG - SHORT)) * 1000;
  const row = {
    tensor: s.name, [`chain_${SHORT}_ms`]: +short!.toFixed(3), [`chain_${LONG}_ms`]: +long!.toFixed(3),
    per_dispatch_us: +perUs.toFixed(1), step_dispatches_ms: +((perUs * STEP_DISPATCHES) / 1000).toFixed(2),
  };
  rows.push(row);
  console.log(`${s.name}: ${row.per_dispatch_us} µs per dispatch (${SHORT}: ${row[`chain_${SHORT}_ms`]} ms, ${LONG}: ${row[`chain_${LONG}_ms`]} ms); ${STEP_DISPATCHES} dispatches: ${row.step_dispatches_ms} ms`);
}
if (json) {
  writeAtomic(json, JSON.stringify({
    bench: 'dispatch_cost', command: `AMRM_ADAPTER=${engine().gpu.kind} node dist/bench/dispatch_cost.js --reps ${reps} --json ${json}`,
    adapter: engine().gpu.kind, date: new Date().toISOString(),
    timing: `chains of ${SHORT} and ${LONG} dependent x + 0.001 ops, each timed to the end of the GPU queue, median of ${reps} interleaved rounds after 2 warm-up rounds; per dispatch = the difference over ${LONG - SHORT}`,
    step_dispatches: STEP_DISPATCHES, rows,
  }, null, 1) + '\n');
}
