// Node host: WebGPU through Dawn's Node bindings (npm `webgpu`), with a software or hardware adapter.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

import type { AdapterChoice, HostAdapter } from './host.js';
export type { AdapterChoice, HostAdapter };

const SWIFTSHADER_ICD = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib64/chromium/vk_swiftshader_icd.json'];

// Dawn reads the Vulkan ICD list once per process, at the first `create()`. Whichever Vulkan
// adapter is asked for first decides it; the other one then cannot be reached in this process.
let vulkanIcd: 'gpu' | 'swiftshader' | undefined;
// The instances must stay referenced for the life of their devices: if Dawn's instance is collected,
// the next onSubmittedWorkDone aborts the process or never resolves (docs/design.md, measured).
const instances: unknown[] = [];

function dawn(): { create: (flags: string[]) => GPU; globals: Record<string, unknown> } {
  const require = createRequire(import.meta.url);
  const mod = require('webgpu') as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return mod;
}

export function hostFlags(): string[] {
  const extra = process.env.AMRM_DAWN_FLAGS;
  return extra ? extra.split(/\s+/).filter(Boolean) : [];
}

async function tryKind(kind: Exclude<AdapterChoice, 'auto'>): Promise<HostAdapter> {
  if (kind === 'llvmpipe') {
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const gpu = dawn().create(['backend=opengles', ...hostFlags()]);
    instances.push(gpu);
    const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
    if (!adapter) throw new Error('Dawn found no OpenGL ES adapter (are Mesa EGL/GLES installed? apt-get install libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)');
    return { adapter, kind, featureLevel: 'compatibility' };
  }
  if (kind === 'swiftshader') {
    const icd = SWIFTSHADER_ICD.find((p) => existsSync(p));
    if (!icd) throw new Error(`SwiftShader's Vulkan ICD not found at ${SWIFTSHADER_ICD.join(' or ')} (apt-get install chromium)`);
    if (vulkanIcd === 'gpu') throw new Error('this process already chose the hardware Vulkan driver; SwiftShader needs a fresh process');
    vulkanIcd = 'swiftshader';
    process.env.VK_ICD_FILENAMES = icd;
    const gpu = dawn().create(['backend=vulkan', ...hostFlags()]);
    instances.push(gpu);
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('Dawn found no Vulkan adapter through SwiftShader (is libvulkan1 installed?)');
    return { adapter, kind, featureLevel: 'core' };
  }
  if (vulkanIcd === 'swiftshader') throw new Error('this process already chose SwiftShader; a hardware GPU needs a fresh process');
  vulkanIcd = 'gpu';
  const gpu = dawn().create(['backend=vulkan', ...hostFlags()]);
  instances.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('Dawn found no Vulkan adapter');
  const info = adapter.info;
  const soft = /swiftshader|llvmpipe|lavapipe|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
  if (soft) throw new Error(`the only Vulkan adapter is a software one (${info.description || info.architecture})`);
  return { adapter, kind, featureLevel: 'core' };
}

/** Picks an adapter by AMRM_ADAPTER (or the argument): a hardware GPU, else llvmpipe, else SwiftShader. */
export async function requestHostAdapter(choice?: string): Promise<HostAdapter> {
  const want = (choice ?? process.env.AMRM_ADAPTER ?? 'auto') as AdapterChoice;
  const order: Exclude<AdapterChoice, 'auto'>[] =
    want === 'auto' ? ['gpu', 'llvmpipe', 'swiftshader'] : [want as Exclude<AdapterChoice, 'auto'>];
  if (!['auto', 'gpu', 'llvmpipe', 'swiftshader'].includes(want)) {
    throw new Error(`AMRM_ADAPTER=${want} is not one of auto, gpu, llvmpipe, swiftshader`);
  }
  const failures: string[] = [];
  for (const kind of order) {
    // In auto mode a hardware GPU is only tried where a vendor ICD is installed, so that the
    // Vulkan ICD is not fixed to the wrong driver before SwiftShader is tried.
    if (want === 'auto' && kind === 'gpu' && !hasHardwareVulkan()) { failures.push('gpu: no hardware Vulkan driver found'); continue; }
    try {
      return await tryKind(kind);
    } catch (e) {
      failures.push(`${kind}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no WebGPU adapter could be opened:\n  ${failures.join('\n  ')}`);
}

function hasHardwareVulkan(): boolean {
  if (process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES) return !/swiftshader/i.test(`${process.env.VK_DRIVER_FILES}${process.env.VK_ICD_FILENAMES}`);
  return ['/usr/share/vulkan/icd.d/nvidia_icd.json', '/etc/vulkan/icd.d/nvidia_icd.json', '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json']
    .some((p) => existsSync(p));
}

/** Waiting on Dawn: a pending promise makes dawn.node poll a core; spin briefly, then sleep in short steps. */
export async function settle<T>(p: Promise<T>): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  let failed = false;
  p.then((v) => { done = true; value = v; }, (e) => { done = true; failed = true; error = e; });
  const start = performance.now();
  while (!done) {
    if (performance.now() - start < 1) await new Promise((r) => setImmediate(r));
    else await new Promise((r) => setTimeout(r, 1));
  }
  if (failed) throw error;
  return value as T;
}

export const hostName = 'node';
