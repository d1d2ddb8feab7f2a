// The shipped MNIST models, fetched over HTTP from the lab's server (/models/*.safetensors) and
// built on the GPU in the page: the CNN classifier and a purifier (MaskDiT or MAE) with its preset.
// What src/cli/purifier.ts does from files, here from bytes (that module reads the file system).
import { loadStateDict } from '../../src/engine/io/index.js';
import { checkFiniteWeights, type StateDict } from '../../src/engine/io/host-tensor.js';
import { createClassifier } from '../../src/models/classifiers.js';
import type { Classifier } from '../../src/models/cnn.js';
import { MAE } from '../../src/models/mae.js';
import { MaskDiT } from '../../src/models/maskdit.js';
import { MaeReconstruction, type ReconstructionModel } from '../../src/purify/loss.js';
import { MaskDitReconstruction, DEFAULT_PURIFY_SIGMA } from '../../src/purify/maskdit_loss.js';
import { purifyPreset } from '../../src/purify/presets.js';
import { MaskDitReconstructor, type MaskedReconstructor } from '../../src/models/reconstructor.js';

export type PurifierChoice = 'maskdit' | 'mae';

export const MODEL_FILES = {
  classifier: 'mnist-cnn.safetensors',
  maskdit: 'mnist-maskdit.safetensors',
  mae: 'mnist-mae.safetensors',
} as const;

/** The preset each shipped purifier runs with (src/purify/presets.ts). */
export const PRESET_OF: Record<PurifierChoice, string> = { maskdit: 'maskdit-mnist', mae: 'mae-mnist' };

export interface LoadedPurifier {
  choice: PurifierChoice;
  preset: string;
  model: ReconstructionModel;
  /** The same model as a picture maker (its reconstruction of an image under a mask). */
  reconstructor: MaskedReconstructor;
  description: string;
  dispose(): void;
}

/**
 * Fetches and parses one model file; the error names the URL and what came back. `onSize` hears the
 * file's size before its bytes are read. The body is read whole (arrayBuffer): a byte-count
 * progress bar for a few local megabytes is not worth a stream reader, which Chromium's DevTools
 * also sometimes reports as an aborted request after reading it to the end.
 */
export async function fetchStateDict(file: string, onSize?: (bytes: number) => void): Promise<StateDict> {
  const url = new URL(`models/${file}`, location.href).href;
  let res: Response;
  try { res = await fetch(url); } catch (e) { throw new Error(`could not fetch ${url}: ${(e as Error).message} (is amrm serve running?)`); }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  onSize?.(Number(res.headers.get('content-length') ?? 0));
  const sd = loadStateDict(new Uint8Array(await res.arrayBuffer()), file);
  checkFiniteWeights(sd, file);
  return sd;
}

export async function loadClassifier(onSize?: (bytes: number) => void): Promise<Classifier> {
  const c = createClassifier(undefined, await fetchStateDict(MODEL_FILES.classifier, onSize));
  if (c.inputShape.join() !== '1,28,28') {
    c.dispose();
    throw new Error(`${MODEL_FILES.classifier} takes [${c.inputShape}] images, not MNIST's [1, 28, 28]`);
  }
  return c;
}

export async function loadPurifier(choice: PurifierChoice, onSize?: (bytes: number) => void): Promise<LoadedPurifier> {
  const file = MODEL_FILES[choice];
  const sd = await fetchStateDict(file, onSize);
  // Our checkpoints name their family; a file that says otherwise is not the one we expect.
  const family = sd.metadata?.['amrm.model'];
  if (family !== undefined && family !== choice) throw new Error(`${file} holds a ${family} model, the lab expected ${choice}`);
  const preset = PRESET_OF[choice];
  if (choice === 'mae') {
    const mae = MAE.load(sd);
    const model = new MaeReconstruction(mae);
    return { choice, preset, model, reconstructor: model.reconstructor, description: model.name, dispose: () => mae.dispose() };
  }
  const maskdit = MaskDiT.load(sd);
  const sigma = purifyPreset(preset).sigma ?? DEFAULT_PURIFY_SIGMA;
  const model = new MaskDitReconstruction(maskdit, { sigma });
  return { choice, preset, model, reconstructor: new MaskDitReconstructor(maskdit, { sigma }), description: model.describe(), dispose: () => maskdit.dispose() };
}
