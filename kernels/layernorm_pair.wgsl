// Both LayerNorms of a parallel-residual block over the same rows in one dispatch:
// y1[t, :] = norm(x[t, :]) * w1 + b1 and y2[t, :] = norm(x[t, :]) * w2 + b2, the mean and
// biased variance computed once (layernorm.wgsl's two-pass math).
// x, y1, y2: [T, d] f32; w1, b1, w2, b2: [d] f32. One workgroup of WG per row, WG set per
// pipeline (a power of two, tuned: engine/autotune.ts tuneNorms): 64 on the software adapter,
// 256 on a GPU, where each invocation's loads of a 2560-wide row run one after another.
struct Params { T: u32, d: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w1: array<f32>;
@group(0) @binding(3) var<storage, read> b1: array<f32>;
@group(0) @binding(4) var<storage, read_write> y1: array<f32>;
@group(0) @binding(5) var<storage, read> w2: array<f32>;
@group(0) @binding(6) var<storage, read> b2: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;

#include "workgroup_reduce.wgsl"
#include "row_stats.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x * p.d;
  let st = rowMeanRstd(li, row);
  let mean = st.x;
  let rstd = st.y;
  for (var i = li; i < p.d; i += WG) {
    let n = (x[row + i] - mean) * rstd;
    y1[row + i] = n * w1[i] + b1[i];
    y2[row + i] = n * w2[i] + b2[i];
  }
}
