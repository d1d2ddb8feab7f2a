// AMRM-Pure: the purification loop, its presets, the reconstruction-loss interface it descends, and
// purifier checkpoints of either family built from their tensors.
export * from './loss.js';
export * from './presets.js';
export * from './amrm.js';
export * from './load.js';
