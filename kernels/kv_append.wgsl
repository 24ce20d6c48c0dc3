// Appends this pass's keys (before rotary) and values to one layer's cache.
// qkv: [T, H, 3*hd] f32; kCache, vCache: [C, H, hd] f32; token t (stream position
// state[0] + t) goes to its slot in the sink + ring layout of sink_window.wgsl.
#include "sink_window.wgsl"
struct Params { T: u32, H: u32, hd: u32, C: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(4) var<storage, read_write> vCache: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  let th = g.y;
  if (i >= p.hd || th >= p.T * p.H) { return; }
  let t = th / p.H;
  let h = th % p.H;
  let pos = state[0] + t;
  // A full cache never wraps: positions past its capacity are dropped.
  if (state[STATE_HIGH] == 0u && pos >= p.C) { return; }
  let slot = cacheSlot(pos, state[STATE_SINKS], p.C);
  let src = th * 3u * p.hd;
  let dst = (slot * p.H + h) * p.hd + i;
  kCache[dst] = qkv[src + p.hd + i];
  vCache[dst] = qkv[src + 2u * p.hd + i];
}
