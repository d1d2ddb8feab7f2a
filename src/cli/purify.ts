// `amrm purify`: AMRM purification of PNG images with an MAE or MaskDiT checkpoint.
//   amrm purify --purifier FILE [--purifier-config NAME] [--preset NAME] --input A.png [B.png ...] --out DIR
//               [--steps S] [--eta E|inf] [--masks M] [--mask-ratio R] [--seed 0] [--amv]
// Writes DIR/<name>.png for each input (the purified image, 8-bit) and DIR/purify.json (the options,
// the loss per step and, with --amv, the attention variation of each step from the input per layer),
// and prints the loss before and after.
import { basename, extname, join } from 'node:path';
import { init } from '../engine/engine.js';
import { UsageError, intFlag, parseFlags, withUsage } from './args.js';
import { openOutputFolder } from './outputs.js';
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { readPng, writePng } from '../data/png.js';
import { PURIFIER_FLAGS, loadPurifierWith, parsePurifierFlags, purifyLoop, type PurifierFlags } from './purifier.js';
import { purify, type AmvTrajectory } from '../purify/amrm.js';
import { writeAtomic } from '../engine/io/node.js';
import { purifyPresetNames } from '../purify/presets.js';

export const PURIFY_USAGE = `  purify --purifier FILE [--purifier-config NAME] [--preset NAME] --input A.png [B.png ...] --out DIR
         [--steps S] [--eta 16/255|inf] [--masks 1] [--mask-ratio R] [--sigma SIGMA] [--seed 0] [--amv]
                                     AMRM purification of PNG images with an MAE or a MaskDiT (presets:
                                     ${purifyPresetNames().slice(0, 3).join(', ')}, ...; default: the family's for
                                     CIFAR-10, or MNIST for 1-channel images); the flags override the
                                     preset's, SIGMA (MaskDiT's σ_pur, [−1, 1] units) included;
                                     writes DIR/<name>.png and DIR/purify.json (loss per step; --amv: the
                                     attention variation from the input per step and layer)`;

interface PurifyArgs extends PurifierFlags {
  purifier: string; inputs: string[]; out: string; seed: number; amv: boolean;
}

export function parsePurifyArgs(args: string[]): PurifyArgs {
  const flags = parseFlags(args, { valued: ['--purifier', ...PURIFIER_FLAGS, '--out', '--steps', '--seed'], lists: ['--input'], switches: ['--amv'] });
  const got = flags.values, inputs = flags.lists.get('--input') ?? [];
  const purifier = got.get('--purifier'), out = got.get('--out');
  if (!purifier) throw new UsageError('--purifier FILE is required (an MAE or MaskDiT checkpoint)');
  if (!out) throw new UsageError('--out DIR is required');
  if (!inputs.length) throw new UsageError('--input needs at least one PNG file');
  // Each result is named after its input: two inputs with one name would overwrite each other.
  const names = inputs.map((p) => `${basename(p, extname(p))}.png`);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UsageError(`two inputs would both be written as ${join(out, twice)} (${inputs.filter((p, i) => names[i] === twice).join(', ')}); rename one`);
  if (names.includes('purify.json')) throw new UsageError('an input named purify.* would clash with the report purify.json');
  return {
    purifier, ...parsePurifierFlags(got, '--steps'), inputs, out,
    seed: intFlag(got, '--seed', 0) ?? 0, amv: flags.switches.has('--amv'),
  };
}

export async function purifyCommand(args: string[]): Promise<number> {
  const a = withUsage('purify', PURIFY_USAGE, () => parsePurifyArgs(args));
  if (a === 2) return 2;
  const images = a.inputs.map((p) => readPng(p));
  openOutputFolder(a.out);
  const eng = await init();
  // The data set is guessed from the channels, for the default preset only (no note about a chosen one).
  const loaded = loadPurifierWith(a.purifier, a, { dataset: a.preset ? undefined : images[0].shape[0] === 1 ? 'mnist' : 'cifar10' });
  try {
    const want = [...loaded.recon.inputShape];
    images.forEach((im, i) => {
      if (im.shape.join() !== want.join()) throw new Error(`${a.inputs[i]} is [${im.shape}], the purifier takes [${want}] images`);
    });
    const options = purifyLoop(loaded.preset, a, a.seed);
    const per = want[0] * want[1] * want[2];
    const flat = new Float32Array(images.length * per);
    images.forEach((im, i) => flat.set(im.data, i * per));
    console.log(`purify: ${images.length} image(s) with ${loaded.description}, preset ${loaded.preset} (rho ${options.maskRatio}, S ${options.steps}, ` +
      `lambda ${options.stepSize}/255${options.halve ? ' halved after S/2' : ''}, eta ${Number.isFinite(options.eta) ? (options.eta * 255).toFixed(1) + '/255' : 'inf'}), adapter ${eng.gpu.kind}`);
    const model = loaded.recon;
    let last = performance.now();
    const r = await asyncScope(async () => {
      const res = await purify(model, tensor(flat, [images.length, ...want]), options, {
        trackLoss: true,
        trackAmv: a.amv,
        onProgress: (s, S) => {
          if (s < S && performance.now() - last < 5000) return;
          last = performance.now();
          console.log(`  step ${s}/${S}`);
        },
      });
      return { data: await res.images.data(), losses: res.losses!, seconds: res.seconds, amv: res.amv };
    });
    a.inputs.forEach((p, i) => {
      const file = join(a.out, `${basename(p, extname(p))}.png`);
      writePng(file, { data: r.data.slice(i * per, (i + 1) * per), shape: want as [number, number, number] });
      console.log(`wrote ${file}`);
    });
    if (r.losses.length) console.log(`loss ${r.losses[0].toFixed(5)} at the first step, ${r.losses[r.losses.length - 1].toFixed(5)} at the last; ${r.seconds.toFixed(1)} s (${(images.length / r.seconds).toFixed(2)} images/s)`);
    if (r.amv) console.log(`AMV from the input after the last step, per layer: encoder ${fmtAmv(r.amv.encoder.at(-1)!)}, decoder ${fmtAmv(r.amv.decoder.at(-1)!)}`);
    const report = {
      purifier: a.purifier, family: loaded.family, preset: loaded.preset, ...(loaded.family === 'maskdit' ? { sigma: loaded.recon.sigma } : {}),
      inputs: a.inputs, options, adapter: eng.gpu.kind, seconds: r.seconds,
      loss_per_step: Array.from(r.losses, (v) => +v.toPrecision(6)),
      ...(r.amv ? { amv_per_step: roundAmv(r.amv), amv_definition: AMV_DEFINITION } : {}),
    };
    const file = join(a.out, 'purify.json');
    writeAtomic(file, JSON.stringify(report, (_, v) => (v === Infinity ? 'inf' : v), 1) + '\n');
    console.log(`wrote ${file}`);
    return 0;
  } finally {
    loaded.dispose();
  }
}

const AMV_DEFINITION = 'per step s = 0..S (0 = the input) and per layer: the mean over heads and images of ||A(x_s) - A(x_0)||_F, ' +
  'both under one probe mask drawn once (docs/method.md section 1)';
const fmtAmv = (l: number[]): string => l.map((v) => v.toFixed(4)).join(' ');
const roundAmv = (t: AmvTrajectory): AmvTrajectory => ({
  encoder: t.encoder.map((l) => l.map((v) => +v.toPrecision(5))), decoder: t.decoder.map((l) => l.map((v) => +v.toPrecision(5))),
});
