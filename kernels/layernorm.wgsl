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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wg.x * p.d;
  var s = 0.0;
  for (var i = li; i < p.d; i += WG) { s += x[row + i]; }
  let mean = wgSum(li, s) / f32(p.d);
  var v = 0.0;
  for (var i = li; i < p.d; i += WG) { let c = x[row + i] - mean; v += c * c; }
  let rstd = 1.0 / sqrt(wgSum(li, v) / f32(p.d) + p.eps);
  for (var i = li; i < p.d; i += WG) {
    y[row + i] = (x[row + i] - mean) * rstd * w[i] + b[i];
  }
}
