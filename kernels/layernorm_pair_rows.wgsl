// layernorm_pair.wgsl's two LayerNorms shaped for software adapters (lavapipe), which pay
// per barrier and per load rather than per byte: no workgroup memory and no barrier. Each
// invocation owns one row and walks it three times as vec4s (mean, centred variance, then
// both outputs), the same two-pass math; d % 4 == 0. WGS set per pipeline.
// x, y1, y2: [T, d] f32; w1, b1, w2, b2: [d] f32.
struct Params { T: u32, d: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w1: array<vec4f>;
@group(0) @binding(3) var<storage, read> b1: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y1: array<vec4f>;
@group(0) @binding(5) var<storage, read> w2: array<vec4f>;
@group(0) @binding(6) var<storage, read> b2: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> y2: array<vec4f>;

fn hsum(v: vec4f) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

@compute @workgroup_size(WGS)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.T) { return; }
  let d4 = p.d / 4u;
  let row = g.x * d4;
  var s = vec4f(0.0);
  for (var i = 0u; i < d4; i++) { s += x[row + i]; }
  let mean = hsum(s) / f32(p.d);
  var v = vec4f(0.0);
  for (var i = 0u; i < d4; i++) {
    let c = x[row + i] - mean;
    v += c * c;
  }
  let rstd = 1.0 / sqrt(hsum(v) / f32(p.d) + p.eps);
  for (var i = 0u; i < d4; i++) {
    let n = (x[row + i] - mean) * rstd;
    y1[row + i] = n * w1[i] + b1[i];
    y2[row + i] = n * w2[i] + b2[i];
  }
}
