// Masked multi-head attention, forward and backward (the FlashAttention-2 recipe), for Q [B, H, Nq, d],
// K and V [B, H, Nk, d] (d = 4·D4), an optional key mask [B, Nk] and an optional additive bias
// broadcast to [B, H, Nq, Nk].
//
// Work split: each invocation owns one chunk of R consecutive query rows of one (batch, head) pair
// (in the dK/dV kernel: R key rows), keeps them in private memory and walks all rows of the other
// side KB at a time, with online softmax in the forward. Invocation g serves pair g / C and chunk
// g % C (C = ⌈N / R⌉ chunks per pair), so neighbouring SIMD lanes usually work on different pairs.
// No workgroup memory and no barriers: on the software adapters an invocation is one SIMD lane and
// barriers cost more than they share (docs/design.md). What costs there is loading: llvmpipe reads
// storage one lane and one 32-bit word at a time, whatever the address pattern, so the time goes
// with the number of chunks that each read all of K and V, and R is made as large as private
// memory allows. Rows are read as vec4s (fewer address computations and bounds checks).
//
// D4, R and KB are substituted into the source before compilation (private arrays need constant
// sizes), and the loops over R and KB (and, per adapter, over D4) are unrolled there (`// unroll`):
// constant indices keep the private arrays out of per-lane gathers.
//
// Masking: a masked key (mask 0) or a score of -inf (through the bias) gets probability exactly 0.
// A query row with no key left has l = 0: its output is written as zeros and its lse as -inf, and
// the backward gives it no gradient. -inf cannot be a WGSL constant: it comes in the uniform.

const D4: u32 = 16u;
const R: u32 = 4u;
const KB: u32 = 4u;

override WG: u32 = 8u;
override HAS_MASK: bool = false;
override MASK_I32: bool = false;
override HAS_BIAS: bool = false;
// dQ kernel: also write dS = P ∘ (dP − Dᵢ) (the bias gradient before its broadcast is undone).
override WRITE_DS: bool = false;
// dK/dV kernel: dV goes into dK's buffer (the packed dQKV) at v_off rather than into its own.
override DV_IN_DK: bool = false;

// Below every finite score that can occur, so exp(m − m_new) never overflows and a masked score
// (-inf) never leaves the running max at -inf (exp(-inf − -inf) would be NaN).
const M_INIT: f32 = -3.0e38;

// exp for arguments <= 0 (scores minus a running max or the lse), exactly 0 below -87 (where the
// true value, < 1.7e-38, is below f32's normal range anyway). SwiftShader's exp returns garbage for
// huge negative arguments such as M_INIT or -inf, so its argument is clamped first.
fn exp_neg(x: f32) -> f32 { return select(0.0, exp(max(x, -87.0)), x >= -87.0); }

struct Params {
  B: u32, H: u32, nq: u32, nk: u32,
  scale: f32, neg_inf: f32, mask_off: u32, bias_off: u32,
  // Element strides of the bias over b and h (0 where it broadcasts).
  bias_sb: u32, bias_sh: u32,
  // Row chunks per (b, h) pair.
  chunks: u32, p1: u32,
  // Layouts, in vec4s: where Q, K and V start in their buffers (0, or their parts of one packed
  // tensor bound three times as read-only aliases), and the strides over b, h and the row of Q
  // (and dQ), of K and V (and dK, dV), and of O and dO. Contiguous [B, H, N, d] tensors have
  // strides (H·N·d/4, N·d/4, d/4); the packed [B, N, 3, H, d] projection (3·N·H·d/4, d/4, 3·H·d/4)
  // with parts H·d/4 apart, and O in [B, N, H, d] (N·H·d/4, d/4, H·d/4), so no permute is needed
  // on either side. lse and the backward's per-row statistics stay [B, H, N].
  q_off: u32, k_off: u32, v_off: u32, p2: u32,
  q_sb: u32, q_sh: u32, q_sn: u32, p3: u32,
  k_sb: u32, k_sh: u32, k_sn: u32, p4: u32,
  o_sb: u32, o_sh: u32, o_sn: u32, p5: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

// Mask and bias share one read-only buffer (`aux`, at mask_off and bias_off), which keeps every
// entry point within 8 storage buffers (the core-mode default limit).
fn key_masked(b: u32, j: u32) -> bool {
  if (!HAS_MASK) { return false; }
  let w = aux[P.mask_off + b * P.nk + j];
  if (MASK_I32) { return bitcast<u32>(w) == 0u; }
  return w == 0.0;
}

fn bias_base(b: u32, h: u32) -> u32 { return P.bias_off + b * P.bias_sb + h * P.bias_sh; }

struct Slot { bh: u32, b: u32, h: u32, row0: u32, ok: bool }
fn q_base(b: u32, h: u32) -> u32 { return P.q_off + b * P.q_sb + h * P.q_sh; }
fn k_base(b: u32, h: u32) -> u32 { return b * P.k_sb + h * P.k_sh; }
fn o_base(b: u32, h: u32) -> u32 { return b * P.o_sb + h * P.o_sh; }
fn slot_of(gid: vec3u, nwg: vec3u) -> Slot {
  var s: Slot;
  let g = gid.x + gid.y * nwg.x * WG;
  s.bh = g / P.chunks;
  s.row0 = (g % P.chunks) * R;
  s.ok = s.bh < P.B * P.H;
  s.b = s.bh / P.H;
  s.h = s.bh % P.H;
  return s;
}

@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;

// ---------------------------------------------------------------- forward
@group(0) @binding(5) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(WG)
fn attn_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let sl = slot_of(gid, nwg);
  if (!sl.ok) { return; }
  let row0 = sl.row0;
  let qb = q_base(sl.b, sl.h);
  let kb = k_base(sl.b, sl.h);
  let bb = bias_base(sl.b, sl.h);
  var qr: array<array<vec4f, D4>, R>;
  var acc: array<array<vec4f, D4>, R>;
  var m: array<f32, R>;
  var l: array<f32, R>;
  var rows: array<u32, R>;
  for (var r = 0u; r < R; r++) { // unroll
    // Rows past the end repeat the last row (same work, no write).
    rows[r] = min(row0 + r, P.nq - 1u);
    for (var c = 0u; c < D4; c++) { // d-loop
      qr[r][c] = q[qb + rows[r] * P.q_sn + c] * P.scale;
    }
    m[r] = M_INIT;
  }
  for (var j0 = 0u; j0 < P.nk; j0 += KB) {
    // Explicitly zeroed: SwiftShader does not re-zero a variable declared inside a loop.
    var s: array<array<f32, KB>, R>;
    for (var r = 0u; r < R; r++) { // unroll
      for (var t = 0u; t < KB; t++) { // unroll
        s[r][t] = 0.0;
      }
    }
    var kr: array<u32, KB>;
    for (var t = 0u; t < KB; t++) { // unroll
      kr[t] = kb + min(j0 + t, P.nk - 1u) * P.k_sn;
    }
    for (var c = 0u; c < D4; c++) { // d-loop
      for (var t = 0u; t < KB; t++) { // unroll
        let kv = k[P.k_off + kr[t] + c];
        for (var r = 0u; r < R; r++) { // unroll
          s[r][t] += dot(qr[r][c], kv);
        }
      }
    }
    var p: array<array<f32, KB>, R>;
    for (var t = 0u; t < KB; t++) { // unroll
      let j = j0 + t;
      let dead = j >= P.nk || key_masked(sl.b, j);
      for (var r = 0u; r < R; r++) { // unroll
        var sv = s[r][t];
        if (HAS_BIAS) { sv += aux[bb + rows[r] * P.nk + min(j, P.nk - 1u)]; }
        p[r][t] = select(sv, P.neg_inf, dead);
      }
    }
    var alpha: array<f32, R>;
    for (var r = 0u; r < R; r++) { // unroll
      var mb = m[r];
      for (var t = 0u; t < KB; t++) { // unroll
        mb = max(mb, p[r][t]);
      }
      alpha[r] = exp_neg(m[r] - mb);
      var ps = 0.0;
      for (var t = 0u; t < KB; t++) { // unroll
        p[r][t] = exp_neg(p[r][t] - mb);
        ps += p[r][t];
      }
      l[r] = l[r] * alpha[r] + ps;
      m[r] = mb;
    }
    var a: array<vec4f, R>;
    for (var c = 0u; c < D4; c++) { // d-loop
      for (var r = 0u; r < R; r++) { // unroll
        a[r] = acc[r][c] * alpha[r];
      }
      for (var t = 0u; t < KB; t++) { // unroll
        let vv = v[P.v_off + kr[t] + c];
        for (var r = 0u; r < R; r++) { // unroll
          a[r] = fma(vec4f(p[r][t]), vv, a[r]);
        }
      }
      for (var r = 0u; r < R; r++) { // unroll
        acc[r][c] = a[r];
      }
    }
  }
  for (var r = 0u; r < R; r++) { // unroll
    let i = row0 + r;
    if (i < P.nq) {
      let row = sl.bh * P.nq + i;
      let no_keys = l[r] == 0.0;
      let inv = select(1.0 / l[r], 0.0, no_keys);
      let orow = o_base(sl.b, sl.h) + i * P.o_sn;
      for (var c = 0u; c < D4; c++) { // d-loop
        out[orow + c] = acc[r][c] * inv;
      }
      lse[row] = select(m[r] + log(l[r]), P.neg_inf, no_keys);
    }
  }
}

// ---------------------------------------------------------------- probabilities (optional)
// A = exp(S − lse), recomputed from the saved lse once it is known.
@group(0) @binding(3) var<storage, read> p_lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(WG)
fn attn_probs(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let sl = slot_of(gid, nwg);
  if (!sl.ok) { return; }
  let row0 = sl.row0;
  let qb = q_base(sl.b, sl.h);
  let kb = k_base(sl.b, sl.h);
  let bb = bias_base(sl.b, sl.h);
  var qr: array<array<vec4f, D4>, R>;
  var rows: array<u32, R>;
  var ls: array<f32, R>;
  for (var r = 0u; r < R; r++) { // unroll
    rows[r] = min(row0 + r, P.nq - 1u);
    for (var c = 0u; c < D4; c++) { // d-loop
      qr[r][c] = q[qb + rows[r] * P.q_sn + c] * P.scale;
    }
    ls[r] = p_lse[sl.bh * P.nq + rows[r]];
  }
  for (var j0 = 0u; j0 < P.nk; j0 += KB) {
    // Explicitly zeroed: SwiftShader does not re-zero a variable declared inside a loop.
    var s: array<array<f32, KB>, R>;
    for (var r = 0u; r < R; r++) { // unroll
      for (var t = 0u; t < KB; t++) { // unroll
        s[r][t] = 0.0;
      }
    }
    var kr: array<u32, KB>;
    for (var t = 0u; t < KB; t++) { // unroll
      kr[t] = kb + min(j0 + t, P.nk - 1u) * P.k_sn;
    }
    for (var c = 0u; c < D4; c++) { // d-loop
      for (var t = 0u; t < KB; t++) { // unroll
        let kv = k[P.k_off + kr[t] + c];
        for (var r = 0u; r < R; r++) { // unroll
          s[r][t] += dot(qr[r][c], kv);
        }
      }
    }
    for (var t = 0u; t < KB; t++) { // unroll
      let j = j0 + t;
      if (j < P.nk) {
        let dead = key_masked(sl.b, j);
        for (var r = 0u; r < R; r++) { // unroll
          var sv = s[r][t];
          if (HAS_BIAS) { sv += aux[bb + rows[r] * P.nk + j]; }
          // lse = -inf: the row attends to nothing (and exp(sv − lse) would be +inf or NaN).
          let pv = select(exp_neg(sv - ls[r]), 0.0, dead || ls[r] == P.neg_inf);
          if (row0 + r < P.nq) { probs[(sl.bh * P.nq + row0 + r) * P.nk + j] = pv; }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- backward pre-pass
// stats[row] = (lse, Dᵢ = Σ_c dO ∘ O): the two per-row numbers both backward kernels need, in one
// buffer so that they stay within 8 storage buffers.
@group(0) @binding(1) var<storage, read> pre_o: array<vec4f>;
@group(0) @binding(2) var<storage, read> pre_do: array<vec4f>;
@group(0) @binding(3) var<storage, read> pre_lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> pre_stats: array<vec2f>;

@compute @workgroup_size(64)
fn attn_bwd_pre(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= P.B * P.H * P.nq) { return; }
  let bh = row / P.nq;
  let orow = o_base(bh / P.H, bh % P.H) + (row % P.nq) * P.o_sn;
  var acc = vec4f(0.0);
  for (var c = 0u; c < D4; c++) { acc = fma(pre_o[orow + c], pre_do[orow + c], acc); }
  pre_stats[row] = vec2f(pre_lse[row], (acc.x + acc.y) + (acc.z + acc.w));
}

// ---------------------------------------------------------------- backward: dQ (and dS)
// Per query row i: Pᵢⱼ = exp(Sᵢⱼ − lseᵢ), dPᵢⱼ = dOᵢ·Vⱼ, dSᵢⱼ = Pᵢⱼ (dPᵢⱼ − Dᵢ), dQᵢ = scale · Σⱼ dSᵢⱼ Kⱼ.
// The block's K rows stay in private memory between the two passes, so each is loaded once.
@group(0) @binding(5) var<storage, read> g_do: array<vec4f>;
@group(0) @binding(6) var<storage, read> g_stats: array<vec2f>;
@group(0) @binding(7) var<storage, read_write> g_dq: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> g_ds: array<f32>;

@compute @workgroup_size(WG)
fn attn_bwd_dq(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let sl = slot_of(gid, nwg);
  if (!sl.ok) { return; }
  let row0 = sl.row0;
  let qb = q_base(sl.b, sl.h);
  let kb = k_base(sl.b, sl.h);
  let bb = bias_base(sl.b, sl.h);
  var qr: array<array<vec4f, D4>, R>;
  var dor: array<array<vec4f, D4>, R>;
  var acc: array<array<vec4f, D4>, R>;
  var kblk: array<array<vec4f, D4>, KB>;
  var rows: array<u32, R>;
  var ls: array<f32, R>;
  var dd: array<f32, R>;
  var live: array<bool, R>;
  for (var r = 0u; r < R; r++) { // unroll
    rows[r] = min(row0 + r, P.nq - 1u);
    for (var c = 0u; c < D4; c++) { // d-loop
      qr[r][c] = q[qb + rows[r] * P.q_sn + c] * P.scale;
      dor[r][c] = g_do[o_base(sl.b, sl.h) + rows[r] * P.o_sn + c];
    }
    let st = g_stats[sl.bh * P.nq + rows[r]];
    ls[r] = st.x;
    dd[r] = st.y;
    live[r] = st.x != P.neg_inf;
  }
  for (var j0 = 0u; j0 < P.nk; j0 += KB) {
    // Explicitly zeroed: SwiftShader does not re-zero a variable declared inside a loop.
    var s: array<array<f32, KB>, R>;
    var dp: array<array<f32, KB>, R>;
    for (var r = 0u; r < R; r++) { // unroll
      for (var t = 0u; t < KB; t++) { // unroll
        s[r][t] = 0.0;
        dp[r][t] = 0.0;
      }
    }
    var kr: array<u32, KB>;
    for (var t = 0u; t < KB; t++) { // unroll
      kr[t] = kb + min(j0 + t, P.nk - 1u) * P.k_sn;
    }
    for (var c = 0u; c < D4; c++) { // d-loop
      for (var t = 0u; t < KB; t++) { // unroll
        let kv = k[P.k_off + kr[t] + c];
        let vv = v[P.v_off + kr[t] + c];
        kblk[t][c] = kv;
        for (var r = 0u; r < R; r++) { // unroll
          s[r][t] += dot(qr[r][c], kv);
          dp[r][t] += dot(dor[r][c], vv);
        }
      }
    }
    for (var t = 0u; t < KB; t++) { // unroll
      let j = j0 + t;
      let dead = j >= P.nk || key_masked(sl.b, j);
      for (var r = 0u; r < R; r++) { // unroll
        var sv = s[r][t];
        if (HAS_BIAS) { sv += aux[bb + rows[r] * P.nk + min(j, P.nk - 1u)]; }
        let pv = select(exp_neg(sv - ls[r]), 0.0, dead || !live[r]);
        // s now holds dS.
        s[r][t] = pv * (dp[r][t] - dd[r]);
        if (WRITE_DS && j < P.nk && row0 + r < P.nq) { g_ds[(sl.bh * P.nq + row0 + r) * P.nk + j] = s[r][t]; }
      }
    }
    var a: array<vec4f, R>;
    for (var c = 0u; c < D4; c++) { // d-loop
      for (var r = 0u; r < R; r++) { // unroll
        a[r] = acc[r][c];
      }
      for (var t = 0u; t < KB; t++) { // unroll
        let kv = kblk[t][c];
        for (var r = 0u; r < R; r++) { // unroll
          a[r] = fma(vec4f(s[r][t]), kv, a[r]);
        }
      }
      for (var r = 0u; r < R; r++) { // unroll
        acc[r][c] = a[r];
      }
    }
  }
  for (var r = 0u; r < R; r++) { // unroll
    if (row0 + r < P.nq) {
      let qrow = qb + (row0 + r) * P.q_sn;
      for (var c = 0u; c < D4; c++) { // d-loop
        g_dq[qrow + c] = acc[r][c] * P.scale;
      }
    }
  }
}

// ---------------------------------------------------------------- backward: dK and dV
// Per key row j (a loop over the queries i, no atomics): dVⱼ = Σᵢ Pᵢⱼ dOᵢ, dKⱼ = scale · Σᵢ dSᵢⱼ Qᵢ.
// The block's Q and dO rows stay in private memory between the two passes.
//
// Optionally (the lines marked `// dqp`, removed by the op otherwise) it also writes this chunk's
// share of dQ: dqp[chunk, i] = scale · Σ_{j in chunk} dSᵢⱼ Kⱼ, which the op sums over the ⌈Nk/R⌉
// chunks. dS is already in registers here, so dQ costs R·d multiply-adds per query instead of a
// second kernel that recomputes S and dP (used where chunks are few: the software adapters).
@group(0) @binding(7) var<storage, read_write> g_dk: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> g_dv: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> g_dqp: array<vec4f>; // dqp

@compute @workgroup_size(WG)
fn attn_bwd_dkv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let sl = slot_of(gid, nwg);
  if (!sl.ok) { return; }
  let key0 = sl.row0;
  let qb = q_base(sl.b, sl.h);
  let kb = k_base(sl.b, sl.h);
  let bb = bias_base(sl.b, sl.h);
  var kr: array<array<vec4f, D4>, R>;
  var vr: array<array<vec4f, D4>, R>;
  var dk: array<array<vec4f, D4>, R>;
  var dv: array<array<vec4f, D4>, R>;
  var qblk: array<array<vec4f, D4>, KB>;
  var oblk: array<array<vec4f, D4>, KB>;
  var keys: array<u32, R>;
  var kdead: array<bool, R>;
  for (var r = 0u; r < R; r++) { // unroll
    keys[r] = min(key0 + r, P.nk - 1u);
    for (var c = 0u; c < D4; c++) { // d-loop
      kr[r][c] = k[P.k_off + kb + keys[r] * P.k_sn + c] * P.scale;
      vr[r][c] = v[P.v_off + kb + keys[r] * P.k_sn + c];
    }
    kdead[r] = key_masked(sl.b, keys[r]);
  }
  for (var i0 = 0u; i0 < P.nq; i0 += KB) {
    // Explicitly zeroed: SwiftShader does not re-zero a variable declared inside a loop.
    var s: array<array<f32, KB>, R>;
    var dp: array<array<f32, KB>, R>;
    for (var r = 0u; r < R; r++) { // unroll
      for (var t = 0u; t < KB; t++) { // unroll
        s[r][t] = 0.0;
        dp[r][t] = 0.0;
      }
    }
    var qi: array<u32, KB>;
    var oi: array<u32, KB>;
    for (var t = 0u; t < KB; t++) { // unroll
      qi[t] = qb + min(i0 + t, P.nq - 1u) * P.q_sn;
      oi[t] = o_base(sl.b, sl.h) + min(i0 + t, P.nq - 1u) * P.o_sn;
    }
    for (var c = 0u; c < D4; c++) { // d-loop
      for (var t = 0u; t < KB; t++) { // unroll
        let qv = q[qi[t] + c];
        let ov = g_do[oi[t] + c];
        qblk[t][c] = qv;
        oblk[t][c] = ov;
        for (var r = 0u; r < R; r++) { // unroll
          s[r][t] += dot(kr[r][c], qv);
          dp[r][t] += dot(vr[r][c], ov);
        }
      }
    }
    // s becomes P and dp becomes dS.
    for (var t = 0u; t < KB; t++) { // unroll
      let i = min(i0 + t, P.nq - 1u);
      let st = g_stats[sl.bh * P.nq + i];
      let dead_row = i0 + t >= P.nq || st.x == P.neg_inf;
      for (var r = 0u; r < R; r++) { // unroll
        var sv = s[r][t];
        if (HAS_BIAS) { sv += aux[bb + i * P.nk + keys[r]]; }
        let pv = select(exp_neg(sv - st.x), 0.0, dead_row || kdead[r]);
        s[r][t] = pv;
        dp[r][t] = pv * (dp[r][t] - st.y);
      }
    }
    var a: array<vec4f, R>;
    var g: array<vec4f, R>;
    for (var c = 0u; c < D4; c++) { // d-loop
      for (var r = 0u; r < R; r++) { // unroll
        a[r] = dv[r][c];
        g[r] = dk[r][c];
      }
      for (var t = 0u; t < KB; t++) { // unroll
        let ov = oblk[t][c];
        let qv = qblk[t][c];
        for (var r = 0u; r < R; r++) { // unroll
          a[r] = fma(vec4f(s[r][t]), ov, a[r]);
          g[r] = fma(vec4f(dp[r][t]), qv, g[r]);
        }
      }
      for (var r = 0u; r < R; r++) { // unroll
        dv[r][c] = a[r];
        dk[r][c] = g[r];
      }
      for (var t = 0u; t < KB; t++) { // unroll, dqp
        var dq = vec4f(0.0); // dqp
        for (var r = 0u; r < R; r++) { // unroll, dqp
          // Rows past the last key repeat it (same work, no write): they must not count twice. // dqp
          dq = fma(vec4f(select(0.0, dp[r][t], key0 + r < P.nk)), kr[r][c], dq); // dqp
        } // dqp
        if (i0 + t < P.nq) { g_dqp[((sl.bh * P.chunks + key0 / R) * P.nq + i0 + t) * D4 + c] = dq; } // dqp
      } // dqp
    }
  }
  for (var r = 0u; r < R; r++) { // unroll
    if (key0 + r < P.nk) {
      let krow = kb + (key0 + r) * P.k_sn;
      for (var c = 0u; c < D4; c++) { // d-loop
        g_dk[P.k_off + krow + c] = dk[r][c] * P.scale;
        if (DV_IN_DK) { g_dk[P.v_off + krow + c] = dv[r][c]; } else { g_dv[krow + c] = dv[r][c]; }
      }
    }
  }
}

// ---------------------------------------------------------------- backward: dQ from its partial sums
// dq[bh, i] = Σ_c dqp[bh, c, i] over the dK/dV kernel's C key chunks, one vec4 per invocation. The
// generic reduction (one float per load, any axis) took 3.7 ms of a 14.9 ms forward + backward at
// B 32, H 3, N 65, d 64 on llvmpipe; with this kernel the whole takes 12.7 ms.
@group(0) @binding(1) var<storage, read> s_dqp: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> s_dq: array<vec4f>;

@compute @workgroup_size(64)
fn attn_dq_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * 64u;
  let per = P.nq * D4;
  if (o >= P.B * P.H * per) { return; }
  let base = (o / per) * P.chunks * per + o % per;
  var acc = s_dqp[base];
  for (var c = 1u; c < P.chunks; c++) { acc += s_dqp[base + c * per]; }
  let bh = o / per;
  s_dq[q_base(bh / P.H, bh % P.H) + ((o % per) / D4) * P.q_sn + o % D4] = acc;
}
