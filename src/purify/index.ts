// AMRM-Pure: the purification loop, its presets, and the reconstruction-loss interface it descends.
export * from './loss.js';
export * from './presets.js';
export * from './amrm.js';
