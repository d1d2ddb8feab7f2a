// Direct 2-D convolution (NCHW, groups = 1) and its two gradients, without workgroup memory.
// On the software adapters an invocation is one SIMD lane and a load with a per-lane address costs a
// loop over lanes while a multiply-add covers all of them (docs/design.md), so each invocation computes a
// small block of outputs: every loaded value then feeds several multiply-adds (8×8 measured best
// on llvmpipe: 4×4 and 16×8 were 1.8× and 4× slower).

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  o: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, ho: u32,
  wo: u32, chunk: u32, chunks: u32, p0: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

// Block sizes: output channels × output columns per invocation (forward), input channels × input
// columns (input gradient), output channels × input channels (weight gradient, one kernel row).
// The host reads these from this source, so launch grids follow any change here.
const OB = 8u;
const XB = 8u;
const CB = 8u;
const WOB = 4u;
const WCB = 4u;
// The longest input row segment one block reads: (XB − 1)·SW + KW ≤ SEG, and the widest kernel
// row the weight gradient keeps in registers: KW ≤ KMAX (both checked by the host).
const SEG = 64u;
const KMAX = 8u;

// Kernel width and column stride are pipeline constants, so the loops over a kernel row unroll and
// row segments stay in registers.
override KW: u32 = 3u;
override SW: u32 = 1u;
override HAS_BIAS: bool = false;

// ---------------------------------------------------------------- forward
@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(2) var<storage, read> fw: array<f32>;
@group(0) @binding(3) var<storage, read> fb: array<f32>;
@group(0) @binding(4) var<storage, read_write> fy: array<f32>;

// y[n, o, oy, ox] = b[o] + Σ_{c, ky, kx} x[n, c, oy·sh − ph + ky, ox·sw − pw + kx] · w[o, c, ky, kx]
// The block of output channels comes from the workgroup id (z), so the weight addresses are uniform
// over the workgroup; the lanes spread over (n, oy, column block). The input row segment under the
// block is loaded once per (c, ky) and reused for every kx.
@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let nxb = (P.wo + XB - 1u) / XB;
  if (t >= P.n * P.ho * nxb) { return; }
  let ox0 = (t % nxb) * XB;
  let oy = (t / nxb) % P.ho;
  let n = t / (nxb * P.ho);
  let o0 = wid.z * OB;
  var acc: array<f32, OB * XB>; // index j·XB + u
  let ksize = P.kh * KW;
  let seglen = (XB - 1u) * SW + KW;
  let ix0 = i32(ox0 * SW) - i32(P.pw);
  for (var c = 0u; c < P.c; c++) {
    for (var ky = 0u; ky < P.kh; ky++) {
      let iy = i32(oy * P.sh + ky) - i32(P.ph);
      if (iy < 0 || iy >= i32(P.h)) { continue; }
      let xrow = ((n * P.c + c) * P.h + u32(iy)) * P.w;
      var seg: array<f32, SEG>;
      for (var s = 0u; s < seglen; s++) {
        let ix = ix0 + i32(s);
        seg[s] = select(0.0, fx[xrow + u32(clamp(ix, 0, i32(P.w) - 1))], ix >= 0 && ix < i32(P.w));
      }
      for (var kx = 0u; kx < KW; kx++) {
        var wv: array<f32, OB>;
        for (var j = 0u; j < OB; j++) {
          wv[j] = fw[(min(o0 + j, P.o - 1u) * P.c + c) * ksize + ky * KW + kx];
        }
        for (var u = 0u; u < XB; u++) {
          let xv = seg[u * SW + kx];
          for (var j = 0u; j < OB; j++) { acc[j * XB + u] += wv[j] * xv; }
        }
      }
    }
  }
  for (var j = 0u; j < OB; j++) {
    let o = o0 + j;
    if (o >= P.o) { break; }
    var b = 0.0;
    if (HAS_BIAS) { b = fb[o]; }
    let yrow = ((n * P.o + o) * P.ho + oy) * P.wo;
    for (var u = 0u; u < XB; u++) {
      if (ox0 + u < P.wo) { fy[yrow + ox0 + u] = acc[j * XB + u] + b; }
    }
  }
}

// The same forward with the 8×8 block held in four mat4x4f accumulators and no arrays: for
// compilers that do not unroll loops over function-scope arrays (SwiftShader keeps such arrays in
// memory, which made the array version 5× slower there, while on llvmpipe this one is 1.6× slower).
fn outer4(a: vec4f, b: vec4f) -> mat4x4f { return mat4x4f(a * b.x, a * b.y, a * b.z, a * b.w); }

// x[row, ix] or 0 outside the row.
fn xat(row: u32, ix: i32) -> f32 {
  return select(0.0, fx[row + u32(clamp(ix, 0, i32(P.w) - 1))], ix >= 0 && ix < i32(P.w));
}
fn wat(o: u32, k: u32) -> f32 { return fw[min(o, P.o - 1u) * P.c * P.kh * KW + k]; }

// Writes channels o0..o0+3 of output column ox (those that exist).
fn store4(n: u32, o0: u32, oy: u32, ox: u32, v: vec4f) {
  if (ox >= P.wo) { return; }
  for (var j = 0u; j < 4u; j++) {
    let o = o0 + j;
    if (o >= P.o) { return; }
    var b = 0.0;
    if (HAS_BIAS) { b = fb[o]; }
    fy[((n * P.o + o) * P.ho + oy) * P.wo + ox] = v[j] + b;
  }
}

@compute @workgroup_size(64)
fn forward_mat(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let nxb = (P.wo + 7u) / 8u;
  if (t >= P.n * P.ho * nxb) { return; }
  let ox0 = (t % nxb) * 8u;
  let oy = (t / nxb) % P.ho;
  let n = t / (nxb * P.ho);
  let o0 = wid.z * 8u;
  // a<r><q>: output channels o0 + 4r .. +3 (matrix rows) × columns ox0 + 4q .. +3 (matrix columns).
  var a00 = mat4x4f(); var a01 = mat4x4f(); var a10 = mat4x4f(); var a11 = mat4x4f();
  let ixb = i32(ox0 * SW) - i32(P.pw);
  let s = i32(SW);
  for (var c = 0u; c < P.c; c++) {
    for (var ky = 0u; ky < P.kh; ky++) {
      let iy = i32(oy * P.sh + ky) - i32(P.ph);
      if (iy < 0 || iy >= i32(P.h)) { continue; }
      let xrow = ((n * P.c + c) * P.h + u32(iy)) * P.w;
      for (var kx = 0u; kx < KW; kx++) {
        let k = (c * P.kh + ky) * KW + kx;
        let w0 = vec4f(wat(o0, k), wat(o0 + 1u, k), wat(o0 + 2u, k), wat(o0 + 3u, k));
        let w1 = vec4f(wat(o0 + 4u, k), wat(o0 + 5u, k), wat(o0 + 6u, k), wat(o0 + 7u, k));
        let i0 = ixb + i32(kx);
        let x0 = vec4f(xat(xrow, i0), xat(xrow, i0 + s), xat(xrow, i0 + 2 * s), xat(xrow, i0 + 3 * s));
        let x1 = vec4f(xat(xrow, i0 + 4 * s), xat(xrow, i0 + 5 * s), xat(xrow, i0 + 6 * s), xat(xrow, i0 + 7 * s));
        a00 += outer4(w0, x0); a01 += outer4(w0, x1);
        a10 += outer4(w1, x0); a11 += outer4(w1, x1);
      }
    }
  }
  store4(n, o0, oy, ox0, a00[0]); store4(n, o0, oy, ox0 + 1u, a00[1]);
  store4(n, o0, oy, ox0 + 2u, a00[2]); store4(n, o0, oy, ox0 + 3u, a00[3]);
  store4(n, o0, oy, ox0 + 4u, a01[0]); store4(n, o0, oy, ox0 + 5u, a01[1]);
  store4(n, o0, oy, ox0 + 6u, a01[2]); store4(n, o0, oy, ox0 + 7u, a01[3]);
  store4(n, o0 + 4u, oy, ox0, a10[0]); store4(n, o0 + 4u, oy, ox0 + 1u, a10[1]);
  store4(n, o0 + 4u, oy, ox0 + 2u, a10[2]); store4(n, o0 + 4u, oy, ox0 + 3u, a10[3]);
  store4(n, o0 + 4u, oy, ox0 + 4u, a11[0]); store4(n, o0 + 4u, oy, ox0 + 5u, a11[1]);
  store4(n, o0 + 4u, oy, ox0 + 6u, a11[2]); store4(n, o0 + 4u, oy, ox0 + 7u, a11[3]);
}

// ---------------------------------------------------------------- input gradient
@group(0) @binding(1) var<storage, read> gy_in: array<f32>;
@group(0) @binding(2) var<storage, read> gw_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx_out: array<f32>;

// dx[n, c, iy, ix] = Σ_{o, ky, kx} gy[n, o, oy, ox] · w[o, c, ky, kx] over the outputs that read it:
// oy = (iy + ph − ky) / sh and ox = (ix + pw − kx) / sw where those divide evenly and are in range.
// Same layout as the forward: workgroup z picks the block of input channels (uniform weight loads),
// lanes spread over (n, iy, column block). With stride 1 the gy row segment under the block is loaded
// once per (o, ky) and reused for every kx.
@compute @workgroup_size(64)
fn grad_x(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let nxb = (P.w + XB - 1u) / XB;
  if (t >= P.n * P.h * nxb) { return; }
  let ix0 = (t % nxb) * XB;
  let iy = (t / nxb) % P.h;
  let n = t / (nxb * P.h);
  let c0 = wid.z * CB;
  var acc: array<f32, CB * XB>; // index j·XB + u
  let ksize = P.kh * KW;
  for (var o = 0u; o < P.o; o++) {
    for (var ky = 0u; ky < P.kh; ky++) {
      let ynum = i32(iy + P.ph) - i32(ky);
      if (ynum < 0 || u32(ynum) % P.sh != 0u || u32(ynum) / P.sh >= P.ho) { continue; }
      let grow = ((n * P.o + o) * P.ho + u32(ynum) / P.sh) * P.wo;
      // seg[s] = gy at ox = ix0 + pw − (KW − 1) + s (stride 1 only).
      var seg: array<f32, SEG>;
      if (SW == 1u) {
        let ox0 = i32(ix0 + P.pw) - i32(KW - 1u);
        for (var s = 0u; s < XB + KW - 1u; s++) {
          let ox = ox0 + i32(s);
          seg[s] = select(0.0, gy_in[grow + u32(clamp(ox, 0, i32(P.wo) - 1))], ox >= 0 && ox < i32(P.wo));
        }
      }
      for (var kx = 0u; kx < KW; kx++) {
        var wv: array<f32, CB>;
        for (var j = 0u; j < CB; j++) {
          wv[j] = gw_in[(o * P.c + min(c0 + j, P.c - 1u)) * ksize + ky * KW + kx];
        }
        for (var u = 0u; u < XB; u++) {
          var g: f32;
          if (SW == 1u) {
            g = seg[u + KW - 1u - kx];
          } else {
            let xnum = i32(ix0 + u + P.pw) - i32(kx);
            let ox = u32(max(xnum, 0)) / SW;
            let hit = xnum >= 0 && u32(xnum) % SW == 0u && ox < P.wo;
            g = select(0.0, gy_in[grow + min(ox, P.wo - 1u)], hit);
          }
          for (var j = 0u; j < CB; j++) { acc[j * XB + u] += wv[j] * g; }
        }
      }
    }
  }
  for (var j = 0u; j < CB; j++) {
    let c = c0 + j;
    if (c >= P.c) { break; }
    let xrow = ((n * P.c + c) * P.h + iy) * P.w;
    for (var u = 0u; u < XB; u++) {
      if (ix0 + u < P.w) { gx_out[xrow + ix0 + u] = acc[j * XB + u]; }
    }
  }
}

// grad_x with mat4x4f accumulators (see forward_mat): input channels c0 + 4r .. +3 (matrix rows) ×
// input columns ix0 + 4q .. +3 (matrix columns).
fn wgat(o: u32, c: u32, k: u32) -> f32 { return gw_in[(o * P.c + min(c, P.c - 1u)) * P.kh * KW + k]; }

// gy[row, ox] for ox·SW = num (0 when num is not a multiple of SW or ox is out of range).
fn gyat(row: u32, num: i32) -> f32 {
  let ox = u32(max(num, 0)) / SW;
  let hit = num >= 0 && u32(num) % SW == 0u && ox < P.wo;
  return select(0.0, gy_in[row + min(ox, P.wo - 1u)], hit);
}

fn store_gx4(n: u32, c0: u32, iy: u32, ix: u32, v: vec4f) {
  if (ix >= P.w) { return; }
  for (var j = 0u; j < 4u; j++) {
    let c = c0 + j;
    if (c >= P.c) { return; }
    gx_out[((n * P.c + c) * P.h + iy) * P.w + ix] = v[j];
  }
}

@compute @workgroup_size(64)
fn grad_x_mat(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let nxb = (P.w + 7u) / 8u;
  if (t >= P.n * P.h * nxb) { return; }
  let ix0 = (t % nxb) * 8u;
  let iy = (t / nxb) % P.h;
  let n = t / (nxb * P.h);
  let c0 = wid.z * 8u;
  var a00 = mat4x4f(); var a01 = mat4x4f(); var a10 = mat4x4f(); var a11 = mat4x4f();
  for (var o = 0u; o < P.o; o++) {
    for (var ky = 0u; ky < P.kh; ky++) {
      let ynum = i32(iy + P.ph) - i32(ky);
      if (ynum < 0 || u32(ynum) % P.sh != 0u || u32(ynum) / P.sh >= P.ho) { continue; }
      let grow = ((n * P.o + o) * P.ho + u32(ynum) / P.sh) * P.wo;
      for (var kx = 0u; kx < KW; kx++) {
        let k = ky * KW + kx;
        let w0 = vec4f(wgat(o, c0, k), wgat(o, c0 + 1u, k), wgat(o, c0 + 2u, k), wgat(o, c0 + 3u, k));
        let w1 = vec4f(wgat(o, c0 + 4u, k), wgat(o, c0 + 5u, k), wgat(o, c0 + 6u, k), wgat(o, c0 + 7u, k));
        let q = i32(ix0 + P.pw) - i32(kx);
        let g0 = vec4f(gyat(grow, q), gyat(grow, q + 1), gyat(grow, q + 2), gyat(grow, q + 3));
        let g1 = vec4f(gyat(grow, q + 4), gyat(grow, q + 5), gyat(grow, q + 6), gyat(grow, q + 7));
        a00 += outer4(w0, g0); a01 += outer4(w0, g1);
        a10 += outer4(w1, g0); a11 += outer4(w1, g1);
      }
    }
  }
  store_gx4(n, c0, iy, ix0, a00[0]); store_gx4(n, c0, iy, ix0 + 1u, a00[1]);
  store_gx4(n, c0, iy, ix0 + 2u, a00[2]); store_gx4(n, c0, iy, ix0 + 3u, a00[3]);
  store_gx4(n, c0, iy, ix0 + 4u, a01[0]); store_gx4(n, c0, iy, ix0 + 5u, a01[1]);
  store_gx4(n, c0, iy, ix0 + 6u, a01[2]); store_gx4(n, c0, iy, ix0 + 7u, a01[3]);
  store_gx4(n, c0 + 4u, iy, ix0, a10[0]); store_gx4(n, c0 + 4u, iy, ix0 + 1u, a10[1]);
  store_gx4(n, c0 + 4u, iy, ix0 + 2u, a10[2]); store_gx4(n, c0 + 4u, iy, ix0 + 3u, a10[3]);
  store_gx4(n, c0 + 4u, iy, ix0 + 4u, a11[0]); store_gx4(n, c0 + 4u, iy, ix0 + 5u, a11[1]);
  store_gx4(n, c0 + 4u, iy, ix0 + 6u, a11[2]); store_gx4(n, c0 + 4u, iy, ix0 + 7u, a11[3]);
}

// ---------------------------------------------------------------- weight gradient
@group(0) @binding(1) var<storage, read> wx_in: array<f32>;
@group(0) @binding(2) var<storage, read> wgy_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> gw_out: array<f32>;

// dw[o, c, ky, kx] = Σ_{n, oy, ox} gy[n, o, oy, ox] · x[n, c, oy·sh − ph + ky, ox·sw − pw + kx].
// Each invocation owns WOB output × WCB input channels × one kernel row (all KW taps) and walks the
// output positions along a row; the KW input values under the taps slide along with ox, so each step
// loads WOB values of gy and SW new values of x per input channel for WOB·WCB·KW multiply-adds.
// The batch is split into runs of `chunk` samples (workgroup z) for parallelism; run z writes its
// partial sums to slab z of [chunks, O, C, kh, kw], which the host sums afterwards.
@compute @workgroup_size(64)
fn grad_w(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let nob = (P.o + WOB - 1u) / WOB;
  let ncb = (P.c + WCB - 1u) / WCB;
  if (t >= nob * ncb * P.kh) { return; }
  let ky = t % P.kh;
  let c0 = ((t / P.kh) % ncb) * WCB;
  let o0 = (t / (P.kh * ncb)) * WOB;
  let part = wid.z;
  var acc: array<f32, WOB * WCB * KMAX>; // index (j·WCB + i)·KW + kx
  let n_end = min(P.n, (part + 1u) * P.chunk);
  for (var n = part * P.chunk; n < n_end; n++) {
    for (var oy = 0u; oy < P.ho; oy++) {
      let iy = i32(oy * P.sh + ky) - i32(P.ph);
      if (iy < 0 || iy >= i32(P.h)) { continue; }
      var xrow: array<u32, WCB>;
      for (var i = 0u; i < WCB; i++) { xrow[i] = ((n * P.c + min(c0 + i, P.c - 1u)) * P.h + u32(iy)) * P.w; }
      var grow: array<u32, WOB>;
      for (var j = 0u; j < WOB; j++) { grow[j] = ((n * P.o + min(o0 + j, P.o - 1u)) * P.ho + oy) * P.wo; }
      // win[i·KW + kx] = x[n, c0 + i, iy, ox·SW − pw + kx]; the step ox − 1 → ox shifts it by SW.
      var win: array<f32, WCB * KMAX>;
      var ix0 = -i32(P.pw) - i32(SW);
      for (var ox = 0u; ox < P.wo; ox++) {
        ix0 += i32(SW);
        for (var kx = 0u; kx < KW; kx++) {
          let ix = ix0 + i32(kx);
          let inside = ix >= 0 && ix < i32(P.w);
          let col = u32(clamp(ix, 0, i32(P.w) - 1));
          for (var i = 0u; i < WCB; i++) {
            if (kx + SW < KW && ox > 0u) {
              win[i * KW + kx] = win[i * KW + kx + SW];
            } else {
              win[i * KW + kx] = select(0.0, wx_in[xrow[i] + col], inside);
            }
          }
        }
        for (var j = 0u; j < WOB; j++) {
          let g = wgy_in[grow[j] + ox];
          for (var i = 0u; i < WCB; i++) {
            for (var kx = 0u; kx < KW; kx++) { acc[(j * WCB + i) * KW + kx] += g * win[i * KW + kx]; }
          }
        }
      }
    }
  }
  let ksize = P.kh * KW;
  for (var j = 0u; j < WOB; j++) {
    let o = o0 + j;
    if (o >= P.o) { break; }
    for (var i = 0u; i < WCB; i++) {
      let c = c0 + i;
      if (c >= P.c) { continue; }
      for (var kx = 0u; kx < KW; kx++) {
        gw_out[((part * P.o + o) * P.c + c) * ksize + ky * KW + kx] = acc[(j * WCB + i) * KW + kx];
      }
    }
  }
}

// ---------------------------------------------------------------- blocked forward (llvmpipe)
// A matmul-like register block: each invocation computes 16 output channels × 16 output pixels
// (YB16 rows × XB16 columns, YB16·XB16 = 16), the 256 outputs per invocation that make matmul fast
// on llvmpipe. Per input channel it loads the ROWS16 = (YB16 − 1)·SH + KH input row segments under
// the block once each (SEGLEN16 = (XB16 − 1)·SW + KW values) and, per tap, 16 weights as 4 vec4s
// from an address that is uniform over the workgroup (the channel block is the workgroup's z), for
// 256 multiply-adds per tap. The weights come pre-arranged by `arrange_weights` as
// wt[(c·KH + ky)·KW + kx][o], O padded to a multiple of 16 with zeros, so the 16 channels of a block
// are contiguous and aligned. The op unrolls the loops marked `// unroll` in the source (all bounds
// are per-pipeline constants): left to Mesa, some stayed loops, which indexes the accumulators
// dynamically and moves them all to memory (2 GFLOP/s instead of 10+). The input gradient of a
// stride-1 conv is this kernel too (see the op). No braces or parentheses in comments inside it.
override KH: u32 = 3u;
override SH: u32 = 1u;
override XB16: u32 = 16u;
override YB16: u32 = 1u;
override ROWS16: u32 = 3u;
override SEGLEN16: u32 = 18u;
// The longest input row segment and the most input rows: SEGLEN16 ≤ SEG16, ROWS16 ≤ 8 (host-checked).
const SEG16 = 40u;

@group(0) @binding(2) var<storage, read> fwt: array<vec4f>;

@compute @workgroup_size(64)
fn forward_blocked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let ntx = (P.wo + XB16 - 1u) / XB16;
  let nty = (P.ho + YB16 - 1u) / YB16;
  if (t >= P.n * nty * ntx) { return; }
  let ox0 = (t % ntx) * XB16;
  let oy0 = ((t / ntx) % nty) * YB16;
  let n = t / (ntx * nty);
  let o0 = wid.z * 16u;
  let opad = (P.o + 15u) & ~15u;
  // acc[4·pixel + q] holds output channels o0 + 4q .. +3 at pixel oy0 + yy, ox0 + xx.
  var acc: array<vec4f, 64>;
  let ix0 = i32(ox0 * SW) - i32(P.pw);
  let iy0 = i32(oy0 * SH) - i32(P.ph);
  for (var c = 0u; c < P.c; c++) {
    let xplane = (n * P.c + c) * P.h;
    for (var r = 0u; r < ROWS16; r++) { // unroll
      let iy = iy0 + i32(r);
      let rowin = iy >= 0 && iy < i32(P.h);
      let xrow = (xplane + u32(clamp(iy, 0, i32(P.h) - 1))) * P.w;
      var seg: array<f32, SEG16>;
      for (var s = 0u; s < SEGLEN16; s++) { // unroll
        let ix = ix0 + i32(s);
        seg[s] = select(0.0, fx[xrow + u32(clamp(ix, 0, i32(P.w) - 1))], rowin && ix >= 0 && ix < i32(P.w));
      }
      // Output row yy reads this input row through kernel row r − yy·SH.
      for (var yy = 0u; yy < YB16; yy++) { // unroll
        if (r >= yy * SH && r - yy * SH < KH) {
          for (var kx = 0u; kx < KW; kx++) { // unroll
            let wbase = (((c * KH + r - yy * SH) * KW + kx) * opad + o0) >> 2u;
            let w0 = fwt[wbase]; let w1 = fwt[wbase + 1u]; let w2 = fwt[wbase + 2u]; let w3 = fwt[wbase + 3u];
            for (var xx = 0u; xx < XB16; xx++) { // unroll
              let xv = seg[xx * SW + kx];
              let p = (yy * XB16 + xx) * 4u;
              acc[p] += w0 * xv; acc[p + 1u] += w1 * xv; acc[p + 2u] += w2 * xv; acc[p + 3u] += w3 * xv;
            }
          }
        }
      }
    }
  }
  // The bias is loaded once per channel before the stores, not once per output.
  var bias: array<f32, 16>;
  if (HAS_BIAS) {
    for (var j = 0u; j < 16u; j++) { bias[j] = fb[min(o0 + j, P.o - 1u)]; } // unroll
  }
  for (var yy = 0u; yy < YB16; yy++) { // unroll
    let oy = oy0 + yy;
    for (var xx = 0u; xx < XB16; xx++) { // unroll
      let ox = ox0 + xx;
      let inside = oy < P.ho && ox < P.wo;
      let p = (yy * XB16 + xx) * 4u;
      for (var j = 0u; j < 16u; j++) { // unroll
        let o = o0 + j;
        var v = acc[p + j / 4u][j % 4u];
        if (HAS_BIAS) { v += bias[j]; }
        if (inside && o < P.o) { fy[((n * P.o + o) * P.ho + oy) * P.wo + ox] = v; }
      }
    }
  }
}

// wt[(i·KK + k)·OP + j] = w[o, c, k'] with (i, j) = (c, o), k' = k for the forward (MODE 0), and
// (i, j) = (o, c), k' = KK − 1 − k (the kernel turned by 180°) for the input gradient (MODE 1);
// OP is j's extent padded to a multiple of 16 with zeros. P holds o, c and kh·kw in n, c, h.
@group(0) @binding(1) var<storage, read> aw_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> aw_out: array<f32>;
override MODE: u32 = 0u;

@compute @workgroup_size(64)
fn arrange_weights(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let o_n = P.n; let c_n = P.c; let kk = P.h;
  let j_n = select(o_n, c_n, MODE == 1u);
  let i_n = select(c_n, o_n, MODE == 1u);
  let op = (j_n + 15u) & ~15u;
  if (t >= i_n * kk * op) { return; }
  let j = t % op;
  let k = (t / op) % kk;
  let i = t / (op * kk);
  var v = 0.0;
  if (j < j_n) {
    let o = select(j, i, MODE == 1u);
    let c = select(i, j, MODE == 1u);
    let ks = select(k, kk - 1u - k, MODE == 1u);
    v = aw_in[(o * c_n + c) * kk + ks];
  }
  aw_out[t] = v;
}

// ---------------------------------------------------------------- blocked weight gradient (llvmpipe)
// dw[o, c, ky, kx] = Σ over n, oy, ox of gy[n, o, oy, ox] · x[n, c, oy·SH − ph + ky, ox·SW − pw + kx],
// as a matmul whose inner dimension is the output positions: each invocation owns 16 output × 2 input
// channels × all KH·KW taps (up to 288 sums) over a run of output rows, and walks each row 4 columns
// at a time. Per step it loads 16 vec4s of gy (4 columns of 16 channels) and, per input channel and
// kernel row, the 3·SW + KW input values under those columns, for 16·2·KH·KW dot products of vec4s.
// Run z of the output rows (invocation t / blocks) writes slab z of [runs, O, C, KH, KW]; the op sums
// the slabs. The op unrolls the loops marked `// unroll`; no braces or parentheses in comments here.
const WKK = 9u;
override VEC_GY: bool = true;
@group(0) @binding(1) var<storage, read> bw_x: array<f32>;
@group(0) @binding(2) var<storage, read> bw_gy: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> bw_out: array<f32>;

fn gy_at(i: u32) -> f32 { return bw_gy[i >> 2u][i & 3u]; }

@compute @workgroup_size(64)
fn grad_w_blocked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let ncb = (P.c + 1u) / 2u;
  let blocks = ((P.o + 15u) / 16u) * ncb;
  if (t >= blocks * P.chunks) { return; }
  let part = t / blocks;
  let c0 = (t % ncb) * 2u;
  let o0 = ((t % blocks) / ncb) * 16u;
  var acc: array<f32, 288>;
  let rows = P.n * P.ho;
  let r_end = min(rows, (part + 1u) * P.chunk);
  for (var r = part * P.chunk; r < r_end; r++) {
    let n = r / P.ho;
    let oy = r % P.ho;
    for (var ox0 = 0u; ox0 < P.wo; ox0 += 4u) {
      var gv: array<vec4f, 16>;
      for (var j = 0u; j < 16u; j++) { // unroll
        let grow = ((n * P.o + min(o0 + j, P.o - 1u)) * P.ho + oy) * P.wo;
        if (VEC_GY) {
          gv[j] = bw_gy[(grow + ox0) >> 2u];
        } else {
          let last = P.wo - 1u;
          gv[j] = vec4f(gy_at(grow + ox0), select(0.0, gy_at(grow + min(ox0 + 1u, last)), ox0 + 1u < P.wo),
            select(0.0, gy_at(grow + min(ox0 + 2u, last)), ox0 + 2u < P.wo), select(0.0, gy_at(grow + min(ox0 + 3u, last)), ox0 + 3u < P.wo));
        }
      }
      let ix0 = i32(ox0 * SW) - i32(P.pw);
      for (var i = 0u; i < 2u; i++) { // unroll
        let xplane = (n * P.c + min(c0 + i, P.c - 1u)) * P.h;
        for (var ky = 0u; ky < KH; ky++) { // unroll
          let iy = i32(oy * SH + ky) - i32(P.ph);
          let rowin = iy >= 0 && iy < i32(P.h);
          let xrow = (xplane + u32(clamp(iy, 0, i32(P.h) - 1))) * P.w;
          var seg: array<f32, SEG16>;
          for (var s = 0u; s < SEGLEN16; s++) { // unroll
            let ix = ix0 + i32(s);
            seg[s] = select(0.0, bw_x[xrow + u32(clamp(ix, 0, i32(P.w) - 1))], rowin && ix >= 0 && ix < i32(P.w));
          }
          for (var kx = 0u; kx < KW; kx++) { // unroll
            let xv = vec4f(seg[kx], seg[SW + kx], seg[2u * SW + kx], seg[3u * SW + kx]);
            for (var jj = 0u; jj < 16u; jj++) { // unroll
              acc[(jj * 2u + i) * WKK + ky * KW + kx] += dot(gv[jj], xv);
            }
          }
        }
      }
    }
  }
  let kk = KH * KW;
  for (var j = 0u; j < 16u; j++) { // unroll
    for (var i = 0u; i < 2u; i++) { // unroll
      for (var k = 0u; k < KK9; k++) { // unroll
        let o = o0 + j;
        let c = c0 + i;
        if (o < P.o && c < P.c) { bw_out[((part * P.o + o) * P.c + c) * kk + k] = acc[(j * 2u + i) * WKK + k]; }
      }
    }
  }
}
override KK9: u32 = 9u;

// ---------------------------------------------------------------- zero insertion (strided input gradient)
// d[nc, y, x] = gy[nc, y / SH, x / SW] where SH divides y and SW divides x, else 0, for
// y < (ho − 1)·SH + 1 and x < (wo − 1)·SW + 1 (P.n = N·O planes, P.ho, P.wo, P.sh, P.sw as in the
// conv): the input gradient of a strided conv is then a stride-1 conv of d, run by the blocked kernel.
@group(0) @binding(1) var<storage, read> dl_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> dl_out: array<f32>;

@compute @workgroup_size(64)
fn dilate(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  let hd = (P.ho - 1u) * P.sh + 1u;
  let wd = (P.wo - 1u) * P.sw + 1u;
  if (t >= P.n * hd * wd) { return; }
  let x = t % wd;
  let y = (t / wd) % hd;
  let plane = t / (wd * hd);
  var v = 0.0;
  if (y % P.sh == 0u && x % P.sw == 0u) { v = dl_in[(plane * P.ho + y / P.sh) * P.wo + x / P.sw]; }
  dl_out[t] = v;
}
