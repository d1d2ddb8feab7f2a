// The purifier a command names by file: read, checked and built by src/purify/load.ts; and the
// classifier and purifier pair most commands load together.
import { loadStateDictFile } from '../engine/io/node.js';
import { createClassifier } from '../models/classifiers.js';
import { purifierFromStateDict, type LoadedPurifier, type LoadPurifierOptions } from '../purify/load.js';
import { purifyConfig, type PurifyConfig } from '../purify/amrm.js';
import { purifyPresetNames } from '../purify/presets.js';
import { UsageError, fractionFlag, intFlag, numFlag, ratioFlag } from './args.js';

/**
 * The flags that pick a purifier's config and preset and override the preset's knobs, read the same
 * way by every command that purifies (`amrm eval`, `amrm purify`). The step count is among them
 * under a name each command chooses (`amrm eval` has its own --steps, the attack's).
 */
export const PURIFIER_FLAGS = ['--purifier-config', '--preset', '--eta', '--masks', '--mask-ratio', '--sigma'] as const;

export interface PurifierFlags {
  purifierConfig?: string; preset?: string;
  /** Overrides of the preset: sign steps S, ball eta ([0, 1] units or Infinity), masks per step, mask ratio, MaskDiT's σ_pur. */
  steps?: number; eta?: number; masks?: number; maskRatio?: number; sigma?: number;
}

/** Reads PURIFIER_FLAGS and `stepsFlag` from parsed flag values; a bad value is a UsageError naming its flag. */
export function parsePurifierFlags(got: Map<string, string>, stepsFlag: string): PurifierFlags {
  const preset = got.get('--preset');
  if (preset !== undefined && !purifyPresetNames().includes(preset)) throw new UsageError(`--preset must be one of ${purifyPresetNames().join(', ')}, got '${preset}'`);
  return {
    purifierConfig: got.get('--purifier-config'), preset,
    steps: intFlag(got, stepsFlag, 0),
    eta: fractionFlag(got, '--eta', { inf: true }),
    masks: intFlag(got, '--masks', 1),
    maskRatio: ratioFlag(got, '--mask-ratio'),
    sigma: numFlag(got, '--sigma', 1e-6),
  };
}

/** A purifier checkpoint file of either family, with the preset it will purify with (see purifierFromStateDict). */
export function loadPurifier(file: string, o: LoadPurifierOptions = {}): LoadedPurifier {
  return purifierFromStateDict(loadStateDictFile(file), file, o);
}

/** A purifier file as a command's purifier flags name it: their config, preset and σ_pur. */
export function loadPurifierWith(file: string, f: PurifierFlags, o: Omit<LoadPurifierOptions, 'config' | 'preset' | 'sigma'> = {}): LoadedPurifier {
  return loadPurifier(file, { ...o, config: f.purifierConfig, preset: f.preset, sigma: f.sigma });
}

/** The loop the flags ask for: the loaded purifier's preset with the flags' overrides of its knobs. */
export function purifyLoop(preset: string, f: PurifierFlags, seed?: number): PurifyConfig {
  return purifyConfig(preset, { steps: f.steps, eta: f.eta, masks: f.masks, maskRatio: f.maskRatio, seed });
}

/**
 * The classifier and the purifier a command attacks and defends with, loaded together: when the
 * purifier cannot be loaded the classifier is freed before the error goes on. `dispose` frees both.
 */
export function loadClassifierAndPurifier(classifierFile: string, purifierFile: string, o: LoadPurifierOptions):
  { classifier: ReturnType<typeof createClassifier>; loaded: LoadedPurifier; dispose(): void } {
  const classifier = createClassifier(undefined, loadStateDictFile(classifierFile));
  let loaded: LoadedPurifier;
  try {
    loaded = loadPurifier(purifierFile, o);
  } catch (e) {
    classifier.dispose();
    throw e;
  }
  return { classifier, loaded, dispose: () => { classifier.dispose(); loaded.dispose(); } };
}
