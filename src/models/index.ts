// Models: the CIFAR classifiers (ResNet, WideResNet) and their registry; the module base, the
// transformer parts, masking and position tables, and the MAE family.
export { type Classifier, type Normalization, IMAGENET_NORMALIZATION } from './cnn.js';
export { ResNetCifar, resnetCifarKeys, resnetBlocks, optionAShortcut, type ResNetCifarConfig } from './resnet_cifar.js';
export { WideResNet, wideResNetKeys, wrnBlocks, type WideResNetConfig } from './wideresnet.js';
export { createClassifier, inferClassifierArch, CLASSIFIER_ARCHS, type ClassifierOptions } from './classifiers.js';
export { StateReader, type ChannelAffine } from './state-reader.js';
export * from './module.js';
export * from './layers.js';
export * from './vit.js';
export * from './masking.js';
export * from './pos_embed.js';
export * from './mae_configs.js';
export * from './mae.js';
