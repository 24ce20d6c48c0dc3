// Naive linear layer, the oracle for matmul.wgsl: one invocation per output element.
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * W[n, k] + bias[n])
// x: [T, K] f32; W: [N, K] (WT); bias: [N] f32; y: [T, yStride] f32.
struct Params { T: u32, K: u32, N: u32, xOffset: u32, yStride: u32, yOffset: u32, flags: u32, _pad: u32 }
const ACCUMULATE = 1u;
const GELU = 2u;
const GELU_TANH = 4u;
const BIAS = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<WT>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

#include "activation.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let n = g.x;
  let t = g.y;
  if (n >= p.N || t >= p.T) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += x[p.xOffset + t * p.K + k] * f32(W[n * p.K + k]);
  }
  if ((p.flags & BIAS) != 0u) { acc += bias[n]; }
  acc = activate(acc, p.flags);
  let o = t * p.yStride + p.yOffset + n;
  if ((p.flags & ACCUMULATE) != 0u) { y[o] += acc; } else { y[o] = acc; }
}
