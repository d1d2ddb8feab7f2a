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
  let b = row * (P.d / 4u);
  let k = x4[b].x;
  let s = workgroup_sum(vec4f(fwd4_sums(b, k, lid, RW), 0.0, 0.0));
  fwd4_write(b, row_stats(k, s.x, s.y), lid, RW);
}

@compute @workgroup_size(RW)
fn layernorm_dx4_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let b = row * (P.d / 4u);
  let k = x4[b].x;
  dx4_write(b, k, workgroup_sum(dx4_sums(b, k, lid, RW)), lid, RW);
}
