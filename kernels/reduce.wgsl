// Reductions along one axis of a tensor viewed as [outer, R, inner]. One invocation per output
// (outer, chunk, inner) walks its chunk of R; long axes are reduced in chunks and then again
// (two passes keep both the parallelism and the f32 accuracy of the sum).

struct Params { outer: u32, r: u32, inner: u32, chunks: u32, chunk_len: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> yi: array<i32>;

struct Range { base: u32, begin: u32, end: u32, out: u32, ok: bool }

fn range_of(o: u32) -> Range {
  var r: Range;
  let n = P.outer * P.chunks * P.inner;
  r.ok = o < n;
  let i = o % P.inner;
  let c = (o / P.inner) % P.chunks;
  let b = o / (P.inner * P.chunks);
  r.base = b * P.r * P.inner + i;
  r.begin = c * P.chunk_len;
  r.end = min(P.r, r.begin + P.chunk_len);
  r.out = o;
  return r;
}

@compute @workgroup_size(64)
fn reduce_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = range_of(linear(gid, nwg));
  if (!r.ok) { return; }
  var acc = 0.0;
  for (var k = r.begin; k < r.end; k++) { acc += x[r.base + k * P.inner]; }
  y[r.out] = acc;
}

@compute @workgroup_size(64)
fn reduce_max(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = range_of(linear(gid, nwg));
  if (!r.ok) { return; }
  var acc = x[r.base + r.begin * P.inner];
  for (var k = r.begin + 1u; k < r.end; k++) {
    let v = x[r.base + k * P.inner];
    // NaN propagates, as in the reference.
    if (v > acc || v != v) { acc = v; }
  }
  y[r.out] = acc;
}

// The first index of the maximum (single pass: chunks = 1).
@compute @workgroup_size(64)
fn reduce_argmax(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = range_of(linear(gid, nwg));
  if (!r.ok) { return; }
  var best = x[r.base];
  var arg = 0u;
  for (var k = 1u; k < P.r; k++) {
    let v = x[r.base + k * P.inner];
    if (v > best) { best = v; arg = k; }
  }
  yi[r.out] = i32(arg);
}

// Backward of max along the axis: the gradient is shared evenly by the elements equal to the max.
@group(0) @binding(1) var<storage, read> gx_x: array<f32>;
@group(0) @binding(2) var<storage, read> gx_m: array<f32>;
@group(0) @binding(3) var<storage, read> gx_gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(64)
fn max_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = linear(gid, nwg);
  if (o >= P.outer * P.inner) { return; }
  let i = o % P.inner;
  let base = (o / P.inner) * P.r * P.inner + i;
  let m = gx_m[o];
  var ties = 0.0;
  for (var k = 0u; k < P.r; k++) { if (gx_x[base + k * P.inner] == m) { ties += 1.0; } }
  let share = gx_gy[o] / max(ties, 1.0);
  for (var k = 0u; k < P.r; k++) {
    let j = base + k * P.inner;
    gx[j] = select(0.0, share, gx_x[j] == m);
  }
}
