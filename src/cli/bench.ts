// `amrm bench kernels [--quick] [--json FILE] [--only REGEX] [--no-tfjs]`: the kernel benchmark
// (bench/kernels.ts), loaded only when asked for, since it pulls in TF.js.
const USAGE = 'usage: amrm bench kernels [--quick] [--json FILE] [--only REGEX] [--no-tfjs]\n       amrm bench fused [--quick] [--json FILE] [--only attention|patch|softmax_jacobian] [--no-tfjs]';

export async function benchCommand(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what === 'fused') {
    // Fused kernels against their composition and TF.js's (attention, patch loss, softmax-Jacobian).
    const value = (flag: string): string | undefined | null => (rest.includes(flag) ? rest[rest.indexOf(flag) + 1] ?? null : undefined);
    const json = value('--json'), only = value('--only');
    if (json === null || only === null) { console.error(`amrm bench fused: ${json === null ? '--json needs a file name' : '--only needs a pattern'}\n${USAGE}`); return 2; }
    const { runFusedBench } = await import('../../bench/fused.js');
    await runFusedBench({
      quick: rest.includes('--quick'), json, noTfjs: rest.includes('--no-tfjs'), only: only ? new RegExp(only) : undefined,
      command: `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm bench ${args.join(' ')}`,
    });
    if (json) console.log(`wrote ${json}`);
    return 0;
  }
  if (what !== 'kernels') {
    console.error(what ? `amrm bench: unknown benchmark '${what}'\n${USAGE}` : USAGE);
    return 2;
  }
  let json: string | undefined;
  let only: RegExp | undefined;
  let quick = false, noTfjs = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--quick') quick = true;
    else if (a === '--no-tfjs') noTfjs = true;
    else if (a === '--json') {
      json = rest[++i];
      if (!json) { console.error(`amrm bench kernels: --json needs a file name\n${USAGE}`); return 2; }
    } else if (a.startsWith('--json=')) json = a.slice(7);
    else if (a === '--only') {
      const re = rest[++i];
      if (!re) { console.error(`amrm bench kernels: --only needs a pattern (e.g. 'matmul 1024')\n${USAGE}`); return 2; }
      only = new RegExp(re);
    }
    else { console.error(`amrm bench kernels: unknown option '${a}'\n${USAGE}`); return 2; }
  }
  const { runKernelBench } = await import('../../bench/kernels.js');
  const command = `AMRM_ADAPTER=${process.env.AMRM_ADAPTER ?? 'auto'} npx amrm bench ${args.join(' ')}`;
  const report = await runKernelBench({ quick, json, noTfjs, only, command });
  if (json) console.log(`wrote ${report.rows.length} rows to ${json}`);
  return 0;
}
