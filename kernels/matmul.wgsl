// Batched matmul with a fused epilogue: C[z] = act(op(A)[z] · op(B)[z] + bias) + R[z], where op transposes
// an operand when TRANS_A / TRANS_B is set and z runs over the broadcast batch.
//
// Register blocking without workgroup memory: each invocation computes a TM×TN block of C and walks
// K in steps of 4, loading TM + TN vec4s per step for 4·TM·TN multiply-adds. On the software
// adapters a load with a per-invocation address is a loop over the SIMD lanes while a multiply-add
// covers all lanes at once, so speed follows the FLOPs each loaded value feeds, and barriers only
// add cost (docs/design.md). TM and TN size private arrays, which WGSL requires to be constants, so the op
// rewrites the two `const` lines below for each variant; it also expands the loops marked
// `// unroll`, which SwiftShader's compiler leaves as loops over memory arrays, and removes the
// branches that the flags below decide (SwiftShader runs both sides of a branch under a lane mask,
// even a constant one). Loop variables of unrolled loops must not be reused as names inside their
// bodies, and no braces or parentheses appear in comments inside functions.

const TM: u32 = 16u;
const TN: u32 = 16u;

override WG: u32 = 64u;
// A is stored [.., K, M] (else [.., M, K]); B is stored [.., N, K] (else [.., K, N]).
override TRANS_A: bool = false;
override TRANS_B: bool = false;
// The operand's contiguous dimension is a multiple of 4, so aligned vec4 loads are possible.
override VEC_A: bool = true;
override VEC_B: bool = true;
override VEC_C: bool = true;
// K is not a multiple of 4.
override HAS_TAIL: bool = false;
override HAS_BIAS: bool = false;
// 0 none, 1 relu, 2 gelu (exact erf form), 3 gelu (tanh form).
override ACT: u32 = 0u;
// A residual R of C's shape is added last (a transformer's x + f(x)); its binding is the last one,
// so that the pipelines without it (the branch removed) keep the others' numbers.
override HAS_RES: bool = false;
// The pre-activation act⁻¹ part, op(A)·op(B) + bias, is also written to Z (binding 8): what the
// activation's backward needs, from the same pass instead of a separate activation op.
override HAS_PRE: bool = false;
// op(A)'s rows / op(B)'s columns are read from an rgba32float texture of [M (N), K/4] texels, one
// per 4 consecutive k (the op fills it: a copy of the buffer where its rows run along k, a
// transposing kernel where they do not): on llvmpipe a texture load is a vectorized gather while a
// storage load with a per-invocation address is a loop over the SIMD lanes (30-40% more GFLOP/s,
// measured). Single matrices only (no batch offsets), K a multiple of 4.
override TEX_A: bool = false;
override TEX_B: bool = false;
// op(A) / op(B) stored in half precision, two values per u32 (A16 / B16, bindings 9 and 10, in the
// f32 operand's layout, packed by util.wgsl's to_f16), accumulated in f32. WGSL's core
// pack2x16float / unpack2x16float need no `shader-f16`, so the route runs, and is tested, on every
// adapter; on a GPU it halves the bytes each operand load moves.
override F16_A: bool = false;
override F16_B: bool = false;

struct Params {
  M: u32, N: u32, K: u32, tiles_n: u32,
  tiles: u32, batch_rank: u32, z0: u32, pad: u32,
  // Collapsed batch dimensions of the output (row-major) and each operand's element stride along
  // them (0 where the operand is broadcast).
  batch_shape: vec4u,
  a_stride: vec4u,
  b_stride: vec4u,
}
@group(0) @binding(0) var<uniform> P: Params;
// vec4 views: the runtime's buffers are sized in multiples of 16 bytes.
@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> B: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// Written as whole vec4s where N is a multiple of 4 (VEC_C), else one component at a time (a
// component is its own memory location, so neighbouring invocations do not race).
@group(0) @binding(4) var<storage, read_write> C: array<vec4f>;
@group(0) @binding(5) var<storage, read> R: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> Z: array<vec4f>;
@group(0) @binding(6) var AT: texture_2d<f32>;
@group(0) @binding(7) var BT: texture_2d<f32>;
// Four halves per vec2u: one vec2u stands for one vec4f of the f32 layout.
@group(0) @binding(9) var<storage, read> A16: array<vec2u>;
@group(0) @binding(10) var<storage, read> B16: array<vec2u>;

// The i-th vec4 of the operand's f32 layout, and its i-th element.
fn a_vec(i: u32) -> vec4f {
  if (F16_A) { let h = A16[i]; return vec4f(unpack2x16float(h.x), unpack2x16float(h.y)); } else { return A[i]; }
}
fn b_vec(i: u32) -> vec4f {
  if (F16_B) { let h = B16[i]; return vec4f(unpack2x16float(h.x), unpack2x16float(h.y)); } else { return B[i]; }
}
fn a_at(i: u32) -> f32 {
  if (F16_A) { return unpack2x16float(A16[i >> 2u][(i >> 1u) & 1u])[i & 1u]; } else { return A[i >> 2u][i & 3u]; }
}
fn b_at(i: u32) -> f32 {
  if (F16_B) { return unpack2x16float(B16[i >> 2u][(i >> 1u) & 1u])[i & 1u]; } else { return B[i >> 2u][i & 3u]; }
}

// Four consecutive k of one row of op(A) (or one column of op(B)), one element at a time; k past K
// reads as 0, which makes the same code serve the tail of K.
fn a_k4(base: u32, kstep: u32, k: u32, K: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var q = 0u; q < 4u; q++) { // unroll
    let kq = k + q;
    v[q] = select(0.0, a_at(base + min(kq, K - 1u) * kstep), kq < K);
  }
  return v;
}
fn b_k4(base: u32, kstep: u32, k: u32, K: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var q = 0u; q < 4u; q++) { // unroll
    let kq = k + q;
    v[q] = select(0.0, b_at(base + min(kq, K - 1u) * kstep), kq < K);
  }
  return v;
}

// Element offsets of batch entry z in A and B.
fn batch_offsets(z: u32) -> vec2u {
  var rem = z;
  var off = vec2u(0u);
  for (var d = i32(P.batch_rank) - 1; d >= 0; d--) {
    let dim = P.batch_shape[d];
    let idx = rem % dim;
    rem = rem / dim;
    off += idx * vec2u(P.a_stride[d], P.b_stride[d]);
  }
  return off;
}

// erfc_pos / erfc_any come from kernels/erf.wgsl and gelu_tanh_f from kernels/gelu_tanh.wgsl,
// prepended by the op.

@compute @workgroup_size(WG)
fn matmul(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Keeps the bias binding in the pipeline's layout when the epilogue that reads it is removed
  // (and A's and B's when a texture stands in for them).
  _ = arrayLength(&bias);
  _ = arrayLength(&A);
  _ = arrayLength(&B);
  if (F16_A) { _ = arrayLength(&A16); }
  if (F16_B) { _ = arrayLength(&B16); }
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= P.tiles) { return; }
  let M = P.M; let N = P.N; let K = P.K;
  let m0 = (t / P.tiles_n) * TM;
  let n0 = (t % P.tiles_n) * TN;

  let z = gid.z + P.z0;
  let ab_off = batch_offsets(z);
  let a_off = ab_off.x;
  let b_off = ab_off.y;
  let c_off = z * M * N;

  // Offsets of op(A)(m, 0) for this block's rows and op(B)(0, n) for its columns. Rows and columns
  // past the edge are clamped into range: they compute values that are never stored.
  let a_kstep = select(1u, M, TRANS_A);
  let b_kstep = select(N, 1u, TRANS_B);
  var a_row: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { // unroll
    let m = min(m0 + i, M - 1u);
    a_row[i] = a_off + select(m * K, m, TRANS_A);
  }
  var b_col: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { // unroll
    let n = min(n0 + j, N - 1u);
    b_col[j] = b_off + select(n, n * K, TRANS_B);
  }

  var acc: array<array<f32, TN>, TM>;
  var a: array<vec4f, TM>;
  var b: array<vec4f, TN>;
  // Whole steps of 4 along K. The load path is fixed per pipeline (override constants): a branch
  // decided at run time would run both sides under a lane mask on the software adapters.
  let k_full = K & ~3u;
  for (var k = 0u; k < k_full; k += 4u) {
    // a[i] = op(A)(m0 + i, k..k+3) and b[j] = op(B)(k..k+3, n0 + j).
    if (TEX_A) {
      for (var i = 0u; i < TM; i++) { a[i] = textureLoad(AT, vec2u(k >> 2u, min(m0 + i, M - 1u)), 0); } // unroll
    } else if (!VEC_A) {
      for (var i = 0u; i < TM; i++) { a[i] = a_k4(a_row[i], a_kstep, k, K); } // unroll
    } else if (!TRANS_A) {
      // Rows run along k: one vec4 per row.
      for (var i = 0u; i < TM; i++) { a[i] = a_vec((a_row[i] + k) >> 2u); } // unroll
    } else {
      // Columns run along m: one vec4 covers 4 rows at one k; transpose 4×4 in registers. A group
      // of 4 rows starting past M is clamped to the last row, and `>> 2` keeps the load aligned.
      for (var r = 0u; r < TM / 4u; r++) { // unroll
        let base = a_row[4u * r];
        let v0 = a_vec((base + k * M) >> 2u);
        let v1 = a_vec((base + (k + 1u) * M) >> 2u);
        let v2 = a_vec((base + (k + 2u) * M) >> 2u);
        let v3 = a_vec((base + (k + 3u) * M) >> 2u);
        a[4u * r] = vec4f(v0.x, v1.x, v2.x, v3.x);
        a[4u * r + 1u] = vec4f(v0.y, v1.y, v2.y, v3.y);
        a[4u * r + 2u] = vec4f(v0.z, v1.z, v2.z, v3.z);
        a[4u * r + 3u] = vec4f(v0.w, v1.w, v2.w, v3.w);
      }
    }
    if (TEX_B) {
      for (var j = 0u; j < TN; j++) { b[j] = textureLoad(BT, vec2u(k >> 2u, min(n0 + j, N - 1u)), 0); } // unroll
    } else if (!VEC_B) {
      for (var j = 0u; j < TN; j++) { b[j] = b_k4(b_col[j], b_kstep, k, K); } // unroll
    } else if (TRANS_B) {
      for (var j = 0u; j < TN; j++) { b[j] = b_vec((b_col[j] + k) >> 2u); } // unroll
    } else {
      for (var c = 0u; c < TN / 4u; c++) { // unroll
        let base = b_col[4u * c];
        let v0 = b_vec((base + k * N) >> 2u);
        let v1 = b_vec((base + (k + 1u) * N) >> 2u);
        let v2 = b_vec((base + (k + 2u) * N) >> 2u);
        let v3 = b_vec((base + (k + 3u) * N) >> 2u);
        b[4u * c] = vec4f(v0.x, v1.x, v2.x, v3.x);
        b[4u * c + 1u] = vec4f(v0.y, v1.y, v2.y, v3.y);
        b[4u * c + 2u] = vec4f(v0.z, v1.z, v2.z, v3.z);
        b[4u * c + 3u] = vec4f(v0.w, v1.w, v2.w, v3.w);
      }
    }
    for (var i = 0u; i < TM; i++) { // unroll
      for (var j = 0u; j < TN; j++) { // unroll
        acc[i][j] += dot(a[i], b[j]);
      }
    }
  }
  // The last 1-3 steps of K, read element by element with the missing k as zeros.
  if (HAS_TAIL) {
    for (var i = 0u; i < TM; i++) { a[i] = a_k4(a_row[i], a_kstep, k_full, K); } // unroll
    for (var j = 0u; j < TN; j++) { b[j] = b_k4(b_col[j], b_kstep, k_full, K); } // unroll
    for (var i = 0u; i < TM; i++) { // unroll
      for (var j = 0u; j < TN; j++) { // unroll
        acc[i][j] += dot(a[i], b[j]);
      }
    }
  }

  store_block(&acc, m0, n0, c_off);
}

// ---------------------------------------------------------------- workgroup-tiled (hardware GPUs)
// A workgroup of 64 invocations (8×8) computes a BM×BN = (8·TM)×(8·TN) block of C. Per step of KT
// along K, the invocations load the block's rows of op(A) and columns of op(B) into workgroup memory
// together (zeros past the edges, so no tail path), wait, and each accumulates its TM×TN outputs
// from there: every element of A and B is read from global memory once per block instead of once
// per invocation. The software adapters run barriers as thread switches, so there the register
// kernel above is faster (tuning.ts); a GPU's workgroup memory is on-chip.
const KT: u32 = 16u;
const BM: u32 = 8u * TM;
const BN: u32 = 8u * TN;
// op(A) as [KT][BM] and op(B) as [KT][BN]: an invocation's TM rows (TN columns) are consecutive.
var<workgroup> tile_a: array<f32, KT * BM>;
var<workgroup> tile_b: array<f32, KT * BN>;

@compute @workgroup_size(64)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  _ = arrayLength(&bias);
  _ = arrayLength(&A);
  _ = arrayLength(&B);
  if (F16_A) { _ = arrayLength(&A16); }
  if (F16_B) { _ = arrayLength(&B16); }
  // One workgroup per block: P.tiles counts blocks, P.tiles_n blocks per row of C. The test is the
  // same for the whole workgroup, so returning keeps the barriers below in uniform control flow.
  let t = wid.x + wid.y * nwg.x;
  if (t >= P.tiles) { return; }
  let M = P.M; let N = P.N; let K = P.K;
  let bm0 = (t / P.tiles_n) * BM;
  let bn0 = (t % P.tiles_n) * BN;
  let z = wid.z + P.z0;
  let ab_off = batch_offsets(z);
  let c_off = z * M * N;
  let m0 = bm0 + (lid / 8u) * TM;
  let n0 = bn0 + (lid % 8u) * TN;

  var acc: array<array<f32, TN>, TM>;
  var a: array<f32, TM>;
  var b: array<f32, TN>;
  for (var k0 = 0u; k0 < K; k0 += KT) {
    // Neighbouring invocations load neighbouring addresses: along k when the operand's rows run
    // along k, else along m (n).
    for (var e = lid; e < KT * BM; e += 64u) {
      var mm = e / KT; var kk = e % KT;
      if (TRANS_A) { mm = e % BM; kk = e / BM; }
      let m = min(bm0 + mm, M - 1u); let k = min(k0 + kk, K - 1u);
      let v = a_at(ab_off.x + select(m * K + k, k * M + m, TRANS_A));
      tile_a[kk * BM + mm] = select(0.0, v, bm0 + mm < M && k0 + kk < K);
    }
    for (var e = lid; e < KT * BN; e += 64u) {
      var nn = e % BN; var kk = e / BN;
      if (TRANS_B) { nn = e / KT; kk = e % KT; }
      let n = min(bn0 + nn, N - 1u); let k = min(k0 + kk, K - 1u);
      let v = b_at(ab_off.y + select(k * N + n, n * K + k, TRANS_B));
      tile_b[kk * BN + nn] = select(0.0, v, bn0 + nn < N && k0 + kk < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      for (var i = 0u; i < TM; i++) { a[i] = tile_a[kk * BM + m0 - bm0 + i]; } // unroll
      for (var j = 0u; j < TN; j++) { b[j] = tile_b[kk * BN + n0 - bn0 + j]; } // unroll
      for (var i = 0u; i < TM; i++) { // unroll
        for (var j = 0u; j < TN; j++) { // unroll
          acc[i][j] += a[i] * b[j];
        }
      }
    }
    workgroupBarrier();
  }
  store_block(&acc, m0, n0, c_off);
}

// The epilogue: bias, activation and residual applied to a TM×TN block at (m0, n0) of batch entry
// c_off, then stored (rows and columns past the edge are dropped).
fn store_block(acc: ptr<function, array<array<f32, TN>, TM>>, m0: u32, n0: u32, c_off: u32) {
  let M = P.M; let N = P.N;
  // Each load and store is a loop over the SIMD lanes on the software adapters, which is slow to
  // compile as well as to run: the bias is loaded once per column, not once per output.
  var bias_col: array<f32, TN>;
  if (HAS_BIAS) {
    for (var j = 0u; j < TN; j++) { bias_col[j] = bias[min(n0 + j, N - 1u)]; } // unroll
  }
  for (var i = 0u; i < TM; i++) { // unroll
    let m = m0 + i;
    var row: array<f32, TN>;
    var pre: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { // unroll
      var v = (*acc)[i][j];
      if (HAS_BIAS) { v += bias_col[j]; }
      if (HAS_PRE) { pre[j] = v; }
      if (ACT == 1u) { v = max(v, 0.0); }
      if (ACT == 2u) { v = 0.5 * v * erfc_any(-v * 0.70710678118654752); }
      if (ACT == 3u) { v = gelu_tanh_f(v); }
      row[j] = v;
    }
    if (VEC_C) {
      // n0 and N are multiples of 4, so a group of 4 columns is either all inside or all outside.
      for (var c = 0u; c < TN / 4u; c++) { // unroll
        let n = n0 + 4u * c;
        if (m < M && n < N) {
          var v4 = vec4f(row[4u * c], row[4u * c + 1u], row[4u * c + 2u], row[4u * c + 3u]);
          if (HAS_RES) { v4 += R[(c_off + m * N + n) >> 2u]; }
          C[(c_off + m * N + n) >> 2u] = v4;
          if (HAS_PRE) { Z[(c_off + m * N + n) >> 2u] = vec4f(pre[4u * c], pre[4u * c + 1u], pre[4u * c + 2u], pre[4u * c + 3u]); }
        }
      }
    } else {
      for (var j = 0u; j < TN; j++) { // unroll
        let n = n0 + j;
        if (m < M && n < N) {
          let o = c_off + m * N + n;
          var v1 = row[j];
          if (HAS_RES) { v1 += R[o >> 2u][o & 3u]; }
          C[o >> 2u][o & 3u] = v1;
          if (HAS_PRE) { Z[o >> 2u][o & 3u] = pre[j]; }
        }
      }
    }
  }
}
