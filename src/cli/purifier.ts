// The purifier a command names by file: read, checked and built by src/purify/load.ts; and the
// classifier and purifier pair most commands load together.
import { loadStateDictFile } from '../engine/io/node.js';
import { createClassifier } from '../models/classifiers.js';
import { purifierFromStateDict, type LoadedPurifier, type LoadPurifierOptions } from '../purify/load.js';

/** A purifier checkpoint file of either family, with the preset it will purify with (see purifierFromStateDict). */
export function loadPurifier(file: string, o: LoadPurifierOptions = {}): LoadedPurifier {
  return purifierFromStateDict(loadStateDictFile(file), file, o);
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
