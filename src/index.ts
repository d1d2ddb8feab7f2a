/// <reference types="@webgpu/types" preserve="true" />
// The amrm engine: tensors, WGSL kernels and autograd on WebGPU.
export { init, engine, flush, sync, Engine, type InitOptions, type DebugOptions } from './engine/engine.js';
export { openGpu, type Gpu } from './engine/device.js';
export { Runtime } from './engine/runtime.js';
export { Tensor, scope, asyncScope, keep, empty, type DType, type Shape } from './engine/tensor.js';
export { backward, grad, noGrad, isGradEnabled } from './engine/autograd.js';
export { Rng } from './engine/random.js';
export * from './engine/ops/index.js';
export * from './data/index.js';
export * from './engine/io/index.js';
export * from './models/index.js';
export { evaluateClassifier, type ClassifierEvalOptions, type ClassifierEvalResult } from './eval/classifier.js';
export { robustAccuracy, ATTACKS, type AttackName, type Adaptive, type RobustEvalOptions, type RobustEvalResult } from './eval/robust.js';
export * from './purify/index.js';
export * from './attacks/index.js';
