// Moves the accepted path's K/V entries into place in one layer's cache: node n_i (stream
// slot P + n_i after the tree pass) goes to P + i, for i = 1 .. a. n_i >= i and the n_i
// grow, so copying in order of i never overwrites a later source. path: [a, P, n_1 .. n_a]
// (tree_accept.wgsl); kCache, vCache: [C, H, hd] f32; one invocation per (head, dim) column.
#include "sink_window.wgsl"
struct Params { HD: u32, C: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> path: array<u32>;
@group(0) @binding(3) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(4) var<storage, read_write> vCache: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let e = g.x;
  if (e >= p.HD) { return; }
  let a = path[0];
  let P = path[1];
  let sinks = state[STATE_SINKS];
  for (var i = 1u; i <= a; i++) {
    let src = cacheSlot(P + path[1u + i], sinks, p.C) * p.HD + e;
    let dst = cacheSlot(P + i, sinks, p.C) * p.HD + e;
    kCache[dst] = kCache[src];
    vCache[dst] = vCache[src];
  }
}
