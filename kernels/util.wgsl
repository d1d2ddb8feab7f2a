// Engine utilities: fill a buffer with a 32-bit pattern (poisoning, zeros, constants) and the
// optional NaN/Inf check. Launched over a 2-D grid of 64-wide workgroups (runtime.grid1d).

struct Params { n: u32, word: u32 }
@group(0) @binding(0) var<uniform> P: Params;

@group(0) @binding(1) var<storage, read_write> buf: array<u32>;

@compute @workgroup_size(64)
fn fill_u32(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i < P.n) { buf[i] = P.word; }
}

@group(0) @binding(2) var<storage, read_write> flag: atomic<u32>;

// P.word holds the op's sequence number; the smallest flagged number wins.
@compute @workgroup_size(64)
fn nan_check(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i < P.n) {
    let bits = buf[i];
    // Exponent all ones: Inf or NaN.
    if ((bits & 0x7f800000u) == 0x7f800000u) { atomicMin(&flag, P.word); }
  }
}

// A matrix as an rgba32float texture of P.word rows of P.n texels (runtime.textureOf): a row-major
// [P.word, 4·P.n] buffer one texel per vec4, where its rows are not the multiple of 256 bytes that a
// buffer-to-texture copy needs.
@group(0) @binding(1) var<storage, read> src4: array<vec4f>;
@group(0) @binding(2) var dst_tex: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(64)
fn to_texture(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i < P.n * P.word) { textureStore(dst_tex, vec2u(i % P.n, i / P.n), src4[i]); }
}

// The same texture from a [4·P.n, P.word] matrix stored the other way round (column y of the
// buffer is row y of the texture): texel (x, y) = the buffer's rows 4x .. 4x+3 at column y.
@group(0) @binding(1) var<storage, read> src1: array<f32>;

@compute @workgroup_size(64)
fn to_texture_t(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i < P.n * P.word) {
    let x = i % P.n;
    let y = i / P.n;
    let r = P.word;
    textureStore(dst_tex, vec2u(x, y), vec4f(src1[4u * x * r + y], src1[(4u * x + 1u) * r + y], src1[(4u * x + 2u) * r + y], src1[(4u * x + 3u) * r + y]));
  }
}

// An f32 buffer packed into halves, two per u32 (matmul.wgsl's A16 / B16): vec4 i of the source
// becomes vec2u i, for P.n vec4s (the source's length rounded up to 4: the runtime's buffers are
// sized in multiples of 16 bytes, so the last vec4 is in bounds).
@group(0) @binding(2) var<storage, read_write> dst_f16: array<vec2u>;

@compute @workgroup_size(64)
fn to_f16(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg);
  if (i < P.n) {
    let v = src4[i];
    dst_f16[i] = vec2u(pack2x16float(v.xy), pack2x16float(v.zw));
  }
}
