// Shared epilogue of the linear kernels: exact (erf) GELU or its tanh form.
// erf by Abramowitz & Stegun 7.1.26 refined: |error| < 1.5e-7, below f32 resolution of GELU.

fn erf_f32(v: f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-a * a);
  return select(r, -r, v < 0.0);
}

fn activate(v: f32, flags: u32) -> f32 {
  if ((flags & 2u) != 0u) { return 0.5 * v * (1.0 + erf_f32(v * 0.7071067811865476)); }
  if ((flags & 4u) != 0u) {
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    return 0.5 * v * (1.0 + tanh(u));
  }
  return v;
}
