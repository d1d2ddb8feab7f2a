// One AMRM update in one pass, and the diagonal Jacobian d x_s / d x_0 carried along it (the closed
// form of the adaptive attack's gradient through the loop):
//   v   = x − λ·sign(g)
//   p   = min(max(v, x0 − η), x0 + η)        (the l_inf ball; left out when BALL is false)
//   x_s = clamp(p, 0, 1)
// The arithmetic is the composed ops' (affine, sub, maximum, minimum, clamp), so both give the same
// images bit for bit. The Jacobian follows those ops' derivatives exactly, ties included: max and
// min split a tie's gradient in half, the clamp passes it on [0, 1] inclusive, and sign(g) has none:
//   J_s = c · (a_min·a_max·J_{s−1} + a_min·(1 − a_max) + (1 − a_min))
// with a_max = d max(v, lo)/dv, a_min = d min(m, hi)/dm, c = d clamp/dp; the last two terms are the
// paths through lo = x0 − η and hi = x0 + η. Without the ball, J_s = c · J_{s−1}. J_0 = 1.

struct Params { n: u32, lam: f32, eta: f32, p0: u32 }
@group(0) @binding(0) var<uniform> P: Params;

override BALL: bool = true;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> x0: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> jac: array<f32>;

fn stepped(i: u32) -> f32 { return x[i] - (P.lam * sign(g[i]) + 0.0); }

@compute @workgroup_size(64)
fn purify_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= P.n) { return; }
  var p = stepped(i);
  if (BALL) { p = min(max(p, x0[i] + -P.eta), x0[i] + P.eta); }
  y[i] = clamp(p, 0.0, 1.0);
}

@compute @workgroup_size(64)
fn purify_jacobian(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= P.n) { return; }
  let v = stepped(i);
  var j = jac[i];
  var p = v;
  if (BALL) {
    let lo = x0[i] + -P.eta;
    let hi = x0[i] + P.eta;
    let a_max = select(select(0.0, 1.0, v > lo), 0.5, v == lo);
    let m = max(v, lo);
    let a_min = select(select(0.0, 1.0, m < hi), 0.5, m == hi);
    j = a_min * a_max * j + a_min * (1.0 - a_max) + (1.0 - a_min);
    p = min(m, hi);
  }
  jac[i] = select(0.0, j, p >= 0.0 && p <= 1.0);
}
