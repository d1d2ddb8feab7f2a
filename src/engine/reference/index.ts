// The float64 oracle, by op family (tests compare every GPU op with it).
export * from './core.js';
export * as elementwise from './elementwise.js';
export * as reduce from './reduce.js';
export * as layout from './layout.js';
export * as matmul from './matmul.js';
export * as conv from './conv.js';
export * as softmax from './softmax.js';
export * as layernorm from './layernorm.js';
export * as loss from './loss.js';
export * as pool from './pool.js';
export * as batchnorm from './batchnorm.js';
export * as attention from './attention.js';
export * as patch from './patch.js';
export * as softmaxJacobian from './softmax_jacobian.js';
