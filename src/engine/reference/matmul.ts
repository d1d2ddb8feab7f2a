// float64 reference of the batched matmul with its fused epilogue (bias, relu, gelu or tanh-form gelu).
import { type Arr, arr, bshape, strides } from './core.js';
import { gelu, geluTanh } from './elementwise.js';

export interface MatmulRefOptions { transA?: boolean; transB?: boolean; activation?: 'none' | 'relu' | 'gelu' | 'gelu_tanh'; }

/** act(op(a) · op(b) + bias) with NumPy batch broadcasting; bias is [N] or absent. */
export function matmul(a: Arr, b: Arr, bias?: Arr, o: MatmulRefOptions = {}): Arr {
  const ra = a.shape.length, rb = b.shape.length;
  const [M, K] = o.transA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const [K2, N] = o.transB ? [b.shape[rb - 1], b.shape[rb - 2]] : [b.shape[rb - 2], b.shape[rb - 1]];
  if (K !== K2) throw new Error(`reference matmul: inner dimensions ${K} and ${K2} differ`);
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const batch = bshape(batchA, batchB);
  const out = arr([...batch, M, N]);
  const count = batch.reduce((x, y) => x * y, 1);
  const st = strides(batch);
  // Offset of a batch entry's matrix in an operand whose batch shape is broadcast to `batch`.
  const offsetOf = (own: number[], z: number, size: number): number => {
    const ost = strides(own);
    const lead = batch.length - own.length;
    let off = 0;
    for (let d = 0; d < batch.length; d++) {
      const idx = Math.floor(z / st[d]) % batch[d];
      const od = d - lead;
      if (od >= 0 && own[od] !== 1) off += idx * ost[od];
    }
    return off * size;
  };
  const act = o.activation ?? 'none';
  for (let z = 0; z < count; z++) {
    const ao = offsetOf(batchA, z, M * K), bo = offsetOf(batchB, z, K * N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a.data[ao + (o.transA ? k * M + m : m * K + k)];
          const bv = b.data[bo + (o.transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        if (bias) s += bias.data[n];
        out.data[(z * M + m) * N + n] = act === 'relu' ? Math.max(s, 0) : act === 'gelu' ? gelu(s) : act === 'gelu_tanh' ? geluTanh(s) : s;
      }
    }
  }
  return out;
}
