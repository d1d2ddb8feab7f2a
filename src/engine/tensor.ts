// Tensors: a shape and dtype in JS over a reference-counted pooled GPU buffer (contiguous,
// row-major). Ownership is explicit: `dispose()`, or `scope()`, which frees what was made inside
// it and not returned.
import type { Node } from './autograd.js';
import { engine } from './engine.js';

export type DType = 'f32' | 'i32';
export type Shape = readonly number[];

/** A GPU buffer shared by tensor handles (a tensor, its detached copies, its saved-for-backward copies). */
export class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
  retain(): this { this.refs++; return this; }
  release(): void {
    if (--this.refs === 0) engine().runtime.release(this.buffer);
    else if (this.refs < 0) throw new Error('Storage released more often than retained');
  }
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: Shape, what: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${what}: shape [${shape}] must be a list of non-negative integers`);
  }
}

let nextId = 1;
const scopes: Set<Tensor>[] = [];

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | undefined;
  /** The autograd node that produced this tensor (absent for leaves and outside recording). */
  node: Node | undefined;
  private disposedFlag = false;

  constructor(readonly storage: Storage, readonly shape: Shape, readonly dtype: DType = 'f32', tracked = true) {
    this.size = sizeOf(shape);
    if (tracked) scopes[scopes.length - 1]?.add(this);
  }

  get rank(): number { return this.shape.length; }
  get buffer(): GPUBuffer {
    if (this.disposedFlag) throw new Error(`tensor #${this.id} [${this.shape}] was used after dispose()`);
    return this.storage.buffer;
  }
  get disposed(): boolean { return this.disposedFlag; }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const s of scopes) s.delete(this);
    this.storage.release();
    if (this.node) { this.node.unref(); this.node = undefined; }
    if (this.grad) { this.grad.dispose(); this.grad = undefined; }
  }

  /** Reads the tensor back to the host: the only await in a tensor's life. */
  async read(): Promise<Float32Array | Int32Array> {
    const bytes = await engine().runtime.read(this.buffer, this.size * 4);
    await engine().checkNaNFlags();
    return this.dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }
  async data(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new Error(`data(): tensor #${this.id} is ${this.dtype}; use read()`);
    return (await this.read()) as Float32Array;
  }

  /** Marks a leaf tensor as needing a gradient (parameters, or the image during purification). */
  requireGrad(on = true): this {
    if (this.node) throw new Error(`requireGrad: tensor #${this.id} is not a leaf (it was computed by ${this.node.op}); use detach() first`);
    if (on && this.dtype !== 'f32') throw new Error(`requireGrad: tensor #${this.id} has dtype ${this.dtype}; only f32 tensors take gradients`);
    this.requiresGrad = on;
    return this;
  }

  /** A new handle on the same data, cut from the graph. */
  detach(): Tensor { return new Tensor(this.storage.retain(), this.shape, this.dtype); }

  toString(): string { return `Tensor#${this.id}(${this.dtype}[${this.shape.join(', ')}])`; }
}

/** Allocates an uninitialized tensor (the op that returns it must write every element). */
export function empty(shape: Shape, dtype: DType = 'f32', what = 'tensor', poison = true): Tensor {
  checkShape(shape, what);
  const n = sizeOf(shape);
  const rt = engine().runtime;
  const buf = rt.acquire(Math.max(n, 1) * 4, `${what} [${shape}]`);
  const t = new Tensor(new Storage(buf, n * 4), [...shape], dtype);
  // Host uploads skip poisoning: queue writes land before recorded dispatches and would be overwritten.
  if (poison) engine().poisonIfDebug(t);
  return t;
}

/** An internal handle on a tensor's data that no scope frees (autograd's saved tensors). */
export function untrackedView(t: Tensor): Tensor {
  return new Tensor(t.storage.retain(), t.shape, t.dtype, false);
}

type Kept = Tensor | undefined | null | number | string | boolean | Kept[] | { [k: string]: Kept };
function collect(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collect(x, out);
  else if (v && typeof v === 'object' && !(v instanceof Float32Array) && !(v instanceof Int32Array)) {
    for (const x of Object.values(v)) collect(x, out);
  }
}

/** Runs `fn`; every tensor created inside and not returned (or kept) is disposed at the end. */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Tensor>();
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) throw new Error('scope(fn): fn must be synchronous; use asyncScope for async work');
  return closeScope(mine, result);
}

/** Disposes what a finished scope made, except what its result holds (handed to the parent scope). */
function closeScope<T>(mine: Set<Tensor>, result: T): T {
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of mine) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Like scope, for async functions (awaiting inside is fine: tensors are tracked by the scope stack). */
export async function asyncScope<T>(fn: () => Promise<T>): Promise<T> {
  const mine = new Set<Tensor>();
  scopes.push(mine);
  const depth = scopes.length;
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    if (scopes[scopes.length - 1] === mine) scopes.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  if (scopes.length !== depth || scopes[depth - 1] !== mine) {
    // Another async scope opened or closed while this one awaited: this one's tensors are freed
    // (nothing is left allocated for good) and the caller learns why.
    const at = scopes.indexOf(mine);
    if (at >= 0) scopes.splice(at, 1);
    for (const t of mine) t.dispose();
    throw new Error('asyncScope: scopes were interleaved (run async scopes one at a time)');
  }
  scopes.pop();
  return closeScope(mine, result);
}

/** Takes tensors out of every enclosing scope, so they outlive it (the caller then owns them). */
export function keep<T extends Kept>(v: T): T {
  const set = new Set<Tensor>();
  collect(v, set);
  for (const t of set) for (const s of scopes) s.delete(t);
  return v;
}

/** The opposite of keep: hands a tensor nobody's scope holds to the innermost scope (a result made outside it). */
export function adopt(t: Tensor): Tensor {
  scopes[scopes.length - 1]?.add(t);
  return t;
}

export type { Kept };
