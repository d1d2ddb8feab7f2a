// What every benchmark shares: medians and interleaved timing rounds (bench/interleave.ts, which
// the browser lab imports on its own), and TF.js's WebGPU backend started on the engine's own
// GPUDevice (the peer, on the same adapter in the same process). This module is the benchmarks'
// Node side: the browser lab's bundle must not import it (it would pull in TF.js).
import { engine } from '../src/engine/engine.js';
import { settle } from '#host';

export { median, interleavedMedians } from './interleave.js';

export type Tf = typeof import('@tensorflow/tfjs-core');
export type TfTensor = import('@tensorflow/tfjs-core').Tensor;
export interface TfSide { tf: Tf; version: string; sync(): Promise<void>; }

let tfjs: Promise<TfSide | string> | undefined;

/**
 * TF.js with its WebGPU backend registered on the engine's GPUDevice (its own adapter request
 * cannot reach llvmpipe, which needs compatibility mode); loaded once per process. Returns why
 * not, as a string, on failure.
 */
export function loadTfjs(): Promise<TfSide | string> {
  tfjs ??= startTfjs();
  return tfjs;
}

async function startTfjs(): Promise<TfSide | string> {
  const gpu = engine().gpu;
  const g = globalThis as { navigator?: { gpu?: unknown } };
  // The backend checks for navigator.gpu (Node 20 has no navigator); ours answers with our adapter.
  if (!g.navigator?.gpu) {
    const stub = { requestAdapter: async () => gpu.adapter, getPreferredCanvasFormat: () => 'rgba8unorm', wgslLanguageFeatures: new Set() };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu: stub }, configurable: true, writable: true });
    else Object.defineProperty(g.navigator, 'gpu', { value: stub, configurable: true });
  }
  try {
    const tf = await import('@tensorflow/tfjs-core');
    // tfjs-core alone registers no gradients: the union package registers them (on the same core),
    // and tf.grads needs them.
    await import('@tensorflow/tfjs');
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    // The members used to flush its recorded work (commandEncoder is private in its typings).
    interface Flushable { commandEncoder: GPUCommandEncoder | null; endComputePassEncoder(): void; submitQueue(): void; }
    let backend: Flushable | undefined;
    // Its kernels are registered under the name 'webgpu': replace that backend's factory with one
    // that wraps our device.
    tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => {
      const b = new WebGPUBackend(gpu.device, gpu.adapter.info);
      backend = b as unknown as Flushable;
      return b;
    }, 100);
    if (!(await tf.setBackend('webgpu')) || !backend) return 'TF.js could not start its WebGPU backend on this device';
    const b = backend;
    return {
      tf,
      version: `@tensorflow/tfjs-core ${(tf as unknown as { version_core: string }).version_core}`,
      async sync() {
        if (b.commandEncoder) { b.endComputePassEncoder(); b.submitQueue(); }
        await settle(gpu.device.queue.onSubmittedWorkDone());
      },
    };
  } catch (e) {
    return `TF.js did not load: ${(e as Error).message}`;
  }
}

/** One TF.js run timed to completion: the result computed inside tidy, its queue drained. */
export function tfOnce(side: TfSide, fn: () => TfTensor | TfTensor[]): () => Promise<void> {
  return async () => {
    const out = side.tf.tidy(fn);
    await side.sync();
    side.tf.dispose(out);
  };
}
