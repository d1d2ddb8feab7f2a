// Layout ops: reshape (a view on the same buffer), and copies that change layout.
import { Tensor, sizeOf, checkShape } from '../tensor.js';
import { record } from '../autograd.js';
import { fmt } from '../shape.js';

/** Same data, new shape (one dimension may be -1). Shares the buffer: no copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const wild = shape.filter((d) => d === -1).length;
  if (wild > 1) throw new Error(`reshape: more than one -1 in ${fmt(shape)}`);
  const known = shape.reduce((n, d) => (d === -1 ? n : n * d), 1);
  const target = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  checkShape(target, 'reshape');
  if (sizeOf(target) !== x.size) throw new Error(`reshape: cannot view ${fmt(x.shape)} (${x.size} elements) as ${fmt(shape)}`);
  const y = new Tensor(x.storage.retain(), target, x.dtype);
  return record('reshape', y, [x], [], (gy) => [reshape(gy, x.shape)]);
}
