// Layer normalization over the last axis (PyTorch semantics: biased variance, eps inside the root),
// forward and backward. One invocation per row for the forward and for dx (a loop per row beats
// workgroup reductions on the software adapters, docs/design.md); dgamma/dbeta are column sums over
// rows, one invocation per (chunk of rows, column), finished by a sum over chunks.
//
// Every entry point binds at most 4 storage buffers (the compatibility-mode limit): the forward
// x, gamma, beta, y; dx x, gamma, gy, dx (it rebuilds each row's mean and rstd in its first pass,
// no extra load); the dgamma/dbeta sums read (mean, rstd) per row that `layernorm_stats` writes
// only when parameter gradients are wanted. An absent gamma or beta is bound to another buffer
// and never read (HAS_GAMMA / HAS_BETA). The `*4` entry points serve rows whose length is a
// multiple of 4 with vec4 loads of x, gamma and beta (read at the same address by every
// invocation of a step).

struct Params { rows: u32, d: u32, eps: f32, chunk: u32, chunks: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> P: Params;

override WG: u32 = 64u;
// Whether gamma / beta are present (else 1 / 0): constants, so the absent ones cost nothing.
override HAS_GAMMA: bool = true;
override HAS_BETA: bool = true;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> gamma4v: array<vec4f>;
// Read by the forward only (dx does not need beta).
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read> beta4v: array<vec4f>;

fn gamma_at(c: u32) -> f32 { if (HAS_GAMMA) { return gamma[c]; } return 1.0; }
fn beta_at(c: u32) -> f32 { if (HAS_BETA) { return beta[c]; } return 0.0; }
fn gamma4(q: u32) -> vec4f { if (HAS_GAMMA) { return gamma4v[q]; } return vec4f(1.0); }
fn beta4(q: u32) -> vec4f { if (HAS_BETA) { return beta4v[q]; } return vec4f(0.0); }

// Mean and 1/sqrt(var + eps) from the sums of t = x − k and t², shifted by a value k of the row:
// one read pass, and the shift keeps the cancellation in E[t²] − E[t]² small.
fn row_stats(k: f32, s1: f32, s2: f32) -> vec2f {
  let n = f32(P.d);
  let mt = s1 / n;
  let v = max(s2 / n - mt * mt, 0.0);
  return vec2f(k + mt, 1.0 / sqrt(v + P.eps));
}

// (mean, rstd) of the row starting at x[b], in one pass of scalar loads.
fn stats_of_row(b: u32) -> vec2f {
  let k = x[b];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var c = 0u; c < P.d; c++) { let t = x[b + c] - k; s1 += t; s2 += t * t; }
  return row_stats(k, s1, s2);
}

// ---------------------------------------------------------------- forward
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> y4: array<vec4f>;

@compute @workgroup_size(WG)
fn layernorm_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let b = row * P.d;
  let st = stats_of_row(b);
  for (var c = 0u; c < P.d; c++) { y[b + c] = (x[b + c] - st.x) * st.y * gamma_at(c) + beta_at(c); }
}

// A vec4 row's sums and writes over its vec4s q0, q0 + dq, ...: all of them for one invocation per
// row (0, 1), a lane's share for one workgroup per row (lid, RW: layernorm_subgroup.wgsl).
fn fwd4_sums(b: u32, k: f32, q0: u32, dq: u32) -> vec2f {
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var q = q0; q < P.d / 4u; q += dq) { let t = x4[b + q] - k; s1 += t; s2 += t * t; }
  return vec2f(hsum(s1), hsum(s2));
}
fn fwd4_write(b: u32, st: vec2f, q0: u32, dq: u32) {
  for (var q = q0; q < P.d / 4u; q += dq) { y4[b + q] = (x4[b + q] - st.x) * st.y * gamma4(q) + beta4(q); }
}

@compute @workgroup_size(WG)
fn layernorm_fwd4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let b = row * (P.d / 4u);
  let k = x4[b].x;
  let s = fwd4_sums(b, k, 0u, 1u);
  fwd4_write(b, row_stats(k, s.x, s.y), 0u, 1u);
}

// ---------------------------------------------------------------- row statistics
// (mean, rstd) per row, as the forward computes them, for the dgamma/dbeta sums.
@group(0) @binding(2) var<storage, read_write> stats: array<vec2f>;

@compute @workgroup_size(WG)
fn layernorm_stats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  stats[row] = stats_of_row(row * P.d);
}

// ---------------------------------------------------------------- backward: dx
// xh = (x − mean)·rstd, g = gy·gamma: dx = rstd · (g − mean(g) − xh · mean(g·xh)). The first pass
// also rebuilds mean and rstd as the forward did: Σ g·(x − mean) = Σ g·t − (mean − k)·Σ g.
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<storage, read> gy4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dx4: array<vec4f>;
// With the `acc` lines (the op drops them otherwise): a gradient already accumulated for x (a
// residual's), added to dx in the same pass instead of by an add of its own.
@group(0) @binding(5) var<storage, read> acc: array<f32>; // acc
@group(0) @binding(5) var<storage, read> acc4: array<vec4f>; // acc

@compute @workgroup_size(WG)
fn layernorm_dx(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let b = row * P.d;
  let k = x[b];
  var s1 = 0.0;
  var s2 = 0.0;
  var sg = 0.0;
  var sgt = 0.0;
  for (var c = 0u; c < P.d; c++) {
    let t = x[b + c] - k;
    let g = gy[b + c] * gamma_at(c);
    s1 += t; s2 += t * t; sg += g; sgt += g * t;
  }
  let st = row_stats(k, s1, s2);
  let n = f32(P.d);
  let mg = sg / n;
  let mgx = (sgt - (st.x - k) * sg) * st.y / n;
  for (var c = 0u; c < P.d; c++) {
    let xh = (x[b + c] - st.x) * st.y;
    var v = st.y * (gy[b + c] * gamma_at(c) - mg - xh * mgx);
    v += acc[b + c]; // acc
    dx[b + c] = v;
  }
}

// Σ t, Σ t², Σ g, Σ g·t over a vec4 row's vec4s q0, q0 + dq, ... (t = x − k, g = gy·gamma), and
// the dx that follows from the row's totals.
fn dx4_sums(b: u32, k: f32, q0: u32, dq: u32) -> vec4f {
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  var sg = vec4f(0.0);
  var sgt = vec4f(0.0);
  for (var q = q0; q < P.d / 4u; q += dq) {
    let t = x4[b + q] - k;
    let g = gy4[b + q] * gamma4(q);
    s1 += t; s2 += t * t; sg += g; sgt += g * t;
  }
  return vec4f(hsum(s1), hsum(s2), hsum(sg), hsum(sgt));
}
fn dx4_write(b: u32, k: f32, s: vec4f, q0: u32, dq: u32) {
  let st = row_stats(k, s.x, s.y);
  let n = f32(P.d);
  let mg = s.z / n;
  let mgx = (s.w - (st.x - k) * s.z) * st.y / n;
  for (var q = q0; q < P.d / 4u; q += dq) {
    let xh = (x4[b + q] - st.x) * st.y;
    var v = st.y * (gy4[b + q] * gamma4(q) - mg - xh * mgx);
    v += acc4[b + q]; // acc
    dx4[b + q] = v;
  }
}

@compute @workgroup_size(WG)
fn layernorm_dx4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let b = row * (P.d / 4u);
  let k = x4[b].x;
  dx4_write(b, k, dx4_sums(b, k, 0u, 1u), 0u, 1u);
}

// ---------------------------------------------------------------- backward: dgamma, dbeta
// Partial column sums over a chunk of rows: part[chunk] = [Σ gy·xh (d) | Σ gy (d)], from the
// (mean, rstd) per row of layernorm_stats (the same for every invocation of a chunk: one load).
@group(0) @binding(2) var<storage, read> bstats: array<vec2f>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<storage, read_write> part4: array<vec4f>;

@compute @workgroup_size(WG)
fn layernorm_dgb(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = flat_id(gid, nwg, WG);
  if (o >= P.chunks * P.d) { return; }
  let c = o % P.d;
  let chunk = o / P.d;
  let r0 = chunk * P.chunk;
  let r1 = min(P.rows, r0 + P.chunk);
  var dg = 0.0;
  var db = 0.0;
  for (var r = r0; r < r1; r++) {
    let st = bstats[r];
    let g = gy[r * P.d + c];
    dg += g * (x[r * P.d + c] - st.x) * st.y;
    db += g;
  }
  part[chunk * 2u * P.d + c] = dg;
  part[chunk * 2u * P.d + P.d + c] = db;
}

@compute @workgroup_size(WG)
fn layernorm_dgb4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d4 = P.d / 4u;
  let o = flat_id(gid, nwg, WG);
  if (o >= P.chunks * d4) { return; }
  let q = o % d4;
  let chunk = o / d4;
  let r0 = chunk * P.chunk;
  let r1 = min(P.rows, r0 + P.chunk);
  var dg = vec4f(0.0);
  var db = vec4f(0.0);
  for (var r = r0; r < r1; r++) {
    let st = bstats[r];
    let g = gy4[r * d4 + q];
    dg += g * (x4[r * d4 + q] - st.x) * st.y;
    db += g;
  }
  part4[chunk * 2u * d4 + q] = dg;
  part4[chunk * 2u * d4 + d4 + q] = db;
}
