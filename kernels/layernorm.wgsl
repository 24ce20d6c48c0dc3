// LayerNorm over rows: y[t, :] = (x[t, :] - mean) / sqrt(var + eps) * w + b, biased variance.
// x, y: [T, d] f32; w, b: [d] f32. One workgroup per row, two-pass mean/variance.
struct Params { T: u32, d: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const WG = 64u;
#include "workgroup_reduce.wgsl"
#include "row_stats.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x * p.d;
  let st = rowMeanRstd(li, row);
  let mean = st.x;
  let rstd = st.y;
  for (var i = li; i < p.d; i += WG) {
    y[row + i] = (x[row + i] - mean) * rstd * w[i] + b[i];
  }
}
