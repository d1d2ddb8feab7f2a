// One call gives a ready GPUDevice: adapter choice (host module), the adapter's full limits (or
// WebGPU's defaults, which every adapter offers: what a web page can count on), the useful optional
// features, and device loss / uncaptured errors turned into JS errors.
import { requestHostAdapter } from '#host';
import type { HostAdapter } from './host.js';

export const USEFUL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  kind: HostAdapter['kind'];
  featureLevel: 'core' | 'compatibility';
  info: { vendor: string; architecture: string; description: string };
  features: string[];
  limits: Record<string, number>;
  /** The first uncaptured error or the device loss, if any, waiting to be thrown. */
  takeError(): Error | undefined;
}

function limitsOf(l: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters, so walk the prototype.
  for (let p = l as object; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      const v = (l as unknown as Record<string, unknown>)[k];
      if (typeof v === 'number' && !(k in out)) out[k] = v;
    }
  }
  return out;
}

/** 'adapter': every limit as high as the adapter allows; 'default': WebGPU's default limits. */
export type LimitsChoice = 'adapter' | 'default';

export async function openGpu(choice?: string, limits: LimitsChoice = 'adapter'): Promise<Gpu> {
  const host = await requestHostAdapter(choice);
  const { adapter } = host;
  const requiredFeatures = USEFUL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice(limits === 'adapter' ? { requiredFeatures, requiredLimits: limitsOf(adapter.limits) } : { requiredFeatures });
  let pending: Error | undefined;
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    pending ??= new Error(`WebGPU ${e.constructor?.name ?? 'error'}: ${e.message}`);
  });
  device.lost.then((info) => {
    if (info.reason !== 'destroyed') pending ??= new Error(`WebGPU device lost (${info.reason}): ${info.message}`);
  });
  const i = adapter.info;
  return {
    device, adapter, kind: host.kind, featureLevel: host.featureLevel,
    info: { vendor: i.vendor, architecture: i.architecture, description: i.description },
    features: [...device.features].sort(),
    limits: limitsOf(device.limits),
    takeError() { const e = pending; pending = undefined; return e; },
  };
}
