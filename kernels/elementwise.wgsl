// Elementwise kernels. One invocation per output element, over a 2-D grid of 64-wide workgroups.
// The op is an override constant, so each op compiles to its own branch-free pipeline.

const MAX_RANK = 8u;

// ---------------------------------------------------------------- unary (with scalar parameters)
// OP: 0 neg, 1 abs, 2 sign, 3 exp, 4 log, 5 sqrt, 6 rsqrt, 7 tanh, 8 sigmoid, 9 relu, 10 gelu (erf),
//     11 pow(x, a), 12 clamp(x, a, b), 13 a*x + b, 14 gelu (tanh form), 15 silu
override OP: u32 = 0u;

struct UnaryParams { n: u32, a: f32, b: f32, pad: u32 }
@group(0) @binding(0) var<uniform> U: UnaryParams;

const SQRT1_2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

// erfc_pos / erfc_any come from kernels/erf.wgsl, sigmoid_pair / gelu_tanh_f / gelu_tanh_df from
// kernels/gelu_tanh.wgsl, prepended by the op.

// IEEE results where WGSL leaves them undefined (log, sqrt of negatives and zero), so every adapter
// agrees with the reference and the NaN check sees them. Built at run time: constants may not be NaN.
fn nan_f() -> f32 { return bitcast<f32>(U.pad | 0x7fc00000u); }
fn inf_f() -> f32 { return bitcast<f32>(U.pad | 0x7f800000u); }
fn log_ieee(x: f32) -> f32 { return select(select(log(x), -inf_f(), x == 0.0), nan_f(), x < 0.0); }
fn sqrt_ieee(x: f32) -> f32 { return select(sqrt(x), nan_f(), x < 0.0); }
fn rsqrt_ieee(x: f32) -> f32 { return select(select(inverseSqrt(x), inf_f(), x == 0.0), nan_f(), x < 0.0); }

// |x|^a with the sign rules of real powers for integer exponents.
fn pow_real(x: f32, a: f32) -> f32 {
  if (a == 0.0) { return 1.0; }
  let m = pow(abs(x), a);
  if (x >= 0.0) { return m; }
  if (floor(a) != a) { return nan_f(); } // as for real powers
  let odd = (i32(a) & 1) == 1;
  return select(m, -m, odd);
}

// tanh with full relative accuracy: a Taylor polynomial near 0 (where (1-t)/(1+t) cancels), and the
// exponential form elsewhere (t <= 1, so it never overflows).
fn tanh_acc(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.125) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
  }
  let t = exp(-2.0 * a);
  return sign(x) * (1.0 - t) / (1.0 + t);
}

fn unary_f(x: f32) -> f32 {
  switch OP {
    case 0u: { return -x; }
    case 1u: { return abs(x); }
    case 2u: { return sign(x); }
    case 3u: { return exp(x); }
    case 4u: { return log_ieee(x); }
    case 5u: { return sqrt_ieee(x); }
    case 6u: { return rsqrt_ieee(x); }
    case 7u: { return tanh_acc(x); }
    case 8u: { return 1.0 / (1.0 + exp(-x)); }
    case 9u: { return max(x, 0.0); }
    case 10u: { return 0.5 * x * erfc_any(-x * SQRT1_2); }
    case 11u: { return pow_real(x, U.a); }
    case 12u: { return clamp(x, U.a, U.b); }
    case 13u: { return U.a * x + U.b; }
    case 14u: { return gelu_tanh_f(x); }
    case 15u: { return x * sigmoid_pair(x).x; }
    case 16u: { return 0.5 * erfc_any(-x * SQRT1_2); }
    default: { return x; }
  }
}

// Contiguous launches handle four elements per invocation with vec4 loads: every buffer is a
// multiple of 16 bytes (runtime.bucketBytes), so the last vec4 stays inside it; U.n counts vec4s.
@group(0) @binding(1) var<storage, read> ux4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> uy4: array<vec4f>;

@compute @workgroup_size(64)
fn unary(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i < U.n) {
    let x = ux4[i];
    uy4[i] = vec4f(unary_f(x.x), unary_f(x.y), unary_f(x.z), unary_f(x.w));
  }
}

// Backward of a unary op: gx = gy * f'(x), using the saved output y where that is cheaper.
@group(0) @binding(1) var<storage, read> gx_x: array<vec4f>;
@group(0) @binding(2) var<storage, read> gx_y: array<vec4f>;
@group(0) @binding(3) var<storage, read> gx_gy: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> gx_out: array<vec4f>;

fn unary_df(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return -1.0; }
    case 1u: { return sign(x); }
    case 2u: { return 0.0; }
    case 3u: { return y; }
    case 4u: { return 1.0 / x; }
    case 5u: { return 0.5 / y; }
    case 6u: { return -0.5 * y * y * y; }
    case 7u: { return 1.0 - y * y; }
    case 8u: { return y * (1.0 - y); }
    case 9u: { return select(0.0, 1.0, x > 0.0); }
    case 10u: { return 0.5 * erfc_any(-x * SQRT1_2) + x * INV_SQRT_2PI * exp(-0.5 * x * x); }
    case 11u: { return U.a * pow_real(x, U.a - 1.0); }
    case 12u: { return select(0.0, 1.0, x >= U.a && x <= U.b); }
    case 13u: { return U.a; }
    case 14u: { return gelu_tanh_df(x); }
    case 15u: {
      // s·(1 + x·(1 - s)) with 1 - s from exp(-|x|): no cancellation, no overflow.
      let s = sigmoid_pair(x);
      return s.x + x * s.x * s.y;
    }
    case 16u: { return INV_SQRT_2PI * exp(-0.5 * x * x); }
    default: { return 1.0; }
  }
}

@compute @workgroup_size(64)
fn unary_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i < U.n) {
    let x = gx_x[i];
    let y = gx_y[i];
    gx_out[i] = gx_gy[i] * vec4f(unary_df(x.x, y.x), unary_df(x.y, y.y), unary_df(x.z, y.z), unary_df(x.w, y.w));
  }
}

// ---------------------------------------------------------------- broadcasting (up to 3 inputs)
// BOP: 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum, 6 where(c, a, b), 7 copy a (broadcastTo)
//      20 + k: d/da of op k times gy, 40 + k: d/db of op k times gy (at the broadcast output shape)
override BOP: u32 = 0u;
override COND_I32: bool = false;

struct BParams {
  n: u32, rank: u32, p0: u32, p1: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
  sc: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> B: BParams;
@group(0) @binding(1) var<storage, read> ba: array<f32>;
@group(0) @binding(2) var<storage, read> bb: array<f32>;
@group(0) @binding(3) var<storage, read> bc: array<f32>;
@group(0) @binding(4) var<storage, read_write> bout: array<f32>;

fn binary_f(op: u32, a: f32, b: f32) -> f32 {
  switch op {
    case 0u: { return a + b; }
    case 1u: { return a - b; }
    case 2u: { return a * b; }
    case 3u: { return a / b; }
    case 4u: { return max(a, b); }
    case 5u: { return min(a, b); }
    default: { return 0.0; }
  }
}

// Gradient share of the first (wrt_a) or second operand; ties of max/min split the gradient in half.
fn binary_df(op: u32, wrt_a: bool, a: f32, b: f32) -> f32 {
  switch op {
    case 2u: { return select(a, b, wrt_a); }
    case 3u: { return select(-a / (b * b), 1.0 / b, wrt_a); }
    case 4u: {
      let w = select(select(0.0, 1.0, b > a), select(0.0, 1.0, a > b), wrt_a);
      return select(w, 0.5, a == b);
    }
    case 5u: {
      let w = select(select(0.0, 1.0, b < a), select(0.0, 1.0, a < b), wrt_a);
      return select(w, 0.5, a == b);
    }
    default: { return 1.0; }
  }
}

@compute @workgroup_size(64)
fn broadcast(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= B.n) { return; }
  var rem = i;
  var ia = 0u; var ib = 0u; var ic = 0u;
  for (var d = i32(B.rank) - 1; d >= 0; d--) {
    let k = u32(d);
    let dim = B.shape[k / 4u][k % 4u];
    let idx = rem % dim;
    rem = rem / dim;
    ia += idx * B.sa[k / 4u][k % 4u];
    ib += idx * B.sb[k / 4u][k % 4u];
    ic += idx * B.sc[k / 4u][k % 4u];
  }
  if (BOP == 7u) {
    bout[i] = ba[ia];
  } else if (BOP == 6u) {
    let cbits = bitcast<u32>(ba[ia]);
    let c = select(bitcast<f32>(cbits) != 0.0, cbits != 0u, COND_I32);
    bout[i] = select(bc[ic], bb[ib], c);
  } else if (BOP < 20u) {
    bout[i] = binary_f(BOP, ba[ia], bb[ib]);
  } else {
    // Gradients: a, b are the operands, c is gy (laid out as the output).
    let op = BOP % 20u;
    bout[i] = bc[ic] * binary_df(op, BOP < 40u, ba[ia], bb[ib]);
  }
}

// Contiguous binary ops (same shapes, or one operand a single value): four elements per invocation.
override A_SCALAR: bool = false;
override B_SCALAR: bool = false;

struct FParams { n4: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> F: FParams;
@group(0) @binding(1) var<storage, read> fa: array<vec4f>;
@group(0) @binding(2) var<storage, read> fb: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> fout: array<vec4f>;

fn binary4(a: vec4f, b: vec4f) -> vec4f {
  switch BOP {
    case 0u: { return a + b; }
    case 1u: { return a - b; }
    case 2u: { return a * b; }
    case 3u: { return a / b; }
    case 4u: { return max(a, b); }
    default: { return min(a, b); }
  }
}

@compute @workgroup_size(64)
fn binary_flat(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= F.n4) { return; }
  let a = select(fa[i], vec4f(fa[0].x), A_SCALAR);
  let b = select(fb[i], vec4f(fb[0].x), B_SCALAR);
  fout[i] = binary4(a, b);
}
