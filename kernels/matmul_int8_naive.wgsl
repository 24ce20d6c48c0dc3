// Naive linear layer on int8 weights, the oracle for matmul_int8.wgsl: one invocation per
// output element, each weight unpacked by shifts (not unpack4xI8) and dequantized alone.
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * (q[n, k] * scale[n, k / group]) + bias[n])
// x: [T, K] f32; W: [N, ceil(K/4)] u32; scales: [N, G] f32 (G = 1 when GROUP is 0, else
// ceil(K / GROUP)); bias: [N] f32; y: [T, yStride] f32.
struct Params { T: u32, K: u32, N: u32, xOffset: u32, yStride: u32, yOffset: u32, flags: u32, _pad: u32 }
const ACCUMULATE = 1u;
const BIAS = 8u;
const GW = max(GROUP, 1u);

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> scales: array<f32>;

#include "activation.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let n = g.x;
  let t = g.y;
  if (n >= p.N || t >= p.T) { return; }
  let K4 = (p.K + 3u) / 4u;
  let G = select((p.K + GW - 1u) / GW, 1u, GROUP == 0u);
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    let word = W[n * K4 + k / 4u];
    // move byte k%4 to the top, then shift back arithmetically to sign-extend it
    let q = bitcast<i32>(word << (24u - 8u * (k % 4u))) >> 24u;
    let s = scales[n * G + select(k / GW, 0u, GROUP == 0u)];
    acc += x[p.xOffset + t * p.K + k] * (f32(q) * s);
  }
  if ((p.flags & BIAS) != 0u) { acc += bias[n]; }
  acc = activate(acc, p.flags);
  let o = t * p.yStride + p.yOffset + n;
  if ((p.flags & ACCUMULATE) != 0u) { y[o] += acc; } else { y[o] = acc; }
}
