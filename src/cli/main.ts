// The `amrm` command: one module per subcommand, loaded when it runs.
import { openGpu } from '../engine/device.js';

const INFO_USAGE = `  info [--json]                      the WebGPU adapter (AMRM_ADAPTER=auto|gpu|llvmpipe|swiftshader),
                                     its features and limits`;

/**
 * The usage of every command, each from its own module (so the overview and a command's own text
 * never disagree); loaded only when help is asked for.
 */
async function usage(): Promise<string> {
  const texts = await Promise.all([
    (async () => INFO_USAGE)(),
    import('./bench.js').then((m) => m.BENCH_USAGE),
    import('./convert.js').then((m) => m.CONVERT_USAGE),
    import('./eval.js').then((m) => m.EVAL_USAGE),
    import('./merge.js').then((m) => m.MERGE_USAGE),
    import('./eval-mae.js').then((m) => m.EVAL_MAE_USAGE),
    import('./eval-maskdit.js').then((m) => m.EVAL_MASKDIT_USAGE),
    import('./demo.js').then((m) => m.DEMO_USAGE),
    import('./figures.js').then((m) => m.FIGURES_USAGE),
    import('./purify.js').then((m) => m.PURIFY_USAGE),
    import('./theorem.js').then((m) => m.THEOREM_USAGE),
    import('./train.js').then((m) => m.TRAIN_USAGE),
  ]);
  return `usage: amrm <command> [options]\n\ncommands:\n${texts.join('\n')}\n`;
}

async function info(args: string[]): Promise<number> {
  const gpu = await openGpu();
  const out = {
    adapter: gpu.info, kind: gpu.kind, featureLevel: gpu.featureLevel,
    features: gpu.features, limits: gpu.limits,
  };
  if (args.includes('--json')) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(`adapter:       ${gpu.kind} (${[gpu.info.vendor, gpu.info.architecture, gpu.info.description].filter(Boolean).join(' / ')})`);
    console.log(`feature level: ${gpu.featureLevel}`);
    console.log(`features:      ${gpu.features.join(', ')}`);
    console.log('limits:');
    for (const [k, v] of Object.entries(gpu.limits)) console.log(`  ${k.padEnd(44)} ${v}`);
  }
  gpu.device.destroy();
  return 0;
}

type Command = (args: string[]) => number | Promise<number>;

/** Each command's module, loaded only when it runs (bench pulls in TF.js, train the optimizers). */
const COMMANDS: Record<string, () => Promise<Command>> = {
  info: async () => info,
  convert: async () => (await import('./convert.js')).convertCommand,
  eval: async () => (await import('./eval.js')).evalCommand,
  'eval-classifier': async () => (await import('./eval.js')).evalCommand,
  'eval-mae': async () => (await import('./eval-mae.js')).evalMaeCommand,
  'eval-maskdit': async () => (await import('./eval-maskdit.js')).evalMaskDitCommand,
  purify: async () => (await import('./purify.js')).purifyCommand,
  merge: async () => (await import('./merge.js')).mergeCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  figures: async () => (await import('./figures.js')).figuresCommand,
  theorem: async () => (await import('./theorem.js')).theoremCommand,
  train: async () => (await import('./train.js')).trainCommand,
  bench: async () => (await import('./bench.js')).benchCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(await usage());
    return cmd ? 0 : 1;
  }
  const load = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!load) {
    console.error(`amrm: unknown command '${cmd}'\n\n${await usage()}`);
    return 2;
  }
  try {
    return await (await load())(args);
  } catch (e) {
    console.error(`amrm ${cmd}: ${(e as Error).message}`);
    return 1;
  }
}
