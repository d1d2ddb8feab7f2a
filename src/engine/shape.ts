// Shape rules shared by the ops: broadcasting, strides, axis normalization, and error messages
// that name the op and the shapes.
import type { Shape, Tensor } from './tensor.js';

export const fmt = (s: Shape): string => `[${s.join(', ')}]`;

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting of several shapes; throws naming the op and the shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) throw new Error(`${op}: shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast together`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** Strides of `shape` read as if broadcast to `out` (0 along broadcast axes). */
export function broadcastStrides(shape: Shape, out: Shape): number[] {
  const own = stridesOf(shape);
  const off = out.length - shape.length;
  return out.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : own[i - off]));
}

/**
 * Merges adjacent output axes whose strides stay consistent in every operand, so that common cases
 * (same shapes, a bias along the last axis) run as rank 1 or 2.
 */
export function collapse(out: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const shape: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < out.length; i++) {
    if (out[i] === 1) continue;
    const k = shape.length - 1;
    const mergeable = k >= 0 && strides.every((s, j) => st[j][k] === s[i] * out[i]);
    if (mergeable) {
      shape[k] *= out[i];
      strides.forEach((s, j) => { st[j][k] = s[i]; });
    } else {
      shape.push(out[i]);
      strides.forEach((s, j) => st[j].push(s[i]));
    }
  }
  if (shape.length === 0) { shape.push(1); st.forEach((s) => s.push(0)); }
  return { shape, strides: st };
}

export function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

export function checkF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'f32') throw new Error(`${op}: expected an f32 tensor, got ${t.dtype} ${fmt(t.shape)}`);
  }
}

export function checkDType(op: string, t: Tensor, dtype: string, what: string): void {
  if (t.dtype !== dtype) throw new Error(`${op}: ${what} must be ${dtype}, got ${t.dtype} ${fmt(t.shape)}`);
}
