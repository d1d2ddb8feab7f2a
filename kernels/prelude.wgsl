// Helpers every kernel may call. The runtime puts this file in front of each kernel's source when
// it builds the shader module (src/engine/runtime.ts), so no kernel file defines them itself.

/** The flat index of an invocation in the 2-D grid of `wg`-wide workgroups runtime.grid1d makes. */
fn flat_id(gid: vec3u, nwg: vec3u, wg: u32) -> u32 { return gid.x + gid.y * nwg.x * wg; }
/** flat_id for the 64-wide workgroups of the elementwise-style kernels. */
fn linear(gid: vec3u, nwg: vec3u) -> u32 { return flat_id(gid, nwg, 64u); }
/** Horizontal sum and maximum of a vec4, paired so that the sum rounds the same on every adapter. */
fn hsum(v: vec4f) -> f32 { return (v.x + v.y) + (v.z + v.w); }
fn hmax(v: vec4f) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
