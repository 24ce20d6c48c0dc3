// Partial rotary ("rotate_half") on the query slices of the fused QKV output.
// qkv: [T, H, 3*hd] f32 (q, k, v consecutive per head); q: [T, H, hd] f32 rotated.
// Query t (stream position state[0] + t) is rotated by its cache index (sink_window.wgsl):
// its stream position in a full cache, the StreamingLLM "pos-shift" in a sink cache.
// cosSin: [P, rot/2, 2] f32 table of cos(p * inv_freq_i), sin(p * inv_freq_i).
#include "sink_window.wgsl"
struct Params { T: u32, H: u32, hd: u32, rot: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> cosSin: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;

#include "rotate_half.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;  // dim within the head
  let th = g.y; // t * H + h
  if (i >= p.hd || th >= p.T * p.H) { return; }
  let t = th / p.H;
  let src = th * 3u * p.hd;
  q[th * p.hd + i] = rotateHalf(src, i, state[0] + t);
}
