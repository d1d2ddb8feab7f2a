// Fixed sin-cos position tables (the MAE reference's get_2d_sincos_pos_embed), computed on the host.
/**
 * The reference's 2-D sin-cos table, [(cls ? 1 : 0) + gh·gw, dim] row-major: for patch (i, j) the
 * first dim/2 channels encode the column j and the last dim/2 the row i (the reference's
 * meshgrid(w, h) puts w first), each half as [sin(pos·ω_k), cos(pos·ω_k)] with ω_k = 10000^(-k/(dim/4)).
 * The cls row is zeros. The reference is square (gh = gw); the same rule serves any grid.
 */
export function sincosPosEmbed2d(dim: number, gh: number, gw: number, clsToken = true): Float32Array {
  if (dim % 4 !== 0) throw new Error(`sincosPosEmbed2d: dim ${dim} must be a multiple of 4`);
  const quarter = dim / 4;
  const lead = clsToken ? 1 : 0;
  const out = new Float32Array((lead + gh * gw) * dim);
  for (let i = 0; i < gh; i++) {
    for (let j = 0; j < gw; j++) {
      const row = (lead + i * gw + j) * dim;
      for (let k = 0; k < quarter; k++) {
        const omega = 1 / 10000 ** (k / quarter);
        out[row + k] = Math.sin(j * omega);
        out[row + quarter + k] = Math.cos(j * omega);
        out[row + 2 * quarter + k] = Math.sin(i * omega);
        out[row + 3 * quarter + k] = Math.cos(i * omega);
      }
    }
  }
  return out;
}
