// Adapter probe: streaming read bandwidth (FMA = 0u) or arithmetic rate (FMA > 0u).
// src: [n] vec4<f32>; out: [invocations] vec4<f32> (one partial sum each, so the reads
// cannot be optimized away). Each invocation reads per = ceil(n / invocations) vec4s:
// LAYOUT = 0u grid-strided (neighbouring invocations read neighbouring vec4s, as a GPU
// wants), LAYOUT = 1u one contiguous run per invocation (what a CPU-backed adapter such as
// lavapipe may prefer). With FMA > 0 every element read also feeds FMA rounds of four
// independent vec4 fused multiply-adds (32 FLOPs per round).
// Constants per pipeline: FMA (rounds per element), LAYOUT.
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let threads = nw.x * WG;
  let per = (p.n + threads - 1u) / threads;
  let decay = vec4<f32>(0.999);
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(1.0);
  var a2 = vec4<f32>(2.0);
  var a3 = vec4<f32>(3.0);
  for (var j = 0u; j < per; j++) {
    let i = select(g.x + j * threads, g.x * per + j, LAYOUT == 1u);
    if (i >= p.n) { break; }
    let v = src[i];
    a0 += v;
    for (var r = 0u; r < FMA; r++) {
      a0 = fma(a0, decay, v);
      a1 = fma(a1, decay, v);
      a2 = fma(a2, decay, v);
      a3 = fma(a3, decay, v);
    }
  }
  out[g.x] = a0 + a1 + a2 + a3;
}
