// Every op of the engine, by family.
export * from './creation.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './layout.js';
export * from './matmul.js';
export * from './conv.js';
export * from './softmax.js';
export * from './layernorm.js';
export * from './loss.js';
export * from './pool.js';
export * from './batchnorm.js';
export * from './attention.js';
export * from './patch.js';
export * from './softmax_jacobian.js';
export * from './purify_step.js';
export * from './modulate.js';
