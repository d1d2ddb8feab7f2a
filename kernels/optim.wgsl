// Optimizer updates, one dispatch per parameter tensor, one invocation per element. The values
// that change every step (learning rate, Adam's bias corrections, the gradient-clipping scale)
// live in a small storage buffer `S` that the host writes once per step and the clipping kernel
// completes on the GPU; the uniform holds only what is fixed for the tensor, so its buffer is
// cached for the whole run (per-step values in uniforms would make a new uniform every step).
// At most 4 storage buffers per entry point (llvmpipe's compatibility-mode budget): Adam's two
// moments therefore share one buffer, m in [0, n) and v in [n, 2n).

// S layout (f32): lr, 1/(1 - beta1^t), 1/(1 - beta2^t), clip scale, global gradient norm.
const S_LR = 0u;
const S_BC1 = 1u;
const S_BC2 = 2u;
const S_SCALE = 3u;
const S_NORM = 4u;

struct Params { n: u32, a: f32, b: f32, c: f32, d: f32, flag: u32, e: f32, f: f32 }
@group(0) @binding(0) var<uniform> P: Params;

// ---------------------------------------------------------------- AdamW
// P: n, a = beta1, b = beta2, c = eps, d = weight decay (decoupled: p ← p − lr·wd·p first, as
// PyTorch's AdamW), e = 1 − beta1, f = 1 − beta2 (computed in float64 on the host: 1 − f32(0.999)
// is off by 1.3e-5). g is the gradient times the clipping scale.
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> moments: array<f32>;
@group(0) @binding(4) var<storage, read> S: array<f32>;

@compute @workgroup_size(64)
fn adamw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= P.n) { return; }
  let lr = S[S_LR];
  let g = grad[i] * S[S_SCALE];
  let m = P.a * moments[i] + P.e * g;
  let v = P.b * moments[P.n + i] + P.f * g * g;
  moments[i] = m;
  moments[P.n + i] = v;
  var p = param[i] * (1.0 - lr * P.d);
  // PyTorch's form: step = lr / bc1; denom = sqrt(v) / sqrt(bc2) + eps.
  let denom = sqrt(v * S[S_BC2]) + P.c;
  p = p - lr * (m * S[S_BC1]) / denom;
  param[i] = p;
}

// ---------------------------------------------------------------- SGD
// P: n, a = momentum, b = weight decay (L2, added to the gradient as PyTorch's SGD does),
// flag = 1 for Nesterov. buf = momentum·buf + g; the step is g + momentum·buf (Nesterov) or buf.
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(64)
fn sgd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i >= P.n) { return; }
  let p = param[i];
  let g = grad[i] * S[S_SCALE] + P.b * p;
  let buf = P.a * velocity[i] + g;
  velocity[i] = buf;
  let d = select(buf, g + P.a * buf, P.flag == 1u);
  param[i] = p - S[S_LR] * d;
}

// ---------------------------------------------------------------- gradient clipping
// sumsq: partial sums of squares of one gradient, one chunk of P.flag elements per invocation, into
// partials[offset + chunk] (P.a's bits hold the offset). clip_scale then adds every partial (one
// invocation: there are a few thousand at most) and writes the scale min(1, max_norm / (norm + 1e-6))
// (PyTorch's clip_grad_norm_) and the norm into S, where the update kernels read it: no readback.
@group(0) @binding(1) var<storage, read> sq_grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(64)
fn sumsq(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = linear(gid, nwg);
  let chunk = P.flag;
  let begin = c * chunk;
  if (begin >= P.n) { return; }
  let end = min(P.n, begin + chunk);
  var acc = 0.0;
  for (var k = begin; k < end; k++) { let g = sq_grad[k]; acc += g * g; }
  partials[bitcast<u32>(P.a) + c] = acc;
}

@group(0) @binding(1) var<storage, read> all_partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> S_out: array<f32>;

@compute @workgroup_size(1)
fn clip_scale() {
  var acc = 0.0;
  for (var k = 0u; k < P.n; k++) { acc += all_partials[k]; }
  let norm = sqrt(acc);
  // P.a = max_norm. NaN/Inf norms give a NaN scale, which the NaN check or the loss will show.
  S_out[S_SCALE] = min(1.0, P.a / (norm + 1e-6));
  S_out[S_NORM] = norm;
}
