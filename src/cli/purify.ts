// `amrm purify`: AMRM purification of PNG images with an MAE checkpoint.
//   amrm purify --purifier FILE [--purifier-config NAME] [--preset mae-cifar10] --input A.png [B.png ...] --out DIR
//               [--steps S] [--eta E|inf] [--masks M] [--seed 0]
// Writes DIR/<name>.png for each input (the purified image, 8-bit) and prints the loss before and after.
import { basename, extname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { init } from '../engine/engine.js';
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { loadStateDictFile } from '../engine/io/node.js';
import { readPng, writePng } from '../data/png.js';
import { MAE } from '../models/mae.js';
import { MaeReconstruction } from '../purify/loss.js';
import { purify, purifyConfig } from '../purify/amrm.js';
import { purifyPresetNames } from '../purify/presets.js';
import { parseEps } from '../attacks/ball.js';

export const PURIFY_USAGE = `  purify --purifier FILE [--purifier-config NAME] [--preset NAME] --input A.png [B.png ...] --out DIR
         [--steps S] [--eta 16/255|inf] [--masks 1] [--seed 0]
                                     AMRM purification of PNG images (presets: ${purifyPresetNames().slice(0, 3).join(', ')}, ...)`;

class UsageError extends Error {}

interface PurifyArgs {
  purifier: string; purifierConfig?: string; preset: string; inputs: string[]; out: string;
  steps?: number; eta?: number; masks?: number; seed: number;
}

export function parsePurifyArgs(args: string[]): PurifyArgs {
  const got = new Map<string, string>();
  const inputs: string[] = [];
  const valued = ['--purifier', '--purifier-config', '--preset', '--out', '--steps', '--eta', '--masks', '--seed'];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--input') {
      while (i + 1 < args.length && !args[i + 1].startsWith('--')) inputs.push(args[++i]);
      continue;
    }
    if (!valued.includes(a)) throw new UsageError(`unknown option '${a}'`);
    const v = args[++i];
    if (v === undefined || v === '') throw new UsageError(`${a} needs a value`);
    if (got.has(a)) throw new UsageError(`${a} is given twice`);
    got.set(a, v);
  }
  const purifier = got.get('--purifier'), out = got.get('--out');
  if (!purifier) throw new UsageError('--purifier FILE is required (an MAE checkpoint)');
  if (!out) throw new UsageError('--out DIR is required');
  if (!inputs.length) throw new UsageError('--input needs at least one PNG file');
  const preset = got.get('--preset') ?? 'mae-cifar10';
  if (!purifyPresetNames().includes(preset)) throw new UsageError(`--preset must be one of ${purifyPresetNames().join(', ')}, got '${preset}'`);
  const int = (f: string, min: number): number | undefined => {
    const v = got.get(f);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${f} must be an integer ≥ ${min}, got '${v}'`);
    return Number(v);
  };
  const etaS = got.get('--eta');
  let eta: number | undefined;
  if (etaS !== undefined) {
    try { eta = etaS === 'inf' ? Infinity : parseEps(etaS); } catch { throw new UsageError(`--eta must be a number, a fraction like 16/255, or inf; got '${etaS}'`); }
  }
  return {
    purifier, purifierConfig: got.get('--purifier-config'), preset, inputs, out,
    steps: int('--steps', 0), eta, masks: int('--masks', 1), seed: int('--seed', 0) ?? 0,
  };
}

export async function purifyCommand(args: string[]): Promise<number> {
  let a: PurifyArgs;
  try {
    a = parsePurifyArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`amrm purify: ${e.message}\nusage:\n${PURIFY_USAGE}`);
    return 2;
  }
  const images = a.inputs.map((p) => readPng(p));
  const eng = await init();
  const mae = MAE.load(loadStateDictFile(a.purifier), a.purifierConfig);
  try {
    const c = mae.config;
    const want = [c.inChans, c.imgSize[0], c.imgSize[1]];
    images.forEach((im, i) => {
      if (im.shape.join() !== want.join()) throw new Error(`${a.inputs[i]} is [${im.shape}], the purifier takes [${want}] images`);
    });
    const options = purifyConfig(a.preset, { steps: a.steps, eta: a.eta, masks: a.masks, seed: a.seed });
    const per = want[0] * want[1] * want[2];
    const flat = new Float32Array(images.length * per);
    images.forEach((im, i) => flat.set(im.data, i * per));
    console.log(`purify: ${images.length} image(s), preset ${a.preset} (rho ${options.maskRatio}, S ${options.steps}, ` +
      `lambda ${options.stepSize}/255${options.halve ? ' halved after S/2' : ''}, eta ${Number.isFinite(options.eta) ? (options.eta * 255).toFixed(1) + '/255' : 'inf'}), adapter ${eng.gpu.kind}`);
    const model = new MaeReconstruction(mae);
    let last = performance.now();
    const r = await asyncScope(async () => {
      const res = await purify(model, tensor(flat, [images.length, ...want]), options, {
        trackLoss: true,
        onProgress: (s, S) => {
          if (s < S && performance.now() - last < 5000) return;
          last = performance.now();
          console.log(`  step ${s}/${S}`);
        },
      });
      return { data: await res.images.data(), losses: res.losses!, seconds: res.seconds };
    });
    mkdirSync(a.out, { recursive: true });
    a.inputs.forEach((p, i) => {
      const file = join(a.out, `${basename(p, extname(p))}.png`);
      writePng(file, { data: r.data.slice(i * per, (i + 1) * per), shape: want as [number, number, number] });
      console.log(`wrote ${file}`);
    });
    if (r.losses.length) console.log(`loss ${r.losses[0].toFixed(5)} at the first step, ${r.losses[r.losses.length - 1].toFixed(5)} at the last; ${r.seconds.toFixed(1)} s (${(images.length / r.seconds).toFixed(2)} images/s)`);
    return 0;
  } finally {
    mae.dispose();
  }
}
