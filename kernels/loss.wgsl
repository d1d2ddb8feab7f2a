// Cross-entropy from logits [n, c] and integer labels [n], fused: one invocation per row computes
// the row's log-sum-exp (online max and rescaled sum, one read pass) and loss = lse − logit[label].
// The forward keeps (label, lse) per row in one `aux` buffer, so the backward binds only 4 storage
// buffers and does not recompute the row statistics: gx = (softmax − onehot) · g.
// A label outside [0, c) cannot be reported from here; its row's loss and gradient are NaN.

struct Params { n: u32, c: u32, scale: f32, scalar_gy: u32, nan_bits: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> P: Params;

override WG: u32 = 64u;

// A NaN made at run time (WGSL rejects NaN constants).
fn nan() -> f32 { return bitcast<f32>(P.nan_bits); }

@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> aux: array<u32>;

@compute @workgroup_size(WG)
fn ce_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.n) { return; }
  let b = row * P.c;
  var m = logits[b];
  var s = 1.0;
  for (var k = 1u; k < P.c; k++) {
    let v = logits[b + k];
    let nm = max(m, v);
    s = s * exp(m - nm) + exp(v - nm);
    m = nm;
  }
  let lse = m + log(s);
  let label = labels[row];
  var l = nan();
  if (label >= 0 && u32(label) < P.c) { l = lse - logits[b + u32(label)]; }
  loss[row] = l;
  aux[2u * row] = bitcast<u32>(label);
  aux[2u * row + 1u] = bitcast<u32>(lse);
}

@group(0) @binding(2) var<storage, read> baux: array<u32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(WG)
fn ce_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_id(gid, nwg, WG);
  if (row >= P.n) { return; }
  let label = bitcast<i32>(baux[2u * row]);
  let lse = bitcast<f32>(baux[2u * row + 1u]);
  // Reduced losses ('mean', 'sum') have one upstream value; 'mean' also scales by 1/n.
  var g: f32;
  if (P.scalar_gy == 1u) { g = gy[0] * P.scale; } else { g = gy[row] * P.scale; }
  if (label < 0 || u32(label) >= P.c) { g = nan(); }
  let cls = u32(label);
  let b = row * P.c;
  for (var k = 0u; k < P.c; k++) {
    let p = exp(logits[b + k] - lse);
    gx[b + k] = (p - select(0.0, 1.0, k == cls)) * g;
  }
}
