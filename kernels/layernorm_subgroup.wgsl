// Layer normalization with one row per workgroup and subgroup reductions: the hardware-GPU variant
// of layernorm.wgsl's vec4 forward and dx (whose bindings, helpers and math it shares: the op
// appends this file to that one, behind `enable subgroups;`, where the device has the feature). A
// GPU wants many lanes per row instead of one invocation looping over a whole row; on the software
// adapters the barrier costs more than the loop saves (tuning.ts keeps them on the per-row entries).

const RW: u32 = 64u;
// One slot per subgroup (any subgroup size), claimed through a counter: nothing here assumes how
// local invocations map onto subgroups.
var<workgroup> sg_sums: array<vec4f, 64>;
var<workgroup> sg_count: atomic<u32>;

// The sum of v over the workgroup, in every invocation. Called from uniform control flow only.
fn workgroup_sum(v: vec4f) -> vec4f {
  let s = subgroupAdd(v);
  if (subgroupElect()) { sg_sums[atomicAdd(&sg_count, 1u)] = s; }
  workgroupBarrier();
  let n = atomicLoad(&sg_count);
  var t = vec4f(0.0);
  for (var i = 0u; i < n; i++) { t += sg_sums[i]; }
  return t;
}

@compute @workgroup_size(RW)
fn layernorm_fwd4_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // One row per workgroup: the test is the same for all its invocations (uniform control flow).
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let d4 = P.d / 4u;
  let b = row * d4;
  let k = x4[b].x;
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var q = lid; q < d4; q += RW) { let t = x4[b + q] - k; s1 += t; s2 += t * t; }
  let s = workgroup_sum(vec4f(hsum(s1), hsum(s2), 0.0, 0.0));
  let st = row_stats(k, s.x, s.y);
  for (var q = lid; q < d4; q += RW) { y4[b + q] = (x4[b + q] - st.x) * st.y * gamma4(q) + beta4(q); }
}

@compute @workgroup_size(RW)
fn layernorm_dx4_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let d4 = P.d / 4u;
  let b = row * d4;
  let k = x4[b].x;
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  var sg = vec4f(0.0);
  var sgt = vec4f(0.0);
  for (var q = lid; q < d4; q += RW) {
    let t = x4[b + q] - k;
    let g = gy4[b + q] * gamma4(q);
    s1 += t; s2 += t * t; sg += g; sgt += g * t;
  }
  let s = workgroup_sum(vec4f(hsum(s1), hsum(s2), hsum(sg), hsum(sgt)));
  let st = row_stats(k, s.x, s.y);
  let n = f32(P.d);
  let mg = s.z / n;
  let mgx = (s.w - (st.x - k) * s.z) * st.y / n;
  for (var q = lid; q < d4; q += RW) {
    let xh = (x4[b + q] - st.x) * st.y;
    dx4[b + q] = st.y * (gy4[b + q] * gamma4(q) - mg - xh * mgx);
  }
}
