// Average pooling (zero padding counted in the divisor, PyTorch's count_include_pad = true) and global
// average pooling, with their gradients. Tensors are viewed as planes [P = N·C, H, W]; one invocation
// per output element, over a 2-D grid of 64-wide workgroups (runtime.grid1d).

struct Params {
  planes: u32, h: u32, w: u32, ho: u32,
  wo: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, p0: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// y[p, oy, ox] = Σ over the window's in-range pixels / (kh·kw)
@compute @workgroup_size(64)
fn avg_pool(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= P.planes * P.ho * P.wo) { return; }
  let ox = t % P.wo;
  let oy = (t / P.wo) % P.ho;
  let p = t / (P.wo * P.ho);
  let y0 = i32(oy * P.sh) - i32(P.ph);
  let x0 = i32(ox * P.sw) - i32(P.pw);
  let y1 = min(y0 + i32(P.kh), i32(P.h));
  let x1 = min(x0 + i32(P.kw), i32(P.w));
  var acc = 0.0;
  for (var iy = max(y0, 0); iy < y1; iy++) {
    let row = (p * P.h + u32(iy)) * P.w;
    for (var ix = max(x0, 0); ix < x1; ix++) { acc += src[row + u32(ix)]; }
  }
  dst[t] = acc / f32(P.kh * P.kw);
}

// gx[p, iy, ix] = Σ over the windows that cover it of gy / (kh·kw): oy with oy·sh − ph ≤ iy < oy·sh − ph + kh.
@compute @workgroup_size(64)
fn avg_pool_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= P.planes * P.h * P.w) { return; }
  let ix = i32(t % P.w);
  let iy = i32((t / P.w) % P.h);
  let p = t / (P.w * P.h);
  // First window reaching the pixel: ceil((i + pad − k + 1) / stride), clamped at 0; last: (i + pad) / stride.
  let ylo = max(i32(iy) + i32(P.ph) - i32(P.kh) + i32(P.sh), 0) / i32(P.sh);
  let yhi = min((iy + i32(P.ph)) / i32(P.sh), i32(P.ho) - 1);
  let xlo = max(i32(ix) + i32(P.pw) - i32(P.kw) + i32(P.sw), 0) / i32(P.sw);
  let xhi = min((ix + i32(P.pw)) / i32(P.sw), i32(P.wo) - 1);
  var acc = 0.0;
  for (var oy = ylo; oy <= yhi; oy++) {
    let row = (p * P.ho + u32(oy)) * P.wo;
    for (var ox = xlo; ox <= xhi; ox++) { acc += src[row + u32(ox)]; }
  }
  dst[t] = acc / f32(P.kh * P.kw);
}

// y[p] = mean of plane p (P.h holds H·W here).
@compute @workgroup_size(64)
fn global_avg(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = linear(gid, nwg);
  if (p >= P.planes) { return; }
  var acc = 0.0;
  for (var i = 0u; i < P.h; i++) { acc += src[p * P.h + i]; }
  dst[p] = acc / f32(P.h);
}

// gx[p, i] = gy[p] / (H·W)
@compute @workgroup_size(64)
fn global_avg_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear(gid, nwg);
  if (t >= P.planes * P.h) { return; }
  dst[t] = src[t / P.h] / f32(P.h);
}
