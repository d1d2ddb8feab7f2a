// DiT's per-image feature-wise affine maps over tokens, x [B, N, D] with per-image vectors [B, 1, D]:
//   modulate:       y = x·(1 + scale) + shift          (adaLN's modulation of a normed input)
//   gated_residual: y = r + gate·x                     (a block's gated residual update)
//   scale_rows:     gx = gy·(C + s)                    (both backwards to x: C = 1 or 0)
// One invocation per element; (b, d) of element i are i / (N·D) and i % D.

struct Params { n: u32, nd: u32, d: u32, p0: u32 }
@group(0) @binding(0) var<uniform> P: Params;

override C: f32 = 1.0;

/** The index of element i's per-image vector entry. */
fn vec_at(i: u32) -> u32 { return (i / P.nd) * P.d + i % P.d; }

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// a = x, u = shift, w = scale.
@compute @workgroup_size(64)
fn modulate(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= P.n) { return; }
  let k = vec_at(i);
  y[i] = a[i] * (1.0 + w[k]) + u[k];
}

// a = r, u = gate, w = x.
@compute @workgroup_size(64)
fn gated_residual(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= P.n) { return; }
  y[i] = a[i] + u[vec_at(i)] * w[i];
}

// a = gy, u = s; binding 3 unused.
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(64)
fn scale_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= P.n) { return; }
  gx[i] = a[i] * (C + u[vec_at(i)]);
}
