// float64 references of the elementwise ops.
import { type Arr, map, zip } from './core.js';

/** erf in float64: Maclaurin series below 3, continued fraction for erfc above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-18 * Math.abs(sum); n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - erfcLarge(ax));
}

/** erfc(x) for x >= 3 by its continued fraction, evaluated backwards. */
function erfcLarge(x: number): number {
  let f = x;
  for (let k = 80; k >= 1; k--) f = x + (k / 2) / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

export function erfc(x: number): number { return x >= 3 ? erfcLarge(x) : 1 - erf(x); }

export const gelu = (x: number): number => 0.5 * x * erfc(-x / Math.SQRT2);

/**
 * GELU in its tanh form (PyTorch's approximate="tanh", DiT's MLP): x/2 · (1 + tanh(u)) with
 * u = √(2/π)·(x + 0.044715·x³), evaluated as x / (1 + exp(-2u)), the same function, because even in
 * float64 1 + tanh(u) loses digits to cancellation for x below about -4.
 */
export const geluTanh = (x: number): number => {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return x / (1 + Math.exp(-2 * u));
};

/** SiLU, x·sigmoid(x) (DiT's adaLN conditioning). */
export const silu = (x: number): number => x / (1 + Math.exp(-x));

const powReal = (x: number, p: number): number => Math.pow(x, p);

export const unaryRef = {
  neg: (x: number) => -x,
  abs: Math.abs,
  sign: Math.sign,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x: number) => 1 / Math.sqrt(x),
  tanh: Math.tanh,
  sigmoid: (x: number) => 1 / (1 + Math.exp(-x)),
  relu: (x: number) => Math.max(x, 0),
  gelu,
  geluTanh,
  silu,
};

export const unary = (name: keyof typeof unaryRef, a: Arr): Arr => map(a, unaryRef[name]);
export const powScalar = (a: Arr, p: number): Arr => map(a, (x) => powReal(x, p));
export const clamp = (a: Arr, lo: number, hi: number): Arr => map(a, (x) => Math.min(Math.max(x, lo), hi));
export const affine = (a: Arr, s: number, b: number): Arr => map(a, (x) => s * x + b);

export const binaryRef = {
  add: (a: number, b: number) => a + b,
  sub: (a: number, b: number) => a - b,
  mul: (a: number, b: number) => a * b,
  div: (a: number, b: number) => a / b,
  maximum: Math.max,
  minimum: Math.min,
};
export const binary = (name: keyof typeof binaryRef, a: Arr, b: Arr): Arr => zip(binaryRef[name], a, b);
export const where = (c: Arr, a: Arr, b: Arr): Arr => zip((cv, av, bv) => (cv !== 0 ? av : bv), c, a, b);
export const broadcastTo = (a: Arr, shape: number[]): Arr => zip((v) => v, a, { shape, data: new Float64Array(shape.reduce((x, y) => x * y, 1)) });
