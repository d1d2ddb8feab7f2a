// `amrm bench kernels|fused|train|purify|e2e|gradient-route`: the benchmarks in bench/, each loaded only when asked for (the
// kernel and fused ones pull in TF.js, the peer they are timed against).
import { UsageError, intFlag, parseFlags, withUsage } from './args.js';
import { checkOutputFiles } from './outputs.js';
import { setTuning, type TuningOverride } from '../engine/tuning.js';

export const BENCH_USAGE = `  bench kernels [--quick] [--json FILE] [--only REGEX] [--no-tfjs]
                                     kernel benchmark against TF.js's WebGPU backend on the same adapter
  bench fused [--quick] [--json FILE] [--only attention|patch|softmax_jacobian] [--no-tfjs]
                                     fused kernels against their composition and TF.js's
  bench train [--json FILE] [--only REGEX] [--steps 10] [--warmup 3]
                                     training throughput (images/s) of the models amrm train trains
  bench purify [--json FILE] [--only REGEX] [--batch 32] [--steps 3] [--warmup 1]
                                     purification seconds per batch for the shipped purifiers and the
                                     paper's models, beside the paper's A40 times
  bench purify --profile [--method timestamp|elimination] [--repeats 5] [--json FILE] [--only REGEX] [--batch 32]
                                     one purification step per case: dispatches and time share per
                                     kernel family (timestamps where the adapter has them)
  bench e2e [--json FILE] [--batch 32] [--steps 5]
                                     one purification step of the shipped MAEs by amrm, by TF.js's
                                     WebGPU backend on the same device, and by PyTorch eager on the same
                                     CPU (where a python3 with torch is present)
  bench gradient-route [--json FILE] [--batch 8]
                                     the adaptive attack's gradient through S purification steps by
                                     the closed form and by the tape: peak memory and time against S
  bench ... --tuning JSON            any benchmark with kernel choices overridden, a section at a time
                                     (src/engine/tuning.ts), e.g. '{"matmul":{"tiled":false},"rows":"loop"}'`;

const PARSE = {
  kernels: { valued: ['--json', '--only', '--tuning'], switches: ['--quick', '--no-tfjs'] },
  fused: { valued: ['--json', '--only', '--tuning'], switches: ['--quick', '--no-tfjs'] },
  train: { valued: ['--json', '--only', '--steps', '--warmup', '--tuning'], switches: [] },
  purify: { valued: ['--json', '--only', '--steps', '--warmup', '--batch', '--method', '--repeats', '--tuning'], switches: ['--profile'] },
  'gradient-route': { valued: ['--json', '--batch', '--tuning'], switches: [] },
  e2e: { valued: ['--json', '--batch', '--steps', '--tuning'], switches: [] },
} as const;

export async function benchCommand(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  const a = withUsage('bench', BENCH_USAGE, () => {
    if (what !== 'kernels' && what !== 'fused' && what !== 'train' && what !== 'purify' && what !== 'gradient-route' && what !== 'e2e') throw new UsageError(what ? `unknown benchmark '${what}'` : 'name a benchmark');
    const flags = parseFlags(rest, PARSE[what]);
    const only = flags.values.get('--only');
    let re: RegExp | undefined;
    try { re = only !== undefined ? new RegExp(only) : undefined; } catch { throw new UsageError(`--only must be a regular expression, got '${only}'`); }
    const method = flags.values.get('--method');
    if (method !== undefined && method !== 'timestamp' && method !== 'elimination') throw new UsageError(`--method must be timestamp or elimination, got '${method}'`);
    for (const f of ['--method', '--repeats']) if (flags.values.has(f) && !flags.switches.has('--profile')) throw new UsageError(`${f} goes with --profile`);
    const tuningText = flags.values.get('--tuning');
    if (tuningText !== undefined) {
      let t: unknown;
      try { t = JSON.parse(tuningText); } catch { throw new UsageError(`--tuning must be JSON (e.g. '{"matmul":{"tiled":false}}'), got '${tuningText}'`); }
      if (!t || typeof t !== 'object' || Array.isArray(t)) throw new UsageError(`--tuning must be a JSON object of tuning sections, got '${tuningText}'`);
      try { setTuning(t as TuningOverride); } catch (e) { throw new UsageError(`--tuning: ${(e as Error).message}`); }
    }
    return {
      profile: flags.switches.has('--profile'), method: method as 'timestamp' | 'elimination' | undefined, repeats: intFlag(flags.values, '--repeats', 1),
      what, json: flags.values.get('--json'), only: re, quick: flags.switches.has('--quick'), noTfjs: flags.switches.has('--no-tfjs'),
      steps: intFlag(flags.values, '--steps', 1), warmup: intFlag(flags.values, '--warmup', 1), batch: intFlag(flags.values, '--batch', 1),
    };
  });
  if (a === 2) return 2;
  checkOutputFiles([a.json]);
  const command = `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm bench ${args.join(' ')}`;
  if (a.what === 'fused') {
    const { runFusedBench } = await import('../../bench/fused.js');
    await runFusedBench({ quick: a.quick, json: a.json, noTfjs: a.noTfjs, only: a.only, command });
  } else if (a.what === 'kernels') {
    const { runKernelBench } = await import('../../bench/kernels.js');
    await runKernelBench({ quick: a.quick, json: a.json, noTfjs: a.noTfjs, only: a.only, command });
  } else if (a.what === 'train') {
    const { runTrainBench } = await import('../../bench/train.js');
    await runTrainBench({ json: a.json, only: a.only, steps: a.steps, warmup: a.warmup, command });
  } else if (a.what === 'e2e') {
    const { runE2eBench } = await import('../../bench/e2e.js');
    await runE2eBench({ json: a.json, batch: a.batch, steps: a.steps, command });
  } else if (a.what === 'gradient-route') {
    const { runGradientRouteBench } = await import('../../bench/gradient_route.js');
    await runGradientRouteBench({ json: a.json, batch: a.batch, command });
  } else {
    const { runPurifyBench } = await import('../../bench/purify.js');
    await runPurifyBench({ json: a.json, only: a.only, steps: a.steps, warmup: a.warmup, batch: a.batch, profile: a.profile, method: a.method, repeats: a.repeats, command });
  }
  if (a.json) console.log(`wrote ${a.json}`);
  return 0;
}
