// matmul_rows.wgsl with the k8-interleaved weights in an rgba32uint texture (word i at texel
// (i % TEXW, i / TEXW); engine/ops/linear.ts weightTexture) instead of a storage buffer: on
// lavapipe a texel fetch is one 16-byte load per invocation where a storage load of a
// vec4<u32> is four scalar loads behind lane-by-lane branches (PERF.md). K % 4 == 0.
// x: [T, K] f32 (vec4 view); bias: [N] f32; y: [T, yStride] f32. TEXW set per pipeline.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var W: texture_2d<u32>;

fn xw(row: u32, k: u32) -> vec4f {
  return select(vec4f(0.0), x[(row + k) / 4u], k < p.K);
}

fn wload(i: u32) -> vec4u {
  return textureLoad(W, vec2u(i % TEXW, i / TEXW), 0);
}

#include "matmul_rows_body.wgsl"
