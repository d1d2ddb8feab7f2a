// Layout kernels: strided copies (permute, slice, concat), the slice gradient, and gathers/scatters
// along an axis. Data moves as raw 32-bit words, so the copies serve f32 and i32 tensors alike;
// only the gradient kernels do f32 arithmetic. One invocation per output element, over a 2-D grid
// of 64-wide workgroups (runtime.grid1d).

// ---------------------------------------------------------------- strided copy
// dst[dbase + Σ idx_d·ds_d] = src[sbase + Σ idx_d·ss_d] for every multi-index idx of `shape`.
// Permute and slice read strided and write contiguous; concat reads contiguous and writes strided.
// An invocation copies RUN consecutive elements of the last axis (RUN > 1 only where that axis is
// contiguous in both operands): the index arithmetic, a division and a remainder per axis, costs
// far more than the copy itself on a CPU adapter, and runs share it.
struct CopyParams {
  n: u32, rank: u32, sbase: u32, dbase: u32,
  shape: array<vec4u, 2>,
  ss: array<vec4u, 2>,
  ds: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> C: CopyParams;
@group(0) @binding(1) var<storage, read> c_src: array<u32>;
@group(0) @binding(2) var<storage, read_write> c_dst: array<u32>;

override RUN: u32 = 1u;

@compute @workgroup_size(64)
fn strided_copy(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= C.n / RUN) { return; }
  let last = C.rank - 1u;
  let runs = C.shape[last / 4u][last % 4u] / RUN;
  let first = (i % runs) * RUN;
  var rem = i / runs;
  var s = C.sbase + first * C.ss[last / 4u][last % 4u];
  var d = C.dbase + first * C.ds[last / 4u][last % 4u];
  for (var k = i32(last) - 1; k >= 0; k--) {
    let a = u32(k);
    let dim = C.shape[a / 4u][a % 4u];
    let idx = rem % dim;
    rem = rem / dim;
    s += idx * C.ss[a / 4u][a % 4u];
    d += idx * C.ds[a / 4u][a % 4u];
  }
  for (var t = 0u; t < RUN; t++) { c_dst[d + t] = c_src[s + t]; }
}

// ---------------------------------------------------------------- slice gradient
// gx has x's shape: gy where the element lies inside the slice box, zero elsewhere. Every element
// of gx is written, so no zero fill is needed first.
struct SliceGradParams {
  n: u32, rank: u32, p0: u32, p1: u32,
  shape: array<vec4u, 2>,   // x's shape
  start: array<vec4u, 2>,
  len: array<vec4u, 2>,     // gy's shape
  gs: array<vec4u, 2>,      // gy's strides
}
@group(0) @binding(0) var<uniform> S: SliceGradParams;
@group(0) @binding(1) var<storage, read> s_gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_gx: array<f32>;

// An invocation writes RUN consecutive elements of the last axis (RUN divides its length).
@compute @workgroup_size(64)
fn slice_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= S.n / RUN) { return; }
  let last = S.rank - 1u;
  let runs = S.shape[last / 4u][last % 4u] / RUN;
  let first = (i % runs) * RUN;
  var rem = i / runs;
  var g = 0u;
  var inside = true;
  for (var k = i32(last) - 1; k >= 0; k--) {
    let a = u32(k);
    let dim = S.shape[a / 4u][a % 4u];
    let idx = rem % dim;
    rem = rem / dim;
    // idx - start wraps to a huge u32 below the box, so one comparison covers both sides.
    let rel = idx - S.start[a / 4u][a % 4u];
    inside = inside && rel < S.len[a / 4u][a % 4u];
    g += rel * S.gs[a / 4u][a % 4u];
  }
  let top = arrayLength(&s_gy) - 1u;
  for (var t = 0u; t < RUN; t++) {
    let rel = first + t - S.start[last / 4u][last % 4u];
    let ok = inside && rel < S.len[last / 4u][last % 4u];
    s_gx[i * RUN + t] = select(0.0, s_gy[min(g + rel * S.gs[last / 4u][last % 4u], top)], ok);
  }
}

// ---------------------------------------------------------------- gathers and scatters
// x viewed as [outer, A, inner]; K indices pick along A. The index for (o, k) is idx[o·istride + k]:
// istride 0 is index_select (one list for every o), istride K is a per-row list (gatherRows).
// An index outside [0, A) selects nothing: gathers give zero there, scatters leave the row alone.
struct GatherParams { outer: u32, a: u32, inner: u32, k: u32, istride: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> G: GatherParams;
@group(0) @binding(1) var<storage, read> g_x: array<u32>;
@group(0) @binding(2) var<storage, read> g_idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> g_out: array<u32>;

// The row picked by index (o, k), or A (no row) when the index is out of range.
fn picked(o: u32, k: u32) -> u32 {
  let j = g_idx[o * G.istride + k];
  return select(G.a, u32(j), j >= 0 && u32(j) < G.a);
}

// out[o, k, i] = x[o, idx(o, k), i]
@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= G.outer * G.k * G.inner) { return; }
  let i = t % G.inner;
  let k = (t / G.inner) % G.k;
  let o = t / (G.inner * G.k);
  let j = picked(o, k);
  var v = 0u;
  if (j < G.a) { v = g_x[(o * G.a + j) * G.inner + i]; }
  g_out[t] = v;
}

// Gradient of gather (index_add): gx[o, a, i] = Σ_k [idx(o, k) = a] gy[o, k, i]. One invocation per
// element of gx loops over the indices, so repeated indices sum without atomics.
@group(0) @binding(1) var<storage, read> gg_gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gg_gx: array<f32>;

@compute @workgroup_size(64)
fn gather_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= G.outer * G.a * G.inner) { return; }
  let i = t % G.inner;
  let a = (t / G.inner) % G.a;
  let o = t / (G.inner * G.a);
  var acc = 0.0;
  for (var k = 0u; k < G.k; k++) {
    if (picked(o, k) == a) { acc += gg_gy[(o * G.k + k) * G.inner + i]; }
  }
  gg_gx[t] = acc;
}

// The k whose row is a (the last one when a row is named twice), or K when none.
fn writer(o: u32, a: u32) -> u32 {
  var w = G.k;
  for (var k = 0u; k < G.k; k++) { if (picked(o, k) == a) { w = k; } }
  return w;
}

// scatterRows: out[o, a, i] = src[o, k, i] for the last k with idx(o, k) = a, else base[o, a, i].
@group(0) @binding(1) var<storage, read> sr_base: array<u32>;
@group(0) @binding(3) var<storage, read> sr_src: array<u32>;
@group(0) @binding(4) var<storage, read_write> sr_out: array<u32>;

@compute @workgroup_size(64)
fn scatter_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= G.outer * G.a * G.inner) { return; }
  let i = t % G.inner;
  let a = (t / G.inner) % G.a;
  let o = t / (G.inner * G.a);
  let w = writer(o, a);
  if (w < G.k) { sr_out[t] = sr_src[(o * G.k + w) * G.inner + i]; } else { sr_out[t] = sr_base[t]; }
}

// Gradient to base: gy where the row was kept, zero where it was replaced.
@compute @workgroup_size(64)
fn scatter_rows_base_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= G.outer * G.a * G.inner) { return; }
  let a = (t / G.inner) % G.a;
  let o = t / (G.inner * G.a);
  gg_gx[t] = select(gg_gy[t], 0.0, writer(o, a) < G.k);
}

// Gradient to src: gsrc[o, k, i] = gy[o, idx(o, k), i] when row k is the one that landed, else zero.
@compute @workgroup_size(64)
fn scatter_rows_src_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= G.outer * G.k * G.inner) { return; }
  let i = t % G.inner;
  let k = (t / G.inner) % G.k;
  let o = t / (G.inner * G.k);
  let a = picked(o, k);
  var landed = a < G.a;
  for (var k2 = k + 1u; k2 < G.k; k2++) { if (picked(o, k2) == a) { landed = false; } }
  var g = 0.0;
  if (landed) { g = gg_gy[(o * G.a + a) * G.inner + i]; }
  gg_gx[t] = g;
}
