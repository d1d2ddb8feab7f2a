// The float64 oracle, by op family (tests compare every GPU op with it).
export * from './core.js';
export * as elementwise from './elementwise.js';
export * as reduce from './reduce.js';
