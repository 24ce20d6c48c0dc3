// matmul_rows_tex with x read through a uniform binding instead of a storage buffer: lavapipe
// (Mesa 22.3) loads a storage vec4 as four scalar loads behind lane-by-lane branches, a
// uniform vec4 as four branch-free gathers. x is the same for every invocation, so the x
// loads are a verify pass's per-token cost: at 4 tokens 6-13% less time than
// matmul_rows_tex, 2-5% at one (PERF.md). The binding holds exactly the pass's rows
// (engine/ops/linear.ts binds x from row xRow, XN = T * K / 4 vec4s set per pipeline), so it
// serves T <= 16 and T * K * 4 bytes within the adapter's uniform binding size.
// x: [T, K] f32 (vec4 view); bias: [N] f32; y: [T, yStride] f32. TEXW, XN set per pipeline.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> x: array<vec4f, XN>;
@group(0) @binding(2) var W: texture_2d<u32>;

fn xw(row: u32, k: u32) -> vec4f {
  return select(vec4f(0.0), x[(row + k) / 4u], k < p.K);
}

fn wload(i: u32) -> vec4u {
  return textureLoad(W, vec2u(i % TEXW, i / TEXW), 0);
}

#include "matmul_rows_body.wgsl"
