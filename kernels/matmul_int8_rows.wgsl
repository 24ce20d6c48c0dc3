// matmul_int8_rows_body.wgsl over storage buffers: on lavapipe a storage load costs per 4-byte
// component and lane (PERF.md), so four int8 weights a component take half of matmul_rows'
// loads. x: [T, K] f32 (vec4 view); W: k16-interleaved int8 (vec4<u32> view).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> W: array<vec4u>;

fn xv(i: u32) -> vec4f {
  return x[i];
}

fn wload(i: u32) -> vec4u {
  return W[i];
}

#include "matmul_int8_rows_body.wgsl"
