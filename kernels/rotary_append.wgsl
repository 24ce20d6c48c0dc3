// rotary.wgsl and kv_append.wgsl in one dispatch (same grid: one invocation per head dim of
// each token and head): q = rotate_half rotary of the query slice of qkv by the query's cache
// index, and the key (before rotary) and value slices appended to the layer's cache slot.
// qkv: [T, H, 3*hd] f32; cosSin: [P, rot/2, 2] f32; q: [T, H, hd] f32;
// kCache, vCache: [C, H, hd] f32 (sink + ring layout of sink_window.wgsl).
#include "sink_window.wgsl"
struct Params { T: u32, H: u32, hd: u32, rot: u32, C: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> cosSin: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(6) var<storage, read_write> vCache: array<f32>;

#include "rotate_half.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;  // dim within the head
  let th = g.y; // t * H + h
  if (i >= p.hd || th >= p.T * p.H) { return; }
  let t = th / p.H;
  let h = th % p.H;
  let src = th * 3u * p.hd;
  let pos = state[0] + t;
  q[th * p.hd + i] = rotateHalf(src, i, pos);
  // A full cache never wraps: positions past its capacity are dropped.
  if (state[STATE_HIGH] == 0u && pos >= p.C) { return; }
  let slot = cacheSlot(pos, state[STATE_SINKS], p.C);
  let dst = (slot * p.H + h) * p.hd + i;
  kCache[dst] = qkv[src + p.hd + i];
  vCache[dst] = qkv[src + 2u * p.hd + i];
}
