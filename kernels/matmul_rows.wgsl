// Barrier-free row-per-invocation linear layer over k8-interleaved f16 weights, x read as
// vec4 (K % 4 == 0); see matmul_rows_body.wgsl. matmul_rows_any.wgsl takes any K.
// x: [T, K] f32 (vec4 view); W: k8-interleaved f16 (vec4<u32> view); bias: [N] f32; y: [T, yStride] f32.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;

fn xw(row: u32, k: u32) -> vec4f {
  return select(vec4f(0.0), x[(row + k) / 4u], k < p.K);
}

@group(0) @binding(2) var<storage, read> W: array<vec4u>;

fn wload(i: u32) -> vec4u {
  return W[i];
}

#include "matmul_rows_body.wgsl"
