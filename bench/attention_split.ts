// The fused attention forward's work split, swept at the CIFAR-10 MAE's shape (B 32, H 3, N 65,
// d 64: issue 16's attention target): rmaxFwd, the most query rows per invocation (N is cut into the
// fewest chunks of at most that many rows, src/engine/ops/attention.ts), kbFwd keys per step, and
// the workgroup size. Each split's output is checked against the composed path, then every split is
// timed in interleaved rounds (one run of each per round, so a change in the machine's load hits all
// alike).
//   AMRM_ADAPTER=llvmpipe node dist/bench/attention_split.js [--reps 15] [--json FILE]
import { engine, init } from '../src/engine/engine.js';
import { Rng } from '../src/engine/random.js';
import { scope, type Tensor } from '../src/engine/tensor.js';
import { noGrad } from '../src/engine/autograd.js';
import { tensor } from '../src/engine/ops/creation.js';
import { attention } from '../src/engine/ops/attention.js';
import { setTuning, tuning, type AttentionTiling } from '../src/engine/tuning.js';
import { intFlag, parseFlags } from '../src/cli/args.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { interleavedMedians } from './interleave.js';

const flags = parseFlags(process.argv.slice(2), { valued: ['--reps', '--json'], switches: [] });
const reps = intFlag(flags.values, '--reps', 3) ?? 15;
const jsonOut = flags.values.get('--json');
await init();
const SHAPE = [32, 3, 65, 64];
const defaults = tuning().attention;
// R is one of the compiled row counts (attention.ts R_CHOICES): at N = 65 these give 8 chunks of
// 9 rows, 4 of 17 and 3 of 22.
const splits: Partial<AttentionTiling>[] = [];
for (const rmaxFwd of [9, 17, 22]) for (const kbFwd of [1, 2, 4]) splits.push({ rmaxFwd, kbFwd });
for (const wg of [4, 16, 64]) splits.push({ wg });
const label = (s: Partial<AttentionTiling>): string => {
  const t = { ...defaults, ...s };
  return `rmax ${t.rmaxFwd} kb ${t.kbFwd} wg ${t.wg}`;
};

const rng = new Rng(3);
const n = SHAPE.reduce((a, b) => a * b, 1);
const [q, k, v] = [0, 1, 2].map(() => tensor(Float32Array.from({ length: n }, () => rng.uniform(-1, 1)), SHAPE));
const outOf = async (impl: 'fused' | 'composed'): Promise<Float32Array> => {
  const o = scope(() => noGrad(() => attention(q, k, v, { impl }).out.detach()));
  const d = await o.data();
  o.dispose();
  return d;
};
const reference = await outOf('composed');
const all = [{}, ...splits];
for (const s of all) {
  setTuning({ attention: s });
  const got = await outOf('fused');
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - reference[i]));
  if (!(worst <= 1e-4)) throw new Error(`attention_split: ${label(s)} differs from the composed path by ${worst}`);
}
const rt = engine().runtime;
const ms = await interleavedMedians(reps, 10_000, all.map((s) => async () => {
  setTuning({ attention: s });
  scope(() => noGrad(() => { attention(q, k, v, { impl: 'fused' }); }));
  await rt.sync();
}));
setTuning();
const flops = 4 * SHAPE[0] * SHAPE[1] * SHAPE[2] * SHAPE[2] * SHAPE[3];
const rows = all.map((s, i) => ({ split: label(s), default: i === 0, median_ms: +ms[i]!.toFixed(3), gflops: +(flops / ms[i]! / 1e6).toFixed(2) }));
for (const r of rows) console.log(`${r.split.padEnd(20)} ${r.median_ms.toFixed(3)} ms  ${r.gflops} GFLOP/s${r.default ? '  (default)' : ''}`);
if (jsonOut) {
  writeAtomic(jsonOut, JSON.stringify({
    bench: 'attention_split', command: `AMRM_ADAPTER=${engine().gpu.kind} node dist/bench/attention_split.js --reps ${reps} --json ${jsonOut}`,
    adapter: engine().gpu.kind, shape: SHAPE, timing: `forward only, median of ${reps} interleaved rounds after 2 warm-up runs of each split`,
    note: 'rmax 22 and rmax 24 cut N = 65 alike (3 chunks of 22 rows), so the default and the rmax 22 kb 2 wg 8 row time the same split: their difference is the noise',
    date: new Date().toISOString(), rows,
  }, null, 2) + '\n');
}
for (const t of [q, k, v] as Tensor[]) t.dispose();
