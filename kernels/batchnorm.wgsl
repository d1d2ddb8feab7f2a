// Training-mode batch normalization over axis 1 of x [N, C, S] (S = the product of the trailing
// dims), forward and backward, in three dispatches each:
//   partial sums per (channel, run of batch rows) → per-channel combine → elementwise apply.
// Each run of a channel is one invocation's loop (no workgroup reductions: barriers cost more than
// they share on the software adapters, docs/design.md); runs split the batch so that C·P invocations
// keep the lanes busy. Sums are taken of x − k with k the channel's first value, so that a large
// mean does not cancel the variance away in f32. At most 4 storage buffers per entry point
// (compatibility mode's default): gamma and beta come packed in `gb` [gamma (C) | beta (C)].
//
// Per-channel records, 8 floats each:
//   stats  (forward):  mean, inv = rsqrt(var + eps), scale = gamma·inv, beta, unbiased variance, -, -, -
//   bstats (backward): mean, inv, scale, a = Σgy / M, b = Σ(gy·x̂) / M, dbeta = Σgy, dgamma = Σ(gy·x̂), -
// with M = N·S values per channel and x̂ = (x − mean)·inv. Then y = (x − mean)·scale + beta (not
// x·scale + shift, which loses the digits of a large mean: 2e-4 off at values 1000 ± 0.5) and
// gx = scale·(gy − a − x̂·b).

struct Params { n: u32, c: u32, s: u32, parts: u32, eps: f32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> P: Params;

/** Batch rows [from, to) of run `part` of P.parts. */
fn run_of(part: u32) -> vec2u { return vec2u((part * P.n) / P.parts, ((part + 1u) * P.n) / P.parts); }

// ---------------------------------------------------------------- forward
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<vec2f>;

@compute @workgroup_size(64)
fn bn_partials(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= P.c * P.parts) { return; }
  let c = t / P.parts;
  let r = run_of(t % P.parts);
  let k = x[c * P.s];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var n = r.x; n < r.y; n++) {
    let base = (n * P.c + c) * P.s;
    for (var i = 0u; i < P.s; i++) {
      let d = x[base + i] - k;
      s1 += d;
      s2 += d * d;
    }
  }
  partials[t] = vec2f(s1, s2);
}

@group(0) @binding(1) var<storage, read> cb_partials: array<vec2f>;
@group(0) @binding(2) var<storage, read> cb_x: array<f32>;
@group(0) @binding(3) var<storage, read> cb_gb: array<f32>;
@group(0) @binding(4) var<storage, read_write> cb_stats: array<f32>;

@compute @workgroup_size(64)
fn bn_combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = linear(gid, nwg);
  if (c >= P.c) { return; }
  var s = vec2f(0.0);
  for (var p = 0u; p < P.parts; p++) { s += cb_partials[c * P.parts + p]; }
  let m = f32(P.n * P.s);
  let dm = s.x / m;
  let var_b = max(s.y / m - dm * dm, 0.0);
  let mean = cb_x[c * P.s] + dm;
  let inv = inverseSqrt(var_b + P.eps);
  let scale = cb_gb[c] * inv;
  let o = c * 8u;
  cb_stats[o] = mean;
  cb_stats[o + 1u] = inv;
  cb_stats[o + 2u] = scale;
  cb_stats[o + 3u] = cb_gb[P.c + c];
  cb_stats[o + 4u] = var_b * m / (m - 1.0);
}

@group(0) @binding(1) var<storage, read> ap_x: array<f32>;
@group(0) @binding(2) var<storage, read> ap_stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> ap_y: array<f32>;

@compute @workgroup_size(64)
fn bn_apply(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= P.n * P.c * P.s) { return; }
  let c = (t / P.s) % P.c;
  ap_y[t] = (ap_x[t] - ap_stats[c * 8u]) * ap_stats[c * 8u + 2u] + ap_stats[c * 8u + 3u];
}

// ---------------------------------------------------------------- backward
@group(0) @binding(1) var<storage, read> bp_x: array<f32>;
@group(0) @binding(2) var<storage, read> bp_gy: array<f32>;
@group(0) @binding(3) var<storage, read> bp_stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> bp_partials: array<vec2f>;

@compute @workgroup_size(64)
fn bn_bwd_partials(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= P.c * P.parts) { return; }
  let c = t / P.parts;
  let r = run_of(t % P.parts);
  let mean = bp_stats[c * 8u];
  let inv = bp_stats[c * 8u + 1u];
  var sg = 0.0;
  var sgx = 0.0;
  for (var n = r.x; n < r.y; n++) {
    let base = (n * P.c + c) * P.s;
    for (var i = 0u; i < P.s; i++) {
      let g = bp_gy[base + i];
      sg += g;
      sgx += g * (bp_x[base + i] - mean) * inv;
    }
  }
  bp_partials[t] = vec2f(sg, sgx);
}

@group(0) @binding(1) var<storage, read> bc_partials: array<vec2f>;
@group(0) @binding(2) var<storage, read> bc_stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> bc_bstats: array<f32>;

@compute @workgroup_size(64)
fn bn_bwd_combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = linear(gid, nwg);
  if (c >= P.c) { return; }
  var s = vec2f(0.0);
  for (var p = 0u; p < P.parts; p++) { s += bc_partials[c * P.parts + p]; }
  let m = f32(P.n * P.s);
  let o = c * 8u;
  bc_bstats[o] = bc_stats[o];
  bc_bstats[o + 1u] = bc_stats[o + 1u];
  bc_bstats[o + 2u] = bc_stats[o + 2u];
  bc_bstats[o + 3u] = s.x / m;
  bc_bstats[o + 4u] = s.y / m;
  bc_bstats[o + 5u] = s.x;
  bc_bstats[o + 6u] = s.y;
}

@group(0) @binding(1) var<storage, read> ba_x: array<f32>;
@group(0) @binding(2) var<storage, read> ba_gy: array<f32>;
@group(0) @binding(3) var<storage, read> ba_bstats: array<f32>;
@group(0) @binding(4) var<storage, read_write> ba_gx: array<f32>;

@compute @workgroup_size(64)
fn bn_bwd_apply(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= P.n * P.c * P.s) { return; }
  let o = ((t / P.s) % P.c) * 8u;
  let xhat = (ba_x[t] - ba_bstats[o]) * ba_bstats[o + 1u];
  ba_gx[t] = ba_bstats[o + 2u] * (ba_gy[t] - ba_bstats[o + 3u] - xhat * ba_bstats[o + 4u]);
}
