// Creating tensors: from host data, constants, and copies.
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, Tensor, type DType, type Shape, sizeOf, checkShape } from '../tensor.js';
import { fmt } from '../shape.js';
import utilWgsl from '../../../kernels/util.wgsl';

/** Uploads host data. Plain arrays become f32 unless dtype says i32. */
export function tensor(data: ArrayLike<number>, shape?: Shape, dtype?: DType): Tensor {
  const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
  const sh = shape ?? [data.length];
  checkShape(sh, 'tensor');
  if (sizeOf(sh) !== data.length) throw new Error(`tensor: ${data.length} values do not fill shape ${fmt(sh)} (${sizeOf(sh)} elements)`);
  if (dt === 'i32') {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isInteger(data[i])) throw new Error(`tensor: i32 data holds a non-integer ${data[i]} at index ${i}`);
    }
  }
  const host = dt === 'i32' ? Int32Array.from(data) : data instanceof Float32Array ? data : Float32Array.from(data);
  const t = empty(sh, dt, 'tensor', false);
  if (host.length) engine().runtime.write(t.buffer, host);
  return t;
}

/** A tensor with every element set to `value` (f32), or to an integer (i32). */
export function fill(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  const t = empty(shape, dtype, 'fill');
  const word = dtype === 'i32' ? value | 0 : f32bits(value);
  if (t.size) {
    engine().runtime.dispatch({
      kernel: 'util', source: utilWgsl, entry: 'fill_u32',
      uniforms: [t.size, word >>> 0], buffers: [t.buffer], workgroups: grid1d(t.size, 64),
    });
  }
  return t;
}

export const zeros = (shape: Shape): Tensor => fill(shape, 0);
export const ones = (shape: Shape): Tensor => fill(shape, 1);

/** A copy of the data in a new buffer (no autograd link: use it for host-side bookkeeping). */
export function copyData(x: Tensor): Tensor {
  const t = empty(x.shape, x.dtype, 'copy');
  engine().runtime.copy(x.buffer, t.buffer, x.size * 4);
  return t;
}

/**
 * Overwrites dst's data in place with src's (a tensor of the same shape and dtype) or with host
 * data of dst's size; no autograd. The write is a GPU copy recorded after everything recorded so
 * far, so work already recorded that reads dst's old values still sees them: a direct queue write
 * would land before that work runs. Every in-place weight, statistic or optimizer-state update goes
 * through here.
 */
export function assign(dst: Tensor, src: Tensor | Float32Array | Int32Array): void {
  if (src instanceof Tensor) {
    if (src.dtype !== dst.dtype || src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i])) {
      throw new Error(`assign: source ${src.dtype} ${fmt(src.shape)} does not match destination ${dst.dtype} ${fmt(dst.shape)}`);
    }
    if (src !== dst && dst.size) engine().runtime.copy(src.buffer, dst.buffer, dst.size * 4);
    return;
  }
  const dt: DType = src instanceof Int32Array ? 'i32' : 'f32';
  if (dt !== dst.dtype || src.length !== dst.size) {
    throw new Error(`assign: host data of ${src.length} ${dt} values does not fill destination ${dst.dtype} ${fmt(dst.shape)} (${dst.size} elements)`);
  }
  const staged = tensor(src, dst.shape, dt);
  assign(dst, staged);
  staged.dispose(); // its buffer is reused only after the copy is submitted
}
