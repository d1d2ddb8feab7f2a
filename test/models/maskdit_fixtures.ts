// MaskDiTs for tests of the tools that take a purifier file: a model of a configuration with every
// weight random (a freshly created MaskDiT is the zero-initialized identity: D(x) = c_skip·x), and
// the same written as a checkpoint whose metadata names its configuration.
import { Rng } from '../../src/engine/random.js';
import { writeAtomic } from '../../src/engine/io/node.js';
import { writeSafetensors } from '../../src/engine/io/safetensors.js';
import { MaskDiT } from '../../src/models/maskdit.js';
import { join } from 'node:path';
import { maskDitConfig, type MaskDitConfigInput } from '../../src/models/maskdit_configs.js';

/**
 * A MaskDiT with random weights: matrices N(0, 1/fan-in), biases N(0, 0.1²), the mask token
 * N(0, 0.5²); the position tables keep their sin-cos values. The caller disposes it.
 */
export async function randomMaskDit(config: MaskDitConfigInput, seed: number): Promise<MaskDiT> {
  const model = MaskDiT.create(config, { seed });
  const rng = new Rng(seed + 1);
  const sd = await model.stateDict();
  for (const [key, t] of sd.tensors) {
    if (key.endsWith('pos_embed')) continue;
    const fanIn = t.shape.length >= 2 ? t.shape.slice(1).reduce((a, b) => a * b, 1) : 0;
    const std = key.endsWith('mask_token') ? 0.5 : fanIn ? 1 / Math.sqrt(fanIn) : 0.1;
    for (let i = 0; i < t.data.length; i++) t.data[i] = std * rng.normal();
  }
  model.loadStateDict(sd);
  return model;
}

/** randomMaskDit written to `file` (safetensors, with its configuration in the metadata). */
export async function writeRandomMaskDit(file: string, config: MaskDitConfigInput, seed: number): Promise<void> {
  const model = await randomMaskDit(config, seed);
  try {
    writeAtomic(file, writeSafetensors(await model.stateDict()));
  } finally { model.dispose(); }
}

/**
 * A small MaskDiT of MNIST's shape (maskdit-mnist with one 32-wide block per stack, random weights)
 * written into `dir`: a purifier file for end-to-end runs of the commands. Returns its path.
 */
export async function writeTinyMnistMaskDit(dir: string, seed: number): Promise<string> {
  const file = join(dir, 'maskdit-mnist-tiny.safetensors');
  await writeRandomMaskDit(file, { ...maskDitConfig('maskdit-mnist'), depth: 1, decoderDepth: 1, hiddenSize: 32, decoderHiddenSize: 32 }, seed);
  return file;
}
