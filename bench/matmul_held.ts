// The shipped CIFAR-10 MAE's matmuls (batch 32, 25% of the patches hidden: encoder rows 32·49, decoder
// rows 32·65) one at a time, as a purification step runs them: x·Wᵀ forward and dY·W for the input
// gradient, W read from storage or through a held texture (holdOperandTextures, filled before
// timing). GFLOP/s per shape, the routes timed in interleaved rounds; and the sum over one step's
// 54 matmuls, to set beside the step's matmul share (`amrm bench purify --profile`). A third route
// holds the activations (x, dY) as textures too: no kernel writes its output as a texture yet, so
// this is the bound on what producers writing textures directly (instead of a fill per dispatch)
// could give.
//   node dist/bench/matmul_held.js [--json FILE] [--reps N]   (AMRM_ADAPTER picks the adapter)
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { Rng } from '../src/engine/random.js';
import { copyData, tensor } from '../src/engine/ops/creation.js';
import { holdOperandTextures, matmul } from '../src/engine/ops/matmul.js';
import type { Tensor } from '../src/engine/tensor.js';
import { interleavedMedians } from './timing.js';
import { intFlag, parseFlags } from '../src/cli/args.js';

/** [rows M, in K, out N] and how many of each one step runs (forward and input gradient each). */
const SHAPES: { name: string; M: number; K: number; N: number; perStep: number }[] = [
  { name: 'encoder qkv', M: 1568, K: 96, N: 288, perStep: 4 },
  { name: 'encoder proj', M: 1568, K: 96, N: 96, perStep: 4 },
  { name: 'encoder fc1', M: 1568, K: 96, N: 384, perStep: 4 },
  { name: 'encoder fc2', M: 1568, K: 384, N: 96, perStep: 4 },
  { name: 'decoder embed', M: 1568, K: 96, N: 64, perStep: 1 },
  { name: 'decoder qkv', M: 2080, K: 64, N: 192, perStep: 2 },
  { name: 'decoder proj', M: 2080, K: 64, N: 64, perStep: 2 },
  { name: 'decoder fc1', M: 2080, K: 64, N: 256, perStep: 2 },
  { name: 'decoder fc2', M: 2080, K: 256, N: 64, perStep: 2 },
  { name: 'decoder pred', M: 2080, K: 64, N: 48, perStep: 1 },
];

const flags = parseFlags(process.argv.slice(2), { valued: ['--reps', '--json'] }).values;
const reps = intFlag(flags, '--reps', 1) ?? 15;
const json = flags.get('--json');

await init();
const rt = engine().runtime;
const rng = new Rng(5);
const rand = (shape: number[]): Tensor => tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.next() - 0.5), shape);
/** Runs of each matmul per timed call, so that one call is long enough to time. */
const CALLS = 10;

const rows = [];
let storageStep = 0, heldStep = 0, bothStep = 0;
for (const s of SHAPES) {
  // The same weights twice: one held (its textures filled in the untimed warm-up), one not, so that
  // the two routes run in interleaved rounds.
  const x = rand([s.M, s.K]), w = rand([s.N, s.K]), g = rand([s.M, s.N]), wHeld = copyData(w);
  const xHeld = copyData(x), gHeld = copyData(g), wBoth = copyData(w);
  const run = (xt: Tensor, gt: Tensor, wt: Tensor) => (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) { matmul(xt, wt, { transB: true }).dispose(); matmul(gt, wt).dispose(); }
    return rt.sync();
  };
  const [st, held, both] = await holdOperandTextures([wHeld, xHeld, gHeld, wBoth], () =>
    interleavedMedians(reps, Infinity, [run(x, g, w), run(x, g, wHeld), run(xHeld, gHeld, wBoth)]));
  const flops = 2 * 2 * s.M * s.K * s.N * CALLS;
  const row = {
    shape: `${s.name} [${s.M}×${s.K}]·[${s.K}×${s.N}] and its dY·W`, per_step: s.perStep,
    storage_ms: +(st! / CALLS).toFixed(3), held_ms: +(held! / CALLS).toFixed(3),
    storage_gflops: +(flops / st! / 1e6).toFixed(2), held_gflops: +(flops / held! / 1e6).toFixed(2),
    both_held_ms: +(both! / CALLS).toFixed(3), both_held_gflops: +(flops / both! / 1e6).toFixed(2),
  };
  storageStep += s.perStep * row.storage_ms;
  heldStep += s.perStep * row.held_ms;
  bothStep += s.perStep * row.both_held_ms;
  rows.push(row);
  console.log(`${row.shape}: storage ${row.storage_gflops} GFLOP/s, held texture ${row.held_gflops} GFLOP/s (${(st! / held!).toFixed(2)}×), activations held too ${row.both_held_gflops} GFLOP/s (${(held! / both!).toFixed(2)}× over W alone)`);
  for (const t of [x, w, g, wHeld, xHeld, gHeld, wBoth]) t.dispose();
}
console.log(`one step's matmuls (${SHAPES.reduce((a, s) => a + 2 * s.perStep, 0)}): storage ${storageStep.toFixed(1)} ms, held ${heldStep.toFixed(1)} ms, activations held too ${bothStep.toFixed(1)} ms`);
if (json) {
  writeAtomic(json, JSON.stringify({
    bench: 'matmul_held', command: `AMRM_ADAPTER=${engine().gpu.kind} node dist/bench/matmul_held.js --reps ${reps} --json ${json}`,
    adapter: engine().gpu.kind, date: new Date().toISOString(),
    timing: `per row: ${CALLS} forward + ${CALLS} input-gradient matmuls per timed call, median of ${reps} rounds after 2 warm-up rounds (which fill the held textures), the three routes interleaved`,
    rows, step_matmul_ms: { storage: +storageStep.toFixed(2), held: +heldStep.toFixed(2), both_held: +bothStep.toFixed(2) },
  }, null, 1) + '\n');
}
