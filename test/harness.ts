// Test harness: seeded inputs, poisoned outputs, comparison with the float64 oracle, and gradient
// checks against central finite differences of the oracle.
import * as assert from 'uvu/assert';
import { init, type Engine } from '../src/engine/engine.js';
import { Tensor, asyncScope } from '../src/engine/tensor.js';
import { tensor } from '../src/engine/ops/creation.js';
import { backward } from '../src/engine/autograd.js';
import { Rng } from '../src/engine/random.js';
import { type Arr, arr } from '../src/engine/reference/core.js';

export { Rng, arr, type Arr };

/** Opens the engine once for the whole run, with output poisoning on. */
export async function setup(): Promise<Engine> {
  return init({ debug: { poison: true } });
}

export interface Gen { lo?: number; hi?: number; avoid?: (x: number) => boolean; int?: boolean; }

/** Seeded random values, exactly representable in f32, never all zero. */
export function rand(rng: Rng, shape: number[], g: Gen = {}): Arr {
  const lo = g.lo ?? -2, hi = g.hi ?? 2;
  const a = arr(shape);
  for (let i = 0; i < a.data.length; i++) {
    let v: number;
    do { v = g.int ? Math.floor(rng.uniform(lo, hi)) : Math.fround(rng.uniform(lo, hi)); } while (g.avoid?.(v));
    a.data[i] = v;
  }
  return a;
}

export const upload = (a: Arr, dtype: 'f32' | 'i32' = 'f32'): Tensor =>
  tensor(dtype === 'i32' ? Int32Array.from(a.data) : Float32Array.from(a.data), a.shape, dtype);

export async function download(t: Tensor): Promise<Arr> {
  return arr(t.shape, await t.read());
}

const shapeStr = (ins: Arr[]): string => ins.map((a) => `[${a.shape}]`).join(', ');

/** Largest per-element error relative to |reference| (elementwise ops). */
export function elementRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (!Number.isFinite(g) && g === w) continue;
    const e = Math.abs(g - w) / Math.max(Math.abs(w), 1e-30);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/** max|got - want| / max|want| (matmul, reductions, gradients). */
export function normRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / Math.max(den, 1e-30);
}

export interface OpCase {
  name: string;
  inputs: Arr[];
  /** Input dtypes (default f32). */
  dtypes?: ('f32' | 'i32')[];
  gpu: (...xs: Tensor[]) => Tensor;
  ref: (...xs: Arr[]) => Arr;
  /** 'element' (per-element relative) or 'norm' (relative to the largest reference value). */
  metric?: 'element' | 'norm';
  tol?: number;
}

/** Forward check: GPU output (poisoned before the run) equals the float64 reference. */
export async function checkForward(c: OpCase): Promise<void> {
  await asyncScope(async () => {
    const ts = c.inputs.map((a, i) => upload(a, c.dtypes?.[i]));
    const y = c.gpu(...ts);
    const want = c.ref(...c.inputs);
    assert.equal([...y.shape], want.shape, `${c.name} ${shapeStr(c.inputs)}: output shape`);
    const got = await download(y);
    const err = (c.metric ?? 'element') === 'element' ? elementRelErr(got.data, want.data) : normRelErr(got.data, want.data);
    const tol = c.tol ?? 1e-5;
    assert.ok(err <= tol, `${c.name} ${shapeStr(c.inputs)}: relative error ${err.toExponential(2)} > ${tol}`);
  });
}

export interface GradCase extends OpCase {
  /** Which inputs to differentiate (default: every f32 input). */
  wrt?: number[];
  gradTol?: number;
}

/** Backward check: autograd's input gradients equal central differences of the float64 reference. */
export async function checkGrad(c: GradCase, rng: Rng): Promise<void> {
  const wrt = c.wrt ?? c.inputs.map((_, i) => i).filter((i) => (c.dtypes?.[i] ?? 'f32') === 'f32');
  await asyncScope(async () => {
    const ts = c.inputs.map((a, i) => upload(a, c.dtypes?.[i]));
    for (const k of wrt) ts[k].requireGrad();
    const y = c.gpu(...ts);
    const gyArr = rand(rng, [...y.shape], { lo: -1, hi: 1 });
    backward(y, upload(gyArr));
    for (const k of wrt) {
      const g = ts[k].grad;
      assert.ok(g, `${c.name} ${shapeStr(c.inputs)}: no gradient reached input ${k}`);
      const got = await download(g!);
      const fd = finiteDiff(c.ref, c.inputs, k, gyArr);
      const err = normRelErr(got.data, fd);
      const tol = c.gradTol ?? 1e-4;
      assert.ok(err <= tol, `${c.name} ${shapeStr(c.inputs)}: gradient of input ${k} off by ${err.toExponential(2)} (> ${tol}) from finite differences`);
    }
  });
}

/** d/dx_k of sum(ref(x) * gy) by central differences in float64. */
export function finiteDiff(ref: (...xs: Arr[]) => Arr, inputs: Arr[], k: number, gy: Arr): Float64Array {
  const x = inputs[k];
  const out = new Float64Array(x.data.length);
  const f = (): number => {
    const y = ref(...inputs);
    let s = 0;
    for (let i = 0; i < y.data.length; i++) s += y.data[i] * gy.data[i];
    return s;
  };
  for (let j = 0; j < x.data.length; j++) {
    const v = x.data[j];
    const h = 1e-6 * Math.max(1, Math.abs(v));
    x.data[j] = v + h; const fp = f();
    x.data[j] = v - h; const fm = f();
    x.data[j] = v;
    out[j] = (fp - fm) / (2 * h);
  }
  return out;
}

/** Runs fn with console.log and console.error silenced (CLI commands print progress and usage). */
export async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log, err = console.error;
  console.log = () => {};
  console.error = () => {};
  try { return await fn(); } finally { console.log = log; console.error = err; }
}
