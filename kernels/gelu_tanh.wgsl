// GELU in its tanh form (PyTorch's nn.GELU(approximate="tanh"), used by DiT's MLP) and the sigmoid
// it is computed with, shared by the kernels that apply it (elementwise, the matmul epilogue) so
// that both agree. Prepended to their sources by the ops that load them.
//
// 0.5·x·(1 + tanh(u)) = x·sigmoid(2u), u = √(2/π)·(x + 0.044715·x³). The sigmoid form keeps full
// relative accuracy where 1 + tanh(u) cancels (x below about -3), and neither form needs tanh.

// sigmoid(z) and 1 - sigmoid(z), each with full relative accuracy, from exp(-|z|): the exponential
// only underflows (to 0 for |z| large), never overflows, so no adapter sees inf / inf.
fn sigmoid_pair(z: f32) -> vec2f {
  let e = exp(-abs(z));
  let r = 1.0 / (1.0 + e);
  return select(vec2f(e * r, r), vec2f(r, e * r), z >= 0.0);
}

// Past |x| = 20 the sigmoid is exactly 0 or 1 in f32 (|2u| > 600), so u is computed from x clamped
// there: x³ never overflows, and the backward's polynomial stays finite.
const GELU_TANH_CLIP: f32 = 20.0;
const GELU_TANH_K0: f32 = 1.5957691216057308;   // 2·√(2/π)
const GELU_TANH_K1: f32 = 0.07135481627159709;  // 2·√(2/π)·0.044715

// 2u as a function of x, and its derivative.
fn gelu_tanh_2u(xc: f32) -> f32 { return xc * (GELU_TANH_K0 + GELU_TANH_K1 * xc * xc); }

fn gelu_tanh_f(x: f32) -> f32 {
  let xc = clamp(x, -GELU_TANH_CLIP, GELU_TANH_CLIP);
  return x * sigmoid_pair(gelu_tanh_2u(xc)).x;
}

// d/dx x·s(2u) = s + x·s·(1 - s)·2u'. The second term is 0 in f32 past the clip, so it uses the
// clamped x: finite for every finite input.
fn gelu_tanh_df(x: f32) -> f32 {
  let xc = clamp(x, -GELU_TANH_CLIP, GELU_TANH_CLIP);
  let s = sigmoid_pair(gelu_tanh_2u(xc));
  return s.x + xc * s.x * s.y * (GELU_TANH_K0 + 3.0 * GELU_TANH_K1 * xc * xc);
}
