// The `amrm` command: one module per subcommand, loaded when it runs.
import { openGpu } from '../engine/device.js';

const INFO_USAGE = `  info [--json]                      the WebGPU adapter (AMRM_ADAPTER=auto|gpu|llvmpipe|swiftshader),
                                     its features and limits`;

/** Each command's usage text, from its own module (so the overview and a command's own text never disagree). */
const USAGES: Record<string, () => Promise<string>> = {
  info: async () => INFO_USAGE,
  bench: async () => (await import('./bench.js')).BENCH_USAGE,
  convert: async () => (await import('./convert.js')).CONVERT_USAGE,
  eval: async () => (await import('./eval.js')).EVAL_USAGE,
  merge: async () => (await import('./merge.js')).MERGE_USAGE,
  compare: async () => (await import('./compare.js')).COMPARE_USAGE,
  'eval-mae': async () => (await import('./eval-mae.js')).EVAL_MAE_USAGE,
  'eval-maskdit': async () => (await import('./eval-maskdit.js')).EVAL_MASKDIT_USAGE,
  demo: async () => (await import('./demo.js')).DEMO_USAGE,
  figures: async () => (await import('./figures.js')).FIGURES_USAGE,
  purify: async () => (await import('./purify.js')).PURIFY_USAGE,
  serve: async () => (await import('./serve.js')).SERVE_USAGE,
  theorem: async () => (await import('./theorem.js')).THEOREM_USAGE,
  train: async () => (await import('./train.js')).TRAIN_USAGE,
};
USAGES['eval-classifier'] = USAGES.eval;

/** The overview of every command; loaded only when help is asked for. */
async function usage(): Promise<string> {
  const texts = await Promise.all(Object.entries(USAGES).filter(([k]) => k !== 'eval-classifier').map(([, f]) => f()));
  return `usage: amrm <command> [options]\n\ncommands:\n${texts.join('\n')}\n`;
}

const isHelp = (a: string | undefined) => a === 'help' || a === '--help' || a === '-h';

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
  compare: async () => (await import('./compare.js')).compareCommand,
  convert: async () => (await import('./convert.js')).convertCommand,
  eval: async () => (await import('./eval.js')).evalCommand,
  'eval-classifier': async () => (await import('./eval.js')).evalCommand,
  'eval-mae': async () => (await import('./eval-mae.js')).evalMaeCommand,
  'eval-maskdit': async () => (await import('./eval-maskdit.js')).evalMaskDitCommand,
  purify: async () => (await import('./purify.js')).purifyCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  merge: async () => (await import('./merge.js')).mergeCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  figures: async () => (await import('./figures.js')).figuresCommand,
  theorem: async () => (await import('./theorem.js')).theoremCommand,
  train: async () => (await import('./train.js')).trainCommand,
  bench: async () => (await import('./bench.js')).benchCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  // `amrm help CMD` and `amrm CMD --help` print that command's usage; a bare `amrm` the overview.
  const helpOf = isHelp(cmd) && args[0] !== undefined ? args[0] : args.some((a) => a === '--help' || a === '-h') && cmd !== undefined && Object.hasOwn(USAGES, cmd) ? cmd : undefined;
  if (helpOf !== undefined && Object.hasOwn(USAGES, helpOf)) {
    console.log(`usage:\n${await USAGES[helpOf]()}`);
    return 0;
  }
  if (cmd === undefined || isHelp(cmd)) {
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
    // Library errors often name their command already ('merge: ...'): said once.
    const message = (e as Error).message;
    console.error(`amrm ${cmd}: ${message.startsWith(`${cmd}: `) ? message.slice(cmd.length + 2) : message}`);
    return 1;
  }
}
