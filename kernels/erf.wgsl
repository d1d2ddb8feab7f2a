// erfc in f32, shared by the kernels that compute GELU in its exact erf form (elementwise, the
// matmul epilogue), so that both agree. Prepended to their sources by the ops that load them.

// erfc(z) for z >= 0 with relative error below 1.2e-7 (Chebyshev fit, Numerical Recipes' erfcc).
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p);
}
fn erfc_any(z: f32) -> f32 { return select(2.0 - erfc_pos(-z), erfc_pos(z), z >= 0.0); }
