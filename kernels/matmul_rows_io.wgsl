// What the matmul_rows family shares (matmul_rows_body.wgsl, matmul_int8_rows_body.wgsl): the
// uniform layout (engine/ops/linear.ts), the bias and output bindings and the epilogue, FLAGS a
// pipeline constant (matmul_tile.wgsl says why).
struct Params { T: u32, K: u32, N: u32, xOffset: u32, yStride: u32, yOffset: u32, flags: u32, _pad: u32 }
const ACCUMULATE = 1u;
const BIAS = 8u;

@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

#include "activation.wgsl"

// y[row, yOffset + n] (+)= act(v + bias[n]), as FLAGS says.
fn storeOut(n: u32, row: u32, v: f32) {
  var s = v;
  if ((FLAGS & BIAS) != 0u) { s += bias[n]; }
  s = activate(s, FLAGS);
  let o = row * p.yStride + p.yOffset + n;
  if ((FLAGS & ACCUMULATE) != 0u) { y[o] += s; } else { y[o] = s; }
}
