// The engine singleton: the opened GPU, its runtime, and the debug switches every op honours.
import { openGpu, type Gpu, type LimitsChoice } from './device.js';
import { Runtime, grid1d } from './runtime.js';
import type { Tensor } from './tensor.js';
import utilWgsl from '../../kernels/util.wgsl';

export interface DebugOptions {
  /** Fill every new output with NaN before the op writes it, so an unwritten element shows. */
  poison: boolean;
  /** Flag any op whose output holds NaN or Inf; the flag is thrown at the next readback. */
  checkNaN: boolean;
}

const NO_FLAG = 0xffffffff;

export class Engine {
  readonly runtime: Runtime;
  readonly debug: DebugOptions = { poison: false, checkNaN: false };
  private nanFlag: GPUBuffer | undefined;
  private readonly nanOps: string[] = [];

  constructor(readonly gpu: Gpu) { this.runtime = new Runtime(gpu); }

  poisonIfDebug(t: Tensor): void {
    if (!this.debug.poison || t.size === 0) return;
    this.runtime.dispatch({
      kernel: 'util', source: utilWgsl, entry: 'fill_u32',
      uniforms: [t.size, 0x7fc00000], buffers: [t.storage.buffer], workgroups: grid1d(t.size, 64),
    });
  }

  /** Called by every op on its outputs (autograd's `record`): the optional NaN/Inf check. */
  checkOutput(op: string, t: Tensor): void {
    if (!this.debug.checkNaN || t.dtype !== 'f32' || t.size === 0) return;
    if (!this.nanFlag) {
      this.nanFlag = this.runtime.acquire(4, 'NaN flag');
      this.runtime.write(this.nanFlag, new Uint32Array([NO_FLAG]));
    }
    this.nanOps.push(`${op} -> [${t.shape}]`);
    this.runtime.dispatch({
      kernel: 'util', source: utilWgsl, entry: 'nan_check',
      uniforms: [t.size, this.nanOps.length - 1], buffers: [t.storage.buffer, this.nanFlag], workgroups: grid1d(t.size, 64),
    });
  }

  /** Throws if an op flagged by the NaN check produced NaN or Inf since the last readback. */
  async checkNaNFlags(): Promise<void> {
    if (!this.nanFlag || this.nanOps.length === 0) return;
    const first = new Uint32Array(await this.runtime.read(this.nanFlag, 4))[0];
    const ops = this.nanOps.splice(0);
    if (first !== NO_FLAG) {
      this.runtime.write(this.nanFlag, new Uint32Array([NO_FLAG]));
      throw new Error(`NaN check: op ${ops[first]} produced NaN or Inf (the first such op since the last readback)`);
    }
  }
}

let current: Engine | undefined;
let opening: Promise<Engine> | undefined;

export function engine(): Engine {
  if (!current) throw new Error('the amrm engine is not initialized: call `await init()` first');
  return current;
}

export interface InitOptions {
  adapter?: string;
  /** The device's limits: the adapter's highest (default) or WebGPU's defaults (the browser lab's choice). */
  limits?: LimitsChoice;
  debug?: Partial<DebugOptions>;
}

/** Opens the GPU once per process (AMRM_ADAPTER or options.adapter picks it) and returns the engine. */
export async function init(options: InitOptions = {}): Promise<Engine> {
  opening ??= openGpu(options.adapter, options.limits).then((gpu) => (current = new Engine(gpu)));
  const e = await opening;
  Object.assign(e.debug, options.debug);
  return e;
}

/** Submits the work recorded so far without waiting (long loops keep the queue short with it). */
export function flush(): void { engine().runtime.submit(); }

/** Waits until the GPU has finished everything recorded so far. */
export async function sync(): Promise<void> { await engine().runtime.sync(); }
