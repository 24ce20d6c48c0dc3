// matmul_int8_rows_tex.wgsl with x read through a uniform binding, as matmul_rows_ubo.wgsl:
// the binding holds exactly the pass's rows (engine/ops/linear.ts binds x from row xRow, the
// offset in Params 0; XN = T * K / 4 vec4s set per pipeline), so it serves T <= 16 and
// T * K * 4 bytes within the adapter's uniform binding size.
// x: [T, K] f32 (vec4 view). TEXW, XN set per pipeline.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> x: array<vec4f, XN>;
@group(0) @binding(2) var W: texture_2d<u32>;

fn xv(i: u32) -> vec4f {
  return x[i];
}

fn wload(i: u32) -> vec4u {
  return textureLoad(W, vec2u(i % TEXW, i / TEXW), 0);
}

#include "matmul_int8_rows_body.wgsl"
