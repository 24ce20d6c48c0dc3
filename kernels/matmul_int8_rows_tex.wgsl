// matmul_int8_rows.wgsl with the k16-interleaved weights in an rgba32uint texture (word i at
// texel (i % TEXW, i / TEXW); engine/ops/linear.ts weightTexture), as matmul_rows_tex.wgsl: on
// lavapipe a texel fetch is one 16-byte load per invocation where a storage load of a
// vec4<u32> is four scalar loads behind lane-by-lane branches (PERF.md).
// x: [T, K] f32 (vec4 view). TEXW set per pipeline.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var W: texture_2d<u32>;

fn xv(i: u32) -> vec4f {
  return x[i];
}

fn wload(i: u32) -> vec4u {
  return textureLoad(W, vec2u(i % TEXW, i / TEXW), 0);
}

#include "matmul_int8_rows_body.wgsl"
