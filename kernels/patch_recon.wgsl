// Patch reconstruction: patchify / unpatchify and the MAE masked reconstruction loss, forward and
// backward. Layout as MAE's reference (docs/method.md section 1): image [B, C, H, W], patches
// [B, n, D] with n = (H/p)·(W/p) patches row-major over the grid and D = p·p·C values per patch in
// (row, col, channel) order, i.e. x.reshape(B, C, h, p, w, p) then einsum nchpwq->nhwpqc.
//
// Work split: one invocation per patch everywhere (except loss_finish). It walks the patch's values
// in patch order with three nested loops, so the image index advances by additions only: on the
// software adapters integer division by a uniform is scalar code per lane, and the per-value
// variant (several divisions per value to locate it) measured 2.5-4x slower than this one. Each
// image pixel belongs to exactly one patch, so scattered writes never collide.
//
// The loss keeps one record per patch, written by loss_patch and read by the rest (no target is
// ever materialized):
//   rec[0]          header (s, gy, loss, 0): s = Σ mask clamped below at 1e-30, gy = upstream grad
//   rec[1 + 2q]     (m_q·mse_q, m_q, mean_q, rstd_q)  for patch q = b·n + j
//   rec[2 + 2q]     (Σ_e r_e, Σ_e r_e·t_e, 0, 0)      r = pred − target, t = target (normalized)
// With NORM_PIX off, mean = 0 and rstd = 1, so target = image and every formula below still holds.
// Launched over a 2-D grid of 64-wide workgroups (runtime.grid1d); loss_finish is one workgroup.

struct Params {
  batch: u32, chans: u32, height: u32, width: u32,
  p: u32, n: u32, dim: u32, gw: u32, // n patches per image, dim = p·p·C, gw = W/p patches per grid row
  patches: u32, p0: u32, p1: u32, p2: u32, // patches = B·n
}
@group(0) @binding(0) var<uniform> P: Params;

override NORM_PIX: u32 = 0u;

// Image index of value 0 of patch q (channel 0, the patch's top-left pixel). Value (py, px, c)
// of the patch lies at base + c·H·W + py·W + px.
fn patch_base(q: u32) -> u32 {
  let b = q / P.n;
  let j = q - b * P.n;
  let gy = j / P.gw;
  let gx = j - gy * P.gw;
  return (b * P.chans * P.height + gy * P.p) * P.width + gx * P.p;
}

// ---------------------------------------------------------------- patchify / unpatchify
@group(0) @binding(1) var<storage, read> g_src: array<f32>;
@group(0) @binding(2) var<storage, read_write> g_dst: array<f32>;

@compute @workgroup_size(64)
fn patchify(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = linear(gid, nwg);
  if (q >= P.patches) { return; }
  let base = patch_base(q);
  let plane = P.height * P.width;
  var k = q * P.dim;
  for (var py = 0u; py < P.p; py++) {
    for (var px = 0u; px < P.p; px++) {
      for (var c = 0u; c < P.chans; c++) {
        g_dst[k] = g_src[base + c * plane + py * P.width + px];
        k++;
      }
    }
  }
}

@compute @workgroup_size(64)
fn unpatchify(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = linear(gid, nwg);
  if (q >= P.patches) { return; }
  let base = patch_base(q);
  let plane = P.height * P.width;
  var k = q * P.dim;
  for (var py = 0u; py < P.p; py++) {
    for (var px = 0u; px < P.p; px++) {
      for (var c = 0u; c < P.chans; c++) {
        g_dst[base + c * plane + py * P.width + px] = g_src[k];
        k++;
      }
    }
  }
}

// ---------------------------------------------------------------- loss forward
@group(0) @binding(1) var<storage, read> l_pred: array<f32>;
@group(0) @binding(2) var<storage, read> l_img: array<f32>;
@group(0) @binding(3) var<storage, read> l_mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> l_rec: array<vec4f>;

// The target exists only in registers. With NORM_PIX the patch statistics take one more pass over
// the same (cached) pixels.
@compute @workgroup_size(64)
fn loss_patch(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = linear(gid, nwg);
  if (q >= P.patches) { return; }
  let base = patch_base(q);
  let plane = P.height * P.width;
  let d = f32(P.dim);
  var mu = 0.0;
  var rstd = 1.0;
  if (NORM_PIX != 0u) {
    // Welford's one-pass mean and variance: as accurate as two passes in f32, one read of the patch.
    var cnt = 0.0;
    var m2 = 0.0;
    for (var py = 0u; py < P.p; py++) {
      for (var px = 0u; px < P.p; px++) {
        for (var c = 0u; c < P.chans; c++) {
          let x = l_img[base + c * plane + py * P.width + px];
          cnt += 1.0;
          let dv = x - mu;
          mu += dv / cnt;
          m2 += dv * (x - mu);
        }
      }
    }
    // MAE uses torch's var(), the unbiased estimate (divide by D − 1); eps 1e-6 inside the root.
    rstd = 1.0 / sqrt(m2 / (d - 1.0) + 1e-6);
  }
  var sq = 0.0;
  var sr = 0.0;
  var srt = 0.0;
  var k = q * P.dim;
  for (var py = 0u; py < P.p; py++) {
    for (var px = 0u; px < P.p; px++) {
      for (var c = 0u; c < P.chans; c++) {
        let t = (l_img[base + c * plane + py * P.width + px] - mu) * rstd;
        let r = l_pred[k] - t;
        sq += r * r;
        sr += r;
        srt += r * t;
        k++;
      }
    }
  }
  let m = l_mask[q];
  l_rec[1u + 2u * q] = vec4f(m * sq / d, m, mu, rstd);
  // Σr and Σr·t are what the normalized-target backward needs from the whole patch; the gradient
  // is linear in them, so computing them here makes the backward a single pass per output.
  l_rec[2u + 2u * q] = vec4f(sr, srt, 0.0, 0.0);
}

// ---------------------------------------------------------------- loss reduction
@group(0) @binding(1) var<storage, read_write> f_rec: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> f_loss: array<f32>;

var<workgroup> wg_part: array<vec2f, 64>;

// One workgroup: each invocation sums a strided share of (term, mask), then invocation 0 adds the
// 64 partial sums (a single barrier; barriers are what cost on the software adapters).
@compute @workgroup_size(64)
fn loss_finish(@builtin(local_invocation_id) lid: vec3u) {
  var acc = vec2f(0.0);
  for (var q = lid.x; q < P.patches; q += 64u) { acc += f_rec[1u + 2u * q].xy; }
  wg_part[lid.x] = acc;
  workgroupBarrier();
  if (lid.x == 0u) {
    var tot = vec2f(0.0);
    for (var i = 0u; i < 64u; i++) { tot += wg_part[i]; }
    // MAE divides by Σ mask; clamping it keeps a mask that hides nothing at loss 0 instead of 0/0.
    let s = max(tot.y, 1e-30);
    let loss = tot.x / s;
    f_rec[0] = vec4f(s, 0.0, loss, 0.0);
    f_loss[0] = loss;
  }
}

// ---------------------------------------------------------------- loss backward
// L = (1/s) Σ_q m_q (1/D) Σ_e (pred_qe − t_qe)², so with c_q = 2·gy·m_q / (s·D):
//   dL/dpred_qe = c_q · r_qe,   dL/dt_qe = g_qe = −c_q · r_qe,
// and through the standardization t = (x − μ)·rstd (μ and the unbiased variance depend on x too):
//   dL/dx_k = rstd · ( g_k − mean_e(g_e) − t_k · Σ_e g_e t_e / (D − 1) ),
// where mean(g) = −c·Σr/D and Σ g t = −c·Σ r t come from the forward's record.
// One kernel per output, so each entry point binds four storage buffers.
@group(0) @binding(1) var<storage, read> b_pred: array<f32>;
@group(0) @binding(2) var<storage, read> b_img: array<f32>;
@group(0) @binding(3) var<storage, read> b_rec: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> b_out: array<f32>;

@compute @workgroup_size(64)
fn loss_grad_pred(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = linear(gid, nwg);
  if (q >= P.patches) { return; }
  let base = patch_base(q);
  let plane = P.height * P.width;
  let h = b_rec[0];
  let st = b_rec[1u + 2u * q];
  let cq = 2.0 * h.y * st.y / (h.x * f32(P.dim));
  var k = q * P.dim;
  for (var py = 0u; py < P.p; py++) {
    for (var px = 0u; px < P.p; px++) {
      for (var c = 0u; c < P.chans; c++) {
        let t = (b_img[base + c * plane + py * P.width + px] - st.z) * st.w;
        b_out[k] = cq * (b_pred[k] - t);
        k++;
      }
    }
  }
}

@compute @workgroup_size(64)
fn loss_grad_img(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let q = linear(gid, nwg);
  if (q >= P.patches) { return; }
  let base = patch_base(q);
  let plane = P.height * P.width;
  let d = f32(P.dim);
  let h = b_rec[0];
  let st = b_rec[1u + 2u * q];
  let cq = 2.0 * h.y * st.y / (h.x * d);
  // The two statistics terms, constant over the patch: −mean(g) and −Σ g t / (D − 1), per unit t.
  let sums = b_rec[2u + 2u * q];
  let a_mean = cq * sums.x / d;
  let a_var = cq * sums.y / (d - 1.0);
  var k = q * P.dim;
  for (var py = 0u; py < P.p; py++) {
    for (var px = 0u; px < P.p; px++) {
      for (var c = 0u; c < P.chans; c++) {
        let i = base + c * plane + py * P.width + px;
        let t = (b_img[i] - st.z) * st.w;
        let g = -cq * (b_pred[k] - t);
        if (NORM_PIX != 0u) { b_out[i] = st.w * (g + a_mean + t * a_var); } else { b_out[i] = g; }
        k++;
      }
    }
  }
}
