// matmul_rows.wgsl for any K: x read as scalars (its rows need not be 16-byte aligned).
// x: [T, K] f32; W: k8-interleaved f16 (vec4<u32> view); bias: [N] f32; y: [T, yStride] f32.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;

fn xs(row: u32, k: u32) -> f32 {
  return select(0.0, x[row + k], k < p.K);
}

fn xw(row: u32, k: u32) -> vec4f {
  return vec4f(xs(row, k), xs(row, k + 1u), xs(row, k + 2u), xs(row, k + 3u));
}

@group(0) @binding(2) var<storage, read> W: array<vec4u>;

fn wload(i: u32) -> vec4u {
  return W[i];
}

#include "matmul_rows_body.wgsl"
