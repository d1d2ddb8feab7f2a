// Softmax and log-softmax along the last axis, forward and backward. One invocation per row walks
// its row: on both software adapters a lane-per-row loop beats any workgroup reduction (barriers
// cost 4x on llvmpipe and far more on SwiftShader, docs/design.md). On llvmpipe every load with a
// per-invocation address is a loop over SIMD lanes, so the cost follows the number of loads: the
// `*4` entry points (rows whose length is a multiple of 4) load vec4s, and the forward reads the
// row only twice, keeping a running max and a rescaled running sum ("online" softmax) in the first
// pass. Holding the row in a private array instead (read once, one exp per element) measured slower
// on llvmpipe, 3.05 against 3.4 GB/s at [4096×1024] (private arrays are per-lane memory there too),
// and only 1.1× faster on SwiftShader (0.58 against 0.51 GB/s), 2026-12-07, an uncommitted probe
// (`amrm bench kernels --only softmax --tuning` with and without it, two rounds each, background
// paused): not kept.

struct Params { rows: u32, d: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<uniform> P: Params;

override WG: u32 = 64u;
// 0: softmax, 1: log-softmax.
override LOG: u32 = 0u;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4f>;

@compute @workgroup_size(WG)
fn softmax_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let b = row * P.d;
  let e = b + P.d;
  // Running max m and sum s of exp(x - m): when the max grows, the sum is rescaled.
  var m = x[b];
  var s = 1.0;
  for (var i = b + 1u; i < e; i++) {
    let v = x[i];
    let nm = max(m, v);
    s = s * exp(m - nm) + exp(v - nm);
    m = nm;
  }
  if (LOG == 1u) {
    let lse = m + log(s);
    for (var i = b; i < e; i++) { y[i] = x[i] - lse; }
  } else {
    let r = 1.0 / s;
    for (var i = b; i < e; i++) { y[i] = exp(x[i] - m) * r; }
  }
}

// Rows of length 4·d4: the running max and sum are kept per vec4 lane and combined at the end;
// two vec4s per step halve the rescaling exps.
@compute @workgroup_size(WG)
fn softmax_fwd4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let d4 = P.d / 4u;
  let b = row * d4;
  let e = b + d4;
  var m4 = x4[b];
  var s4 = vec4f(1.0);
  var q = b + 1u;
  for (; q + 1u < e; q += 2u) {
    let v = x4[q];
    let w = x4[q + 1u];
    let nm = max(m4, max(v, w));
    s4 = s4 * exp(m4 - nm) + exp(v - nm) + exp(w - nm);
    m4 = nm;
  }
  if (q < e) {
    let v = x4[q];
    let nm = max(m4, v);
    s4 = s4 * exp(m4 - nm) + exp(v - nm);
    m4 = nm;
  }
  let m = hmax(m4);
  let s = hsum(s4 * exp(m4 - vec4f(m)));
  if (LOG == 1u) {
    let lse = vec4f(m + log(s));
    for (var k = b; k < e; k++) { y4[k] = x4[k] - lse; }
  } else {
    let mv = vec4f(m);
    let r = 1.0 / s;
    for (var k = b; k < e; k++) { y4[k] = exp(x4[k] - mv) * r; }
  }
}

// ---------------------------------------------------------------- backward
// From the saved output y: softmax gx = y ∘ (gy − Σ gy∘y); log-softmax gx = gy − exp(y)·Σ gy.
@group(0) @binding(1) var<storage, read> by: array<f32>;
@group(0) @binding(2) var<storage, read> bgy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bgx: array<f32>;
@group(0) @binding(1) var<storage, read> by4: array<vec4f>;
@group(0) @binding(2) var<storage, read> bgy4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> bgx4: array<vec4f>;

@compute @workgroup_size(WG)
fn softmax_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let b = row * P.d;
  let e = b + P.d;
  var acc = 0.0;
  if (LOG == 1u) {
    for (var i = b; i < e; i++) { acc += bgy[i]; }
    for (var i = b; i < e; i++) { bgx[i] = bgy[i] - exp(by[i]) * acc; }
  } else {
    for (var i = b; i < e; i++) { acc += bgy[i] * by[i]; }
    for (var i = b; i < e; i++) { bgx[i] = by[i] * (bgy[i] - acc); }
  }
}

@compute @workgroup_size(WG)
fn softmax_bwd4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.rows) { return; }
  let d4 = P.d / 4u;
  let b = row * d4;
  let e = b + d4;
  var acc4 = vec4f(0.0);
  if (LOG == 1u) {
    for (var k = b; k < e; k++) { acc4 += bgy4[k]; }
    let acc = vec4f(hsum(acc4));
    for (var k = b; k < e; k++) { bgx4[k] = bgy4[k] - exp(by4[k]) * acc; }
  } else {
    for (var k = b; k < e; k++) { acc4 += bgy4[k] * by4[k]; }
    let acc = vec4f(hsum(acc4));
    for (var k = b; k < e; k++) { let yv = by4[k]; bgx4[k] = yv * (bgy4[k] - acc); }
  }
}
