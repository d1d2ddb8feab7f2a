// The classifier registry: architecture names to models, and the architecture read off a state
// dict's keys and shapes when none is named.
import type { HostTensor, StateDict } from '../engine/io/host-tensor.js';
import type { Classifier, Normalization } from './cnn.js';
import { ResNetCifar, resnetBlocks } from './resnet_cifar.js';
import { WideResNet, wrnBlocks } from './wideresnet.js';
import { loadTrainedClassifier } from './trainable.js';

/** The named architectures (any 'resnet<6n+2>' and 'wrn-<6n+4>-<k>' is accepted too). */
export const CLASSIFIER_ARCHS = ['resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110', 'wrn-16-4', 'wrn-28-10', 'wrn-70-16', 'cnn-mnist'] as const;

/** Architectures that exist only as the engine's own trainable models (src/models/trainable.ts). */
const TRAINED_ONLY = new Set(['cnn-mnist']);

export interface ClassifierOptions {
  numClasses?: number;
  /** Overrides the architecture's default input normalization. */
  normalization?: Normalization;
}

type ArchSpec = { family: 'resnet'; depth: number } | { family: 'wrn'; depth: number; width: number };

function parseArch(arch: string): ArchSpec {
  const rn = /^resnet(\d+)$/.exec(arch);
  if (rn) { resnetBlocks(Number(rn[1])); return { family: 'resnet', depth: Number(rn[1]) }; }
  const wrn = /^wrn-(\d+)-(\d+)$/.exec(arch);
  if (wrn) { wrnBlocks(Number(wrn[1]), Number(wrn[2])); return { family: 'wrn', depth: Number(wrn[1]), width: Number(wrn[2]) }; }
  throw new Error(`unknown classifier architecture '${arch}' (known: ${CLASSIFIER_ARCHS.join(', ')})`);
}

const tensorsOf = (sd: StateDict | Map<string, HostTensor>): Map<string, HostTensor> => (sd instanceof Map ? sd : sd.tensors);

/** Blocks in a stage: the largest i + 1 with a key `${prefix}.${i}.conv1.weight`. */
function countBlocks(keys: Map<string, HostTensor>, prefix: string): number {
  let n = 0;
  while (keys.has(`${prefix}.${n}.conv1.weight`)) n++;
  return n;
}

/**
 * The architecture name a state dict was saved from (ResNet-CIFAR or WideResNet key layout), and its
 * number of classes; undefined when the keys fit neither.
 */
export function inferClassifierArch(sd: StateDict | Map<string, HostTensor>): { arch: string; numClasses: number } | undefined {
  const t = tensorsOf(sd);
  const n1 = countBlocks(t, 'layer1'), linear = t.get('linear.weight');
  if (n1 > 0 && linear?.shape.length === 2) return { arch: `resnet${6 * n1 + 2}`, numClasses: linear.shape[0] };
  const w1 = countBlocks(t, 'block1.layer'), fc = t.get('fc.weight'), c1 = t.get('block1.layer.0.conv1.weight');
  if (w1 > 0 && fc?.shape.length === 2 && c1 && c1.shape[0] % 16 === 0) {
    return { arch: `wrn-${6 * w1 + 4}-${c1.shape[0] / 16}`, numClasses: fc.shape[0] };
  }
  return undefined;
}

/**
 * A classifier of architecture `arch` ('resnet20', ..., 'wrn-28-10'; inferred from the keys when
 * omitted) with the weights of `sd`, checked strictly against the architecture.
 */
export function createClassifier(arch: string | undefined, sd: StateDict | Map<string, HostTensor>, options: ClassifierOptions = {}): Classifier {
  const inferred = inferClassifierArch(sd);
  // Checkpoints written by `amrm train` name their architecture in the metadata.
  const saved = sd instanceof Map ? undefined : sd.metadata['amrm.classifier.arch'];
  const name = arch ?? inferred?.arch ?? saved;
  if (name && TRAINED_ONLY.has(name)) {
    if (sd instanceof Map) throw new Error(`${name}: a checkpoint written by amrm train is needed (a safetensors file with its metadata)`);
    return loadTrainedClassifier(sd, name);
  }
  if (!name) {
    const keys = [...tensorsOf(sd).keys()];
    throw new Error(`cannot tell the classifier architecture from the state dict (keys: ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', ...' : ''}); name it (${CLASSIFIER_ARCHS.join(', ')})`);
  }
  const spec = parseArch(name);
  const numClasses = options.numClasses ?? inferred?.numClasses ?? 10;
  try {
    if (spec.family === 'resnet') return new ResNetCifar({ depth: spec.depth, numClasses, normalization: options.normalization }, sd);
    return new WideResNet({ depth: spec.depth, width: spec.width, numClasses, normalization: options.normalization }, sd);
  } catch (e) {
    // A named architecture that the keys contradict: say what they look like.
    if (inferred && inferred.arch !== name) throw new Error(`${(e as Error).message}\n  (the keys look like ${inferred.arch})`);
    throw e;
  }
}
