// The runtime: pooled buffers, one open command encoder that collects dispatches and is submitted
// in batches, a pipeline cache keyed by (kernel, entry point, constants), shape uniforms cached by
// content, and readback, the only await.
import { settle } from '#host';
import type { Gpu } from './device.js';
import { submitBatchFor } from './tuning.js';
import prelude from '../../kernels/prelude.wgsl';
import utilWgsl from '../../kernels/util.wgsl';

// Usage bits spelled out (WebGPU spec values), so this module does not need the GPUBufferUsage global.
const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08 /* COPY_DST */;
const UNIFORM_USAGE = 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */;
const READ_USAGE = 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */;

/** Buckets sizes so that a freed buffer serves the next request of about the same size. */
export function bucketBytes(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 4096) return 1 << Math.ceil(Math.log2(b));
  // Above 4 KiB, quarter-power-of-two steps: at most 25% waste.
  const p = 1 << Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

export interface DispatchSpec {
  /** WGSL source of the kernel family. */
  source: string;
  /** A stable name for the kernel variant (pipeline cache key and error messages). */
  kernel: string;
  /** The kernel family the variant belongs to, for profiles (default: `kernel`). */
  family?: string;
  entry: string;
  constants?: Record<string, number>;
  /** Uniform words (u32 or f32 bit patterns), bound at binding 0 when present. */
  uniforms?: ArrayLike<number> | Uint32Array;
  /** Storage buffers bound at bindings 1.. (or 0.. with no uniforms), in order. */
  buffers: GPUBuffer[];
  /** Texture views bound at the given binding numbers (after the buffers'). */
  textures?: { binding: number; view: GPUTextureView }[];
  /** Storage buffers at given binding numbers (optional outputs placed after the textures). */
  bound?: { binding: number; buffer: GPUBuffer }[];
  workgroups: [number, number?, number?];
}

/**
 * Sees every dispatch and copy before it is recorded, named `family.entry` (copies: `copy`), to
 * count them, leave some out (profiling by elimination) or time each in its own compute pass
 * (timestamp queries). Only the profiler sets one.
 */
export interface DispatchObserver {
  /** False leaves the dispatch out. */
  see(name: string): boolean;
  /** A pair of query slots for this dispatch's begin and end timestamps, or undefined not to time it. */
  timestampSlot?(): { querySet: GPUQuerySet; index: number } | undefined;
}

export interface PoolStats {
  bytesInUse: number; bytesPooled: number; buffersInUse: number;
  /** The most bytes in use at once since the runtime started or resetPeak(). */
  peakBytesInUse: number;
}

export class Runtime {
  readonly device: GPUDevice;
  private readonly pool = new Map<number, GPUBuffer[]>();
  /** Operand textures (textureOf) by size and slot, with their views. */
  private readonly textures = new Map<string, { texture: GPUTexture; view: GPUTextureView }>();
  /**
   * Held buffers (holdTextures) and their own textures, by layout, filled on first use: operands
   * promised unchanged (a frozen model's weights in a purification loop) skip the fill per dispatch.
   */
  private readonly held = new Map<GPUBuffer, { holds: number; views: Map<string, { texture: GPUTexture; view: GPUTextureView }> }>();
  private readonly releasedSinceSubmit: GPUBuffer[] = [];
  private readonly sizeOf = new WeakMap<GPUBuffer, number>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  /**
   * Bind groups by pipeline and bound objects: a purification or training step binds the same pooled
   * buffers to the same pipelines step after step, and creating a bind group is a driver call per
   * dispatch (Dawn on llvmpipe: 15-17 µs per createBindGroup against 0.45 µs for this lookup,
   * bench/bind_group_cost.mjs; about 2.5 ms of a 167-dispatch MNIST MAE step). Objects get ids on
   * first sight; a destroyed buffer is never bound again, so an entry
   * naming one is never hit (trim and a full cache clear them).
   */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly objectIds = new WeakMap<object, number>();
  private nextObjectId = 1;
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private pendingDispatches = 0;
  private inUse = 0;
  private peak = 0;
  private inUseCount = 0;
  private pooledBytes = 0;
  observer: DispatchObserver | undefined;
  readonly maxBinding: number;
  readonly maxBuffer: number;
  readonly maxWorkgroupsPerDim: number;

  constructor(readonly gpu: Gpu) {
    this.device = gpu.device;
    this.maxBinding = gpu.limits.maxStorageBufferBindingSize;
    this.maxBuffer = gpu.limits.maxBufferSize;
    this.maxWorkgroupsPerDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  }

  /** Throws the first uncaptured WebGPU error or device loss seen since the last check. */
  throwPending(): void {
    const e = this.gpu.takeError();
    if (e) throw e;
  }

  // ---------------------------------------------------------------- buffers
  acquire(bytes: number, what = 'buffer'): GPUBuffer {
    if (!Number.isFinite(bytes) || bytes < 0) throw new Error(`${what}: invalid byte size ${bytes}`);
    const size = bucketBytes(bytes);
    if (bytes > this.maxBinding || size > this.maxBuffer) {
      throw new Error(`${what} needs ${bytes} bytes, more than this adapter allows in one storage binding ` +
        `(maxStorageBufferBindingSize ${this.maxBinding}, maxBufferSize ${this.maxBuffer})`);
    }
    const free = this.pool.get(size);
    let buf = free?.pop();
    if (buf) this.pooledBytes -= size;
    else {
      this.throwPending();
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE });
      this.sizeOf.set(buf, size);
    }
    this.inUse += size;
    this.peak = Math.max(this.peak, this.inUse);
    this.inUseCount++;
    return buf;
  }

  /** Returns a buffer to the pool; it becomes reusable once the work recorded so far is submitted. */
  release(buf: GPUBuffer): void {
    const size = this.sizeOf.get(buf);
    if (size === undefined) throw new Error('release: buffer does not belong to this runtime');
    this.inUse -= size;
    this.inUseCount--;
    this.releasedSinceSubmit.push(buf);
    // A held buffer's textures would go stale once the buffer is reused.
    if (this.held.has(buf)) this.dropHeld(buf);
  }

  stats(): PoolStats { return { bytesInUse: this.inUse, bytesPooled: this.pooledBytes, buffersInUse: this.inUseCount, peakBytesInUse: this.peak }; }

  /** Starts a new peak measurement at the bytes in use now. */
  resetPeak(): void { this.peak = this.inUse; }

  /** Frees every pooled (unused) buffer and the operand textures back to the driver. */
  trim(): void {
    this.submit();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    this.pooledBytes = 0;
    for (const t of this.textures.values()) t.texture.destroy();
    this.textures.clear();
    this.bindGroups.clear();
  }

  write(buf: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    // Copy first: Dawn crashes on views of a SharedArrayBuffer (docs/design.md, measured).
    const bytes = data.buffer instanceof ArrayBuffer ? data : new Uint8Array(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    // Pad to a multiple of 4 bytes as writeBuffer requires.
    const n = bytes.byteLength;
    if (n % 4 === 0) this.device.queue.writeBuffer(buf, offset, bytes.buffer, bytes.byteOffset, n);
    else {
      const padded = new Uint8Array(Math.ceil(n / 4) * 4);
      padded.set(new Uint8Array(bytes.buffer, bytes.byteOffset, n));
      this.device.queue.writeBuffer(buf, offset, padded);
    }
  }

  // ---------------------------------------------------------------- pipelines
  private pipeline(spec: DispatchSpec): GPUComputePipeline {
    const c = spec.constants;
    const key = `${spec.kernel}:${spec.entry}:${c ? Object.entries(c).map(([k, v]) => `${k}=${v}`).join(',') : ''}`;
    let p = this.pipelines.get(key);
    if (!p) {
      let module = this.modules.get(spec.kernel);
      if (!module) {
        // Every kernel is compiled behind the shared helpers (kernels/prelude.wgsl).
        // `enable` directives must open the module: they go before the prelude.
        const enables = spec.source.match(/^enable [\w, ]+;$/gm) ?? [];
        const body = enables.length ? spec.source.replace(/^enable [\w, ]+;$/gm, '') : spec.source;
        module = this.device.createShaderModule({ code: `${enables.join('\n')}\n${prelude}\n${body}`, label: spec.kernel });
        this.modules.set(spec.kernel, module);
      }
      p = this.device.createComputePipeline({
        layout: 'auto', label: key,
        compute: { module, entryPoint: spec.entry, constants: c },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private uniform(words: ArrayLike<number>): GPUBuffer {
    const u = words instanceof Uint32Array ? words : Uint32Array.from(words as ArrayLike<number>);
    const key = u.join(',');
    let buf = this.uniforms.get(key);
    if (!buf) {
      // Shapes repeat from step to step, so a uniform is written once and then reused.
      if (this.uniforms.size >= 8192) {
        this.submit();
        for (const b of this.uniforms.values()) b.destroy();
        this.uniforms.clear();
        this.bindGroups.clear();
      }
      const size = Math.max(16, Math.ceil(u.byteLength / 16) * 16);
      buf = this.device.createBuffer({ size, usage: UNIFORM_USAGE });
      const padded = new Uint32Array(size / 4);
      padded.set(u);
      this.device.queue.writeBuffer(buf, 0, padded);
      this.uniforms.set(key, buf);
    }
    return buf;
  }

  // ---------------------------------------------------------------- encoding
  private openPass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    return this.pass;
  }

  private closePass(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    if (this.pass) { this.pass.end(); this.pass = undefined; }
    return this.encoder;
  }

  dispatch(spec: DispatchSpec): void {
    this.throwPending();
    const [x, y = 1, z = 1] = spec.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    for (const n of [x, y, z]) {
      if (n > this.maxWorkgroupsPerDim) throw new Error(`${spec.kernel}.${spec.entry}: ${n} workgroups exceed maxComputeWorkgroupsPerDimension ${this.maxWorkgroupsPerDim}`);
    }
    const slot = this.observer && this.observe(`${spec.family ?? spec.kernel}.${spec.entry}`);
    if (slot === false) return;
    const pipeline = this.pipeline(spec);
    const bindGroup = this.bindGroup(pipeline, spec);
    if (typeof slot === 'object') {
      // A pass of its own, so that its timestamps bracket this dispatch alone.
      const pass = this.closePass().beginComputePass({
        timestampWrites: { querySet: slot.querySet, beginningOfPassWriteIndex: slot.index, endOfPassWriteIndex: slot.index + 1 },
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    } else {
      const pass = this.openPass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    }
    if (++this.pendingDispatches >= submitBatchFor(this.gpu.kind)) this.submit();
  }

  private objectId(o: object): number {
    let id = this.objectIds.get(o);
    if (id === undefined) this.objectIds.set(o, (id = this.nextObjectId++));
    return id;
  }

  private bindGroup(pipeline: GPUComputePipeline, spec: DispatchSpec): GPUBindGroup {
    const uniform = spec.uniforms ? this.uniform(spec.uniforms) : undefined;
    const textures = spec.textures ?? [], bound = spec.bound ?? [];
    const key = [pipeline, uniform, ...spec.buffers].map((o) => (o ? this.objectId(o) : 0)).join(',')
      + [...textures.map((t) => [t.binding, t.view] as const), ...bound.map((b) => [b.binding, b.buffer] as const)].map(([k, o]) => `;${k}:${this.objectId(o)}`).join('');
    let group = this.bindGroups.get(key);
    if (!group) {
      const entries: GPUBindGroupEntry[] = [];
      let binding = 0;
      if (uniform) entries.push({ binding: binding++, resource: { buffer: uniform } });
      for (const b of spec.buffers) entries.push({ binding: binding++, resource: { buffer: b } });
      for (const t of textures) entries.push({ binding: t.binding, resource: t.view });
      for (const b of bound) entries.push({ binding: b.binding, resource: { buffer: b.buffer } });
      group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      if (this.bindGroups.size >= 16384) this.bindGroups.clear();
      this.bindGroups.set(key, group);
    }
    return group;
  }

  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    if (bytes === 0) return;
    if (this.observer && this.observe('copy') === false) return;
    this.closePass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, Math.ceil(bytes / 4) * 4);
    if (++this.pendingDispatches >= submitBatchFor(this.gpu.kind)) this.submit();
  }

  /**
   * The first `rows` rows of `rowBytes` bytes of a buffer as an rgba32float texture (`rowBytes` / 16
   * texels wide), filled now, in order with the dispatches around it: a later dispatch that binds
   * the view reads these values. One texture per size and `slot` (two operands of one dispatch need
   * two slots) is kept and reused, since each fill is recorded after the dispatches that read the
   * last one. Rows of a multiple of 256 bytes are copied (WebGPU's rule for buffer-to-texture
   * copies); others are written by a kernel (util.wgsl's to_texture). rowBytes: a multiple of 16.
   * `transposed`: the buffer holds the matrix the other way round, [4·width, rows] (to_texture_t).
   */
  textureOf(src: GPUBuffer, rowBytes: number, rows: number, slot: number, transposed = false): GPUTextureView {
    const key = `${rowBytes / 16}x${rows}:${slot}`;
    let t = this.textures.get(key);
    if (!t) this.textures.set(key, t = this.createOperandTexture(rowBytes, rows, key));
    this.fillTexture(src, rowBytes, rows, transposed, t.texture, t.view);
    return t.view;
  }

  /**
   * Promises that these buffers keep their contents until the returned function is called: until
   * then heldTextureOf gives each its own texture, filled once. Holds nest; a held buffer that is
   * released (its tensor disposed) loses its textures at once.
   */
  holdTextures(buffers: GPUBuffer[]): () => void {
    for (const b of buffers) {
      const h = this.held.get(b);
      if (h) h.holds++;
      else this.held.set(b, { holds: 1, views: new Map() });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const b of buffers) {
        const h = this.held.get(b);
        if (h && --h.holds === 0) this.dropHeld(b);
      }
    };
  }

  /** textureOf for a held buffer (holdTextures), filled on first use only; undefined when not held. */
  heldTextureOf(src: GPUBuffer, rowBytes: number, rows: number, transposed = false): GPUTextureView | undefined {
    const h = this.held.get(src);
    if (!h) return undefined;
    const key = `${rowBytes / 16}x${rows}:${transposed ? 't' : 'n'}`;
    let t = h.views.get(key);
    if (!t) {
      h.views.set(key, t = this.createOperandTexture(rowBytes, rows, `held ${key}`));
      this.fillTexture(src, rowBytes, rows, transposed, t.texture, t.view);
    }
    return t.view;
  }

  private dropHeld(buf: GPUBuffer): void {
    const h = this.held.get(buf);
    if (!h) return;
    this.held.delete(buf);
    if (h.views.size === 0) return;
    // Dispatches recorded so far may read them: destroy only after they are submitted.
    this.submit();
    for (const t of h.views.values()) t.texture.destroy();
  }

  private createOperandTexture(rowBytes: number, rows: number, label: string): { texture: GPUTexture; view: GPUTextureView } {
    const usage = 0x04 /* TEXTURE_BINDING */ | 0x02 /* COPY_DST */ | 0x08 /* STORAGE_BINDING */;
    const texture = this.device.createTexture({ size: [rowBytes / 16, rows], format: 'rgba32float', usage, label: `operand texture ${label}` });
    return { texture, view: texture.createView() };
  }

  private fillTexture(src: GPUBuffer, rowBytes: number, rows: number, transposed: boolean, texture: GPUTexture, view: GPUTextureView): void {
    const width = rowBytes / 16;
    if (transposed || rowBytes % 256 !== 0) {
      this.dispatch({
        kernel: 'util', source: utilWgsl, entry: transposed ? 'to_texture_t' : 'to_texture', uniforms: [width, rows], buffers: [src],
        textures: [{ binding: 2, view }], workgroups: grid1d(width * rows, 64),
      });
    } else if (!this.observer || this.observe('copy') !== false) {
      this.closePass().copyBufferToTexture({ buffer: src, bytesPerRow: rowBytes }, { texture }, [width, rows]);
      if (++this.pendingDispatches >= submitBatchFor(this.gpu.kind)) this.submit();
    }
  }

  /** The observer's verdict: false to leave the work out, a timestamp slot, or true. */
  private observe(name: string): false | true | { querySet: GPUQuerySet; index: number } {
    const o = this.observer!;
    if (!o.see(name)) return false;
    return o.timestampSlot?.() ?? true;
  }

  /** Submits the recorded work; buffers released before this point become reusable. */
  submit(): void {
    if (this.encoder) {
      const enc = this.closePass();
      this.encoder = undefined;
      this.pendingDispatches = 0;
      this.device.queue.submit([enc.finish()]);
    }
    for (const b of this.releasedSinceSubmit) {
      const size = this.sizeOf.get(b)!;
      let list = this.pool.get(size);
      if (!list) this.pool.set(size, (list = []));
      list.push(b);
      this.pooledBytes += size;
    }
    this.releasedSinceSubmit.length = 0;
  }

  /** Copies `bytes` from a buffer to the host. The only await in an op's life. */
  async read(buf: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.throwPending();
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ size, usage: READ_USAGE });
    this.closePass().copyBufferToBuffer(buf, offset, staging, 0, size);
    this.submit();
    try {
      await settle(staging.mapAsync(0x0001 /* READ */));
    } catch (e) {
      staging.destroy();
      throw this.gpu.takeError() ?? e;
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.throwPending();
    return out;
  }

  /** Waits until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.submit();
    await settle(this.device.queue.onSubmittedWorkDone());
    this.throwPending();
  }
}

/** The bits of `v` as an f32, for an f32 field of a kernel's uniform words. */
export const f32bits = (v: number): number => new Uint32Array(new Float32Array([v]).buffer)[0];

/** Splits a 1-D launch of `n` invocations over a 2-D grid of workgroups (x limited to 65535). */
export function grid1d(n: number, workgroupSize: number): [number, number] {
  const groups = Math.ceil(n / workgroupSize);
  if (groups <= 65535) return [Math.max(groups, 0), 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}
