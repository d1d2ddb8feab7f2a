// A purifier checkpoint of either family (an MAE or a MaskDiT), recognized from its tensors: the
// metadata `amrm.model` our checkpoints carry, else the reference's key names (`patch_embed.` for
// the MAE, `model.x_embedder.` for MaskDiT), and built with the preset it will purify with. What the
// commands purify, evaluate and attack with (src/cli/purifier.ts reads the file), what the browser
// lab builds from fetched or dropped bytes, and (as a MaskedReconstructor) what the attention
// analyses and figures look into.
import { checkFiniteWeights, type StateDict } from '../engine/io/host-tensor.js';
import { MAE, describeMae } from '../models/mae.js';
import { MaskDiT } from '../models/maskdit.js';
import { describeMaskDit } from '../models/maskdit_configs.js';
import { MaskDitReconstructor, type MaskedReconstructor } from '../models/reconstructor.js';
import { MaeReconstruction } from './loss.js';
import { MaskDitReconstruction, DEFAULT_PURIFY_SIGMA } from './maskdit_loss.js';
import { purifyPreset, type PurifierFamily } from './presets.js';

export type ModelFamily = 'mae' | 'maskdit';

interface Loaded {
  config: object;
  description: string;
  preset: string;
  /** The model as the attention analyses see it (MaskDiT: at the preset's σ_pur, noise from `noiseSeed`). */
  reconstructor: MaskedReconstructor;
  dispose(): void;
}
export type LoadedPurifier =
  | Loaded & { family: 'mae'; mae: MAE; recon: MaeReconstruction }
  | Loaded & { family: 'maskdit'; maskdit: MaskDiT; recon: MaskDitReconstruction };

/** Which family a checkpoint holds. */
export function purifierFamily(sd: StateDict, file: string): ModelFamily {
  const meta = sd.metadata?.['amrm.model'];
  if (meta === 'mae' || meta === 'maskdit') return meta;
  const keys = [...sd.tensors.keys()];
  if (keys.some((k) => k.startsWith('model.x_embedder.'))) return 'maskdit';
  if (keys.some((k) => k.startsWith('patch_embed.'))) return 'mae';
  throw new Error(`${file}: not an MAE or MaskDiT checkpoint (no amrm.model metadata, no patch_embed.* or model.x_embedder.* keys)`);
}

/** The family a preset was chosen for (robust variants use their base model's architecture). */
const presetArchitecture = (f: PurifierFamily): ModelFamily => (f === 'mae' || f === 'rmae' ? 'mae' : 'maskdit');

export interface LoadPurifierOptions {
  /** A named configuration for a checkpoint without one in its metadata. */
  config?: string;
  /**
   * The preset the purification will use (default: FAMILY-DATASET, e.g. maskdit-cifar10): refused
   * when made for the other family; gives MaskDiT-Pure its σ_pur.
   */
  preset?: string;
  /** [C, H, W] of the images it must take. */
  inputShape?: readonly number[];
  /** The data set's name, for the default preset and the errors. */
  dataset?: string;
  /** MaskDiT-Pure's σ_pur in [−1, 1] units instead of the preset's (refused for an MAE). */
  sigma?: number;
  /** Seed of the reconstructor's fixed diffusion-noise draw (MaskDiT; default 0). */
  noiseSeed?: number;
  /** Where a note goes (a preset made for another data set); default console.log. */
  onNote?: (line: string) => void;
}

export function purifierFromStateDict(sd: StateDict, file: string, o: LoadPurifierOptions = {}): LoadedPurifier {
  checkFiniteWeights(sd, file);
  const family = purifierFamily(sd, file);
  // A robust-fine-tuned file (amrm train robust) takes its family's robust preset by default.
  const robust = sd.metadata?.['amrm.robust.from'] !== undefined;
  const presetName = o.preset ?? `${robust ? 'r' : ''}${family}-${o.dataset ?? 'cifar10'}`;
  const preset = purifyPreset(presetName);
  if (presetArchitecture(preset.family) !== family) {
    throw new Error(`preset ${presetName} is for ${preset.family}, but ${file} is ${family === 'mae' ? 'an MAE' : 'a MaskDiT'} (use a ${family}-* or r${family}-* preset)`);
  }
  // A preset chosen for another data set is allowed (a study may want it) but never silently.
  const presetData = presetName.slice(presetName.indexOf('-') + 1);
  if (o.dataset && presetData !== o.dataset) (o.onNote ?? console.log)(`note: preset ${presetName} was chosen for ${presetData}, the images are ${o.dataset} (the ${family}-${o.dataset} preset is made for them)`);
  if (o.sigma !== undefined && family === 'mae') throw new Error(`σ_pur (--sigma) is MaskDiT-Pure's noise level, but ${file} is an MAE`);
  let p: LoadedPurifier;
  if (family === 'mae') {
    const mae = MAE.load(sd, o.config);
    const recon = new MaeReconstruction(mae);
    p = {
      family, mae, recon, reconstructor: recon.reconstructor, config: mae.config,
      description: describeMae(mae.config), preset: presetName, dispose: () => mae.dispose(),
    };
  } else {
    const maskdit = MaskDiT.load(sd, o.config);
    const sigma = o.sigma ?? preset.sigma ?? DEFAULT_PURIFY_SIGMA;
    p = {
      family, maskdit, recon: new MaskDitReconstruction(maskdit, { sigma }), reconstructor: new MaskDitReconstructor(maskdit, { sigma, noiseSeed: o.noiseSeed }),
      config: maskdit.config,
      description: `${describeMaskDit(maskdit.config)}, σ_pur ${sigma}`, preset: presetName, dispose: () => maskdit.dispose(),
    };
  }
  const shape = p.recon.inputShape;
  if (o.inputShape && shape.join() !== o.inputShape.join()) {
    p.dispose();
    throw new Error(`the purifier ${file} takes [${shape}] images, ${o.dataset ?? 'the input'} has [${o.inputShape}]`);
  }
  return p;
}
