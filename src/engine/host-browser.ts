// Browser host: WebGPU through navigator.gpu.
import type { AdapterChoice, HostAdapter } from './host.js';
export type { AdapterChoice, HostAdapter };

export async function requestHostAdapter(_choice?: string): Promise<HostAdapter> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new Error('navigator.gpu is missing: this browser has no WebGPU (Chromium needs --enable-unsafe-webgpu on Linux)');
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const d = `${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`;
  const kind = /swiftshader/i.test(d) ? 'swiftshader' : /llvmpipe/i.test(d) ? 'llvmpipe' : 'gpu';
  return { adapter, kind, featureLevel: 'core' };
}

export function settle<T>(p: Promise<T>): Promise<T> { return p; }

export const hostName = 'browser';
