// The softmax Jacobian applied along rows of a row-stochastic A (docs/method.md section 7):
//   JVP  dA = A ∘ (dS − rowsum(A ∘ dS))            (jvp)
//   VJP  dS = A ∘ (G − rowsum(G ∘ A))               (the same map: the Jacobian is symmetric)
// the fused first-order attention shift, dS = (dQ Kᵀ + Q dKᵀ)·scale followed by the JVP without dS
// in memory (shift), and the attention-variation loss ‖A − Aref‖²_F with its gradient (amv_rows,
// amv_vjp, amv_bwd).
//
// Row kernels give one invocation a whole row: on the software adapters a lane-per-row loop beats
// any workgroup reduction (barriers cost 4× on llvmpipe and far more on SwiftShader, docs/design.md), and
// the row sum is then ready in a register for the second walk over the row. Attention rows
// (N = 17, 65, 197) are rarely a multiple of 4, yet the rows are walked in vec4s: a row [b, e) is
// covered by the aligned vec4s [b/4, ⌈e/4⌉), lanes outside the row are masked out of the sums and
// not stored (the neighbouring rows belong to other invocations). A load is a loop over the SIMD
// lanes on llvmpipe whatever its width, so this is 1.6× faster than scalar loads there (measured:
// JVP at [96, 65, 65] 1.9 ms against 3.1 ms, at [96, 197, 197] 20 against 34 ms). Reading past a
// tensor's end stays inside its buffer, whose size the runtime rounds up to 16 bytes; the values
// there (or in a neighbouring row) can be anything, so masked lanes are selected away, never
// multiplied by zero.
//
// Entry points reuse binding numbers with their own variables, which `layout: 'auto'` allows. Every
// entry point binds at most 4 storage buffers (the compatibility-mode budget) except shift with
// DIRECT (6), which the op uses only where the adapter allows it.
//
// The loops marked `// unroll` are expanded by the op (src/engine/wgsl.ts unrollLoops) after
// it rewrites the `const` lines; their loop variables are not reused inside their bodies, and the
// bodies hold no braces in comments.

// The shift kernels' blocking: TR query rows per invocation, 4·TC4 keys per step, rewritten by the
// op per variant (private arrays need constant sizes).
const TR: u32 = 4u;
const TC4: u32 = 1u;
const KC: u32 = TC4 * 4u;

override WG: u32 = 64u;
// Invocations per workgroup of the shift kernel (one SIMD width on llvmpipe: 8).
override SWG: u32 = 8u;

struct Params {
  // Row kernels: rows, row length. shift: batch entries (B·H), query rows N.
  rows: u32, n: u32,
  // shift: keys M, vec4s per operand row; pack_pair: vec4s per packed row.
  m: u32, p4: u32, pad: u32,
  // Multiplies the result (the softmax temperature of the attention scores; 1 elsewhere).
  scale: f32,
  // amv_bwd / pack_pair: elements in all, and per batch entry (amv_bwd) or per source row (pack_pair).
  total: u32, per: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

// A row's elements [b, e) as aligned vec4s: the whole ones [full0, full1), walked without masks,
// and at most two partial ones at the ends (edge_q), walked with them. SwiftShader runs both sides
// of a branch under a lane mask, so masking every vec4 cost a third more there.
struct Span { b: u32, e: u32, full0: u32, full1: u32 }
fn span_of(row: u32) -> Span { let b = row * P.n; let e = b + P.n; return Span(b, e, (b + 3u) / 4u, e / 4u); }
const NONE: u32 = 0xffffffffu;
/** The partial vec4 at the row's start (t = 0) or end (t = 1), or NONE. */
fn edge_q(sp: Span, t: u32) -> u32 {
  if (t == 0u) { return select(NONE, sp.b / 4u, sp.b / 4u < sp.full0); }
  let q = max(sp.full1, sp.full0);
  return select(NONE, q, 4u * q < sp.e);
}
/** Which lanes of vec4 q lie inside the row. */
fn inside(q: u32, sp: Span) -> vec4<bool> {
  let i = vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u);
  return (i >= vec4u(sp.b)) & (i < vec4u(sp.e));
}

// ---------------------------------------------------------------- JVP / VJP
@group(0) @binding(1) var<storage, read> ja: array<vec4f>;
@group(0) @binding(2) var<storage, read> jv: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> jo: array<vec4f>;

// out = scale · A ∘ (V − rowsum(A ∘ V)): two walks over the row, the row sum in between.
@compute @workgroup_size(WG)
fn jvp(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let sp = span_of(row);
  var acc4 = vec4f(0.0);
  for (var q = sp.full0; q < sp.full1; q++) { acc4 += ja[q] * jv[q]; }
  for (var t = 0u; t < 2u; t++) {
    let q = edge_q(sp, t);
    if (q != NONE) { acc4 += select(vec4f(0.0), ja[q] * jv[q], inside(q, sp)); }
  }
  let acc = vec4f(hsum(acc4));
  for (var q = sp.full0; q < sp.full1; q++) { jo[q] = P.scale * ja[q] * (jv[q] - acc); }
  for (var t = 0u; t < 2u; t++) {
    let q = edge_q(sp, t);
    if (q != NONE) {
      let o = P.scale * ja[q] * (jv[q] - acc);
      let m = inside(q, sp);
      if (m.x) { jo[q].x = o.x; }
      if (m.y) { jo[q].y = o.y; }
      if (m.z) { jo[q].z = o.z; }
      if (m.w) { jo[q].w = o.w; }
    }
  }
}

// Gradient of out = A ∘ (V − c), c = rowsum(A ∘ V), with respect to A, given the output gradient g:
//   gA = g ∘ (V − c) − V · rowsum(g ∘ A).
@group(0) @binding(1) var<storage, read> ga_a: array<vec4f>;
@group(0) @binding(2) var<storage, read> ga_v: array<vec4f>;
@group(0) @binding(3) var<storage, read> ga_g: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> ga_out: array<vec4f>;

@compute @workgroup_size(WG)
fn jvp_grad_a(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let sp = span_of(row);
  var c4 = vec4f(0.0);
  var e4 = vec4f(0.0);
  for (var q = sp.full0; q < sp.full1; q++) {
    let a = ga_a[q];
    c4 += a * ga_v[q];
    e4 += a * ga_g[q];
  }
  for (var t = 0u; t < 2u; t++) {
    let q = edge_q(sp, t);
    if (q != NONE) {
      let m = inside(q, sp);
      let a = ga_a[q];
      c4 += select(vec4f(0.0), a * ga_v[q], m);
      e4 += select(vec4f(0.0), a * ga_g[q], m);
    }
  }
  let c = vec4f(hsum(c4));
  let ge = vec4f(hsum(e4));
  for (var q = sp.full0; q < sp.full1; q++) { let v = ga_v[q]; ga_out[q] = ga_g[q] * (v - c) - v * ge; }
  for (var t = 0u; t < 2u; t++) {
    let q = edge_q(sp, t);
    if (q != NONE) {
      let v = ga_v[q];
      let o = ga_g[q] * (v - c) - v * ge;
      let m = inside(q, sp);
      if (m.x) { ga_out[q].x = o.x; }
      if (m.y) { ga_out[q].y = o.y; }
      if (m.z) { ga_out[q].z = o.z; }
      if (m.w) { ga_out[q].w = o.w; }
    }
  }
}

// ---------------------------------------------------------------- attention-variation loss
@group(0) @binding(1) var<storage, read> la: array<vec4f>;
@group(0) @binding(2) var<storage, read> lref: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> lrow: array<f32>;

// Per row: Σ (A − Aref)². The op sums the rows of each batch entry afterwards.
@compute @workgroup_size(WG)
fn amv_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let sp = span_of(row);
  var s4 = vec4f(0.0);
  for (var q = sp.full0; q < sp.full1; q++) { let t = la[q] - lref[q]; s4 += t * t; }
  for (var t = 0u; t < 2u; t++) {
    let q = edge_q(sp, t);
    if (q != NONE) { let u = select(vec4f(0.0), la[q] - lref[q], inside(q, sp)); s4 += u * u; }
  }
  lrow[row] = hsum(s4);
}

// The loss's gradient to the scores in one pass per row: G = 2(A − Aref) is formed on the fly,
// out = scale · A ∘ (G − rowsum(G ∘ A)), and the row's loss comes out of the first walk.
@group(0) @binding(1) var<storage, read> va: array<vec4f>;
@group(0) @binding(2) var<storage, read> vref: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> vds: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> vrow: array<f32>;

@compute @workgroup_size(WG)
fn amv_vjp(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let sp = span_of(row);
  var s4 = vec4f(0.0);
  var acc4 = vec4f(0.0);
  for (var q = sp.full0; q < sp.full1; q++) {
    let a = va[q];
    let u = a - vref[q];
    s4 += u * u;
    acc4 += a * u;
  }
  for (var t = 0u; t < 2u; t++) {
    let q = edge_q(sp, t);
    if (q != NONE) {
      // Both masked: a lane past the row may hold anything, NaN included (a pooled buffer's tail).
      let m = inside(q, sp);
      let a = select(vec4f(0.0), va[q], m);
      let u = a - select(vec4f(0.0), vref[q], m);
      s4 += u * u;
      acc4 += a * u;
    }
  }
  vrow[row] = hsum(s4);
  // rowsum(G ∘ A) = 2·acc; the factor 2 of G joins the scale.
  let acc = vec4f(hsum(acc4));
  let f = 2.0 * P.scale;
  for (var q = sp.full0; q < sp.full1; q++) { let a = va[q]; vds[q] = f * a * ((a - vref[q]) - acc); }
  for (var t = 0u; t < 2u; t++) {
    let q = edge_q(sp, t);
    if (q != NONE) {
      let a = va[q];
      let o = f * a * ((a - vref[q]) - acc);
      let m = inside(q, sp);
      if (m.x) { vds[q].x = o.x; }
      if (m.y) { vds[q].y = o.y; }
      if (m.z) { vds[q].z = o.z; }
      if (m.w) { vds[q].w = o.w; }
    }
  }
}

// gA = 2 (A − Aref) · gy[batch entry], elementwise over vec4s; gy holds one value per batch entry.
@group(0) @binding(1) var<storage, read> ba: array<vec4f>;
@group(0) @binding(2) var<storage, read> bref: array<vec4f>;
@group(0) @binding(3) var<storage, read> bgy: array<f32>;
@group(0) @binding(4) var<storage, read_write> bga: array<vec4f>;

@compute @workgroup_size(WG)
fn amv_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = flat_id(gid, nwg, WG);
  if (4u * q >= P.total) { return; }
  // Batch entry of each lane (lanes past the end read the last entry and are not stored).
  let z = min(vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u), vec4u(P.total - 1u)) / P.per;
  let g = vec4f(bgy[z.x], bgy[z.y], bgy[z.z], bgy[z.w]);
  let o = 2.0 * (ba[q] - bref[q]) * g;
  if (4u * q + 4u <= P.total) { bga[q] = o; } else {
    bga[q].x = o.x;
    if (4u * q + 1u < P.total) { bga[q].y = o.y; }
    if (4u * q + 2u < P.total) { bga[q].z = o.z; }
  }
}

// ---------------------------------------------------------------- fused attention shift
// The score shift is one product of packed operands: with X_i = [dQ_i, Q_i] and Y_j = [K_j, dK_j]
// (rows of length 2d, zero-padded to a multiple of 4), dS_ij = scale · X_i · Y_j. Packing keeps the
// shift kernel at 3 inputs (Q, K, dQ, dK and A are 5, past the compatibility budget of 4 storage
// buffers) and makes every operand load an aligned vec4 whatever d is. The op packs only where the
// adapter allows fewer than 6 storage buffers per stage or d is not a multiple of 4; otherwise
// shift reads Q, K, dQ, dK in place (DIRECT).
@group(0) @binding(1) var<storage, read> pa: array<f32>;
@group(0) @binding(2) var<storage, read> pb: array<f32>;
@group(0) @binding(3) var<storage, read_write> pout: array<f32>;

// One invocation per packed element: out[r, 0:d] = a[r], out[r, d:2d] = b[r], zeros up to 4·p4.
@compute @workgroup_size(WG)
fn pack_pair(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_id(gid, nwg, WG);
  if (i >= P.total) { return; }
  let w = 4u * P.p4;
  let r = i / w;
  let k = i - r * w;
  let d = P.per;
  var v = 0.0;
  if (k < d) { v = pa[r * d + k]; } else if (k < 2u * d) { v = pb[r * d + k - d]; }
  pout[i] = v;
}

// Packed operands (4 storage buffers): X_i = [dQ_i, Q_i] and Y_j = [K_j, dK_j], P.p4 vec4s a row.
@group(0) @binding(1) var<storage, read> sx: array<vec4f>;
@group(0) @binding(2) var<storage, read> sy: array<vec4f>;
@group(0) @binding(3) var<storage, read> sa: array<f32>;
@group(0) @binding(4) var<storage, read_write> so: array<f32>;
// Direct operands (DIRECT, 6 storage buffers, d a multiple of 4): Q, K, A, out, dQ, dK read in place
// as vec4s, P.p4 = d/4 of them a row. This saves the two packing dispatches (a third of the shift's
// time at N = 65 on llvmpipe). A and out keep the packed kernel's bindings.
@group(0) @binding(1) var<storage, read> dq_q: array<vec4f>;
@group(0) @binding(2) var<storage, read> dq_k: array<vec4f>;
@group(0) @binding(5) var<storage, read> dq_dq: array<vec4f>;
@group(0) @binding(6) var<storage, read> dq_dk: array<vec4f>;

// The op removes the branch DIRECT does not take before compiling (src/engine/wgsl.ts
// specializeBranches), so each variant binds only its own buffers.
override DIRECT: bool = false;

// Work split: a workgroup serves one batch entry (workgroup_id.y/z) and SWG·TR query rows of it;
// each invocation owns TR query rows and walks the keys KC = 4·TC4 at a time. For each key block it
// forms the TR × KC block of dS by register blocking, as the matmul does: on the software adapters a
// storage load is a loop over the SIMD lanes while a multiply-add covers them all, so per vec4 step
// of the head dimension TR + KC loads (twice that when DIRECT) feed 4·TR·KC multiply-adds (docs/design.md).
// It then multiplies the block by A, adds into the row sums, and stores A ∘ dS into the output rows,
// which it alone owns. A second walk turns them into dA = A ∘ dS − A · rowsum(A ∘ dS), reading back
// its own stores (same invocation: no barrier). Recomputing dS in the second walk instead would cost
// another 2d multiply-adds per element (128 at d = 64) against this one load and store; a whole row
// of dS does not fit in registers at N = 197. Rows past N (in the last block) and keys past M repeat
// the last one and store nothing. The private arrays are split into variables by the op
// (scalarizeArrays): SwiftShader keeps arrays in memory even with constant indices.
@compute @workgroup_size(SWG)
fn shift(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let bh = wid.y + wid.z * nwg.y;
  let N = P.n;
  let M = P.m;
  let kn = P.p4;
  let row0 = (wid.x * SWG + lid.x) * TR;
  if (bh >= P.rows || row0 >= N) { return; }
  var xb: array<u32, TR>;
  for (var r0 = 0u; r0 < TR; r0++) { // unroll
    xb[r0] = (bh * N + min(row0 + r0, N - 1u)) * kn;
  }
  let ybase = bh * M;
  let obase = (bh * N + row0) * M;
  // Zeroed explicitly: SwiftShader does not re-zero a `var` declared inside a loop on each
  // iteration (measured: the key blocks' sums ran on from one block to the next).
  var acc: array<f32, TR>;
  for (var r7 = 0u; r7 < TR; r7++) { // unroll
    acc[r7] = 0.0;
  }
  for (var j0 = 0u; j0 < M; j0 += KC) {
    var yb: array<u32, KC>;
    for (var c0 = 0u; c0 < KC; c0++) { // unroll
      yb[c0] = (ybase + min(j0 + c0, M - 1u)) * kn;
    }
    var blk: array<array<vec4f, TC4>, TR>;
    for (var r8 = 0u; r8 < TR; r8++) { // unroll
      for (var c8 = 0u; c8 < TC4; c8++) { // unroll
        blk[r8][c8] = vec4f(0.0);
      }
    }
    for (var k = 0u; k < kn; k++) {
      if (DIRECT) {
        var xd: array<vec4f, TR>;
        var xq: array<vec4f, TR>;
        for (var r1 = 0u; r1 < TR; r1++) { // unroll
          xd[r1] = dq_dq[xb[r1] + k];
          xq[r1] = dq_q[xb[r1] + k];
        }
        for (var c1 = 0u; c1 < TC4; c1++) { // unroll
          // Columns are 4 keys' vec4s: x * m = (x·y0, x·y1, x·y2, x·y3).
          let km = mat4x4f(dq_k[yb[4u * c1] + k], dq_k[yb[4u * c1 + 1u] + k], dq_k[yb[4u * c1 + 2u] + k], dq_k[yb[4u * c1 + 3u] + k]);
          let dkm = mat4x4f(dq_dk[yb[4u * c1] + k], dq_dk[yb[4u * c1 + 1u] + k], dq_dk[yb[4u * c1 + 2u] + k], dq_dk[yb[4u * c1 + 3u] + k]);
          for (var r2 = 0u; r2 < TR; r2++) { // unroll
            blk[r2][c1] += xd[r2] * km + xq[r2] * dkm;
          }
        }
      } else {
        var xv: array<vec4f, TR>;
        for (var r3 = 0u; r3 < TR; r3++) { // unroll
          xv[r3] = sx[xb[r3] + k];
        }
        for (var c3 = 0u; c3 < TC4; c3++) { // unroll
          let ym = mat4x4f(sy[yb[4u * c3] + k], sy[yb[4u * c3 + 1u] + k], sy[yb[4u * c3 + 2u] + k], sy[yb[4u * c3 + 3u] + k]);
          for (var r4 = 0u; r4 < TR; r4++) { // unroll
            blk[r4][c3] += xv[r4] * ym;
          }
        }
      }
    }
    for (var r5 = 0u; r5 < TR; r5++) { // unroll
      if (row0 + r5 < N) {
        let o = obase + r5 * M + j0;
        for (var c5 = 0u; c5 < TC4; c5++) { // unroll
          for (var q5 = 0u; q5 < 4u; q5++) { // unroll
            if (j0 + 4u * c5 + q5 < M) {
              let w = sa[o + 4u * c5 + q5] * (blk[r5][c5][q5] * P.scale);
              acc[r5] += w;
              so[o + 4u * c5 + q5] = w;
            }
          }
        }
      }
    }
  }
  for (var r6 = 0u; r6 < TR; r6++) { // unroll
    if (row0 + r6 < N) {
      let o = obase + r6 * M;
      let cr = acc[r6];
      for (var j = o; j < o + M; j++) { so[j] = so[j] - sa[j] * cr; }
    }
  }
}
