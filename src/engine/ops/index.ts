// Every op of the engine, by family.
export * from './creation.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './layout.js';
