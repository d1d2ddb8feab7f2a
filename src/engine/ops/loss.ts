// Losses. crossEntropy: fused log-softmax + negative log-likelihood over the classes of each row.
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { noGrad, record } from '../autograd.js';
import { checkF32, fmt } from '../shape.js';
import { fill, tensor } from './creation.js';
import { sum } from './reduce.js';
import { mul, mulScalar, sub } from './elementwise.js';
import { softmax } from './softmax.js';
import { reshape } from './layout.js';
import source from '../../../kernels/loss.wgsl';

const WG = 64;
const NAN_BITS = 0x7fc00000;

export type Reduction = 'mean' | 'sum' | 'none';

function labelTensor(labels: Tensor | Int32Array | readonly number[], n: number, c: number, logits: Tensor): Tensor {
  if (labels instanceof Tensor) {
    if (labels.dtype !== 'i32') throw new Error(`crossEntropy: labels must be i32, got ${labels.dtype} ${fmt(labels.shape)}`);
    if (labels.rank !== 1 || labels.shape[0] !== n) {
      throw new Error(`crossEntropy: labels shape ${fmt(labels.shape)} must be [${n}] for logits ${fmt(logits.shape)}`);
    }
    return labels;
  }
  // Host labels are checked here, where it costs nothing (a GPU tensor would need a readback).
  if (labels.length !== n) throw new Error(`crossEntropy: ${labels.length} labels for logits ${fmt(logits.shape)}`);
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < 0 || v >= c) throw new Error(`crossEntropy: label ${v} at index ${i} is not a class of logits ${fmt(logits.shape)} (0..${c - 1})`);
  }
  return tensor(Int32Array.from(labels), [n], 'i32');
}

/**
 * Cross-entropy of logits [n, c] against class indices [n]: mean (default), sum, or per row
 * ('none', shape [n]). Labels given as host data are range-checked; labels already on the GPU
 * cannot be without a readback, so a label outside [0, c) gives NaN for its row (and the mean).
 */
export function crossEntropy(logits: Tensor, labels: Tensor | Int32Array | readonly number[], reduction: Reduction = 'mean'): Tensor {
  checkF32('crossEntropy', logits);
  if (logits.rank !== 2) throw new Error(`crossEntropy: logits must be [n, classes], got ${fmt(logits.shape)}`);
  const [n, c] = logits.shape;
  if (n === 0 || c === 0) throw new Error(`crossEntropy: logits ${fmt(logits.shape)} hold no rows or no classes`);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new Error(`crossEntropy: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  }
  const lab = labelTensor(labels, n, c, logits);
  const rt = engine().runtime;
  const rowLoss = empty([n], 'f32', 'crossEntropy');
  // Internal: (label, log-sum-exp) per row, for the backward.
  const aux = empty([2 * n], 'i32', 'crossEntropy row statistics');
  rt.dispatch({
    kernel: 'loss', source, entry: 'ce_fwd', constants: { WG },
    uniforms: [n, c, 0, 0, NAN_BITS, 0, 0, 0], buffers: [logits.buffer, lab.buffer, rowLoss.buffer, aux.buffer], workgroups: grid1d(n, WG),
  });
  if (lab !== labels) lab.dispose();
  let out = rowLoss;
  if (reduction !== 'none') {
    const total = sum(rowLoss, 0);
    rowLoss.dispose();
    out = total;
    if (reduction === 'mean') { out = mulScalar(total, 1 / n); total.dispose(); }
  }
  const scale = reduction === 'mean' ? 1 / n : 1;
  /** The kernel's gradient: scale · gy · (softmax(x) − onehot(label)) per row. */
  const kernelGrad = (xs: Tensor, auxs: Tensor, gy: Tensor, s: number, scalarGy: boolean): Tensor => {
    const gx = empty(logits.shape, 'f32', 'crossEntropy backward');
    rt.dispatch({
      kernel: 'loss', source, entry: 'ce_bwd', constants: { WG },
      uniforms: [n, c, f32bits(s), scalarGy ? 1 : 0, NAN_BITS, 0, 0, 0],
      buffers: [xs.buffer, auxs.buffer, gy.buffer, gx.buffer], workgroups: grid1d(n, WG),
    });
    return gx;
  };
  const result = record('crossEntropy', out, [logits], [logits, aux], (gy, [xs, auxs]) => [kernelGrad(xs, auxs, gy, scale, reduction !== 'none')],
    (gy, [xl], _out, [xs, auxs]) => {
      // In recorded ops: (softmax(x) − onehot) · gy · scale, the one-hot rows (a constant) read off
      // the kernel's gradient at gy = 1 as softmax(x) − that.
      const onehot = noGrad(() => sub(softmax(xs), kernelGrad(xs, auxs, fill([], 1), 1, true)));
      return [mul(sub(softmax(xl), onehot), reduction === 'none' ? reshape(gy, [n, 1]) : mulScalar(gy, scale))];
    });
  aux.dispose(); // the backward holds its own reference
  return result;
}
