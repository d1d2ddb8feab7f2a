// The float64 CPU oracle's array type and shape helpers. Tests compare every GPU op with these.
export interface Arr { shape: number[]; data: Float64Array; }

export const arr = (shape: readonly number[], data?: ArrayLike<number>): Arr => {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = data ? Float64Array.from(data) : new Float64Array(n);
  if (d.length !== n) throw new Error(`reference: ${d.length} values for shape [${shape}]`);
  return { shape: [...shape], data: d };
};

export function strides(shape: readonly number[]): number[] {
  const s: number[] = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export function bshape(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[s.length - rank + i] ?? 1)));
}

/** Index into `a` for the multi-index of a broadcast output element. */
export function bindex(a: Arr, outShape: readonly number[], flat: number): number {
  const st = strides(a.shape);
  const off = outShape.length - a.shape.length;
  let rem = flat;
  let idx = 0;
  for (let d = outShape.length - 1; d >= 0; d--) {
    const i = rem % outShape[d];
    rem = Math.floor(rem / outShape[d]);
    const ad = d - off;
    if (ad >= 0 && a.shape[ad] !== 1) idx += i * st[ad];
  }
  return idx;
}

export function map(a: Arr, f: (x: number) => number): Arr {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function zip(f: (...v: number[]) => number, ...xs: Arr[]): Arr {
  const shape = bshape(...xs.map((x) => x.shape));
  const out = arr(shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(...xs.map((x) => x.data[bindex(x, shape, i)]));
  return out;
}
