// The `amrm` command. Subcommands are added as the project grows: info, bench (kernels), ...
import { openGpu } from '../engine/device.js';

const USAGE = `usage: amrm <command> [options]

commands:
  info [--json]                      the WebGPU adapter (AMRM_ADAPTER=auto|gpu|llvmpipe|swiftshader),
                                     its features and limits
  bench kernels [--quick] [--json FILE]
                                     kernel benchmark against TF.js's WebGPU backend on the same adapter
  bench fused [--quick] [--json FILE]
                                     fused kernels (attention, patch loss, softmax-Jacobian) against their
                                     composition and TF.js's
  bench train [--json FILE]          training throughput (images/s) of the models amrm train trains
  bench purify [--json FILE]         purification time per batch against the paper's anchor
  convert IN OUT                     a PyTorch checkpoint (.pth/.pt/.th, zip or legacy) or safetensors
                                     file to safetensors (f32 and i32; int64 narrowed to int32)
  eval --dataset cifar10 --data DIR --classifier FILE [--arch NAME] [--n N --seed S | --indices 0-499]
       [--batch 100] [--json OUT]    clean accuracy of a classifier (no purifier, no attack)
       [--purifier FILE --preset NAME] [--attack pgd|apgd-ce|apgd-dlr|square|bpda --norm linf|l2
       --eps E --steps K --eot R --adaptive exact|none]
                                     with AMRM purification and/or an attack: robust accuracy;
                                     --shard i/n runs one part of it
  merge SHARD.json ... --json OUT    joins the reports of 'eval --shard i/n' runs into one
  eval-mae --dataset mnist|cifar10 [--data DIR] --mae FILE [--mask-ratio 0.75] [--json OUT]
                                     an MAE's reconstruction loss on the held-out images
  eval-maskdit [--dataset mnist|cifar10] [--data DIR] --model FILE [--sigma 0.1] [--json OUT] [--png FILE]
                                     a MaskDiT's training loss on the held-out images at a fixed σ
  demo [--dataset mnist|cifar10] [--n 16] [--out DIR] ...
                                     attack real test images, purify them, print clean / attacked /
                                     purified accuracy, write a Figure-1 style PNG (MNIST and the
                                     shipped models by default; 'amrm demo --help' for the options)
  figures [--dataset mnist|cifar10] [--data DIR] [--only fig1,fig3,fig4] --out DIR ...
                                     the paper's Figures 1, 3 and 4 (labeled PNGs, SVG plots, JSON of
                                     every number) on the shipped models ('amrm figures --help')
  purify --purifier FILE --preset NAME --input A.png [B.png ...] --out DIR
                                     AMRM purification of PNG images
  theorem [--dataset mnist|cifar10] [--data DIR] [--purifier FILE] [--n 16] [--eps LIST] --json OUT
                                     Theorems 3.1/3.2, the first-order attention shift and the AMV oracle
                                     measured on real test images ('amrm theorem --help' for the options)
  train mae|classifier|maskdit --dataset mnist|cifar10 --config NAME --epochs E --out DIR [--resume] ...
                                     training with the engine ('amrm train' alone lists every option)
`;

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
    console.log(USAGE);
    return cmd ? 0 : 1;
  }
  const load = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!load) {
    console.error(`amrm: unknown command '${cmd}'\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load())(args);
  } catch (e) {
    console.error(`amrm ${cmd}: ${(e as Error).message}`);
    return 1;
  }
}
