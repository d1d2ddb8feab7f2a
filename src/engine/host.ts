// What a host module (host-node.ts or host-browser.ts, chosen at build time as `#host`) hands the
// engine: the adapter and what kind it is. Types only, shared by both hosts and the engine's types.
export type AdapterChoice = 'auto' | 'gpu' | 'llvmpipe' | 'swiftshader';
export interface HostAdapter { adapter: GPUAdapter; kind: Exclude<AdapterChoice, 'auto'>; featureLevel: 'core' | 'compatibility'; }
