// Rotary of a tree pass's queries (rotary.wgsl with a tree): node u at depth k is the
// (k+1)-th token after the committed prefix of P entries, so its query is rotated by the
// cache index that stream position P + k has (sink_window.wgsl), not by its node index.
// qkv: [T, H, 3*hd] f32; q: [T, H, hd] f32 rotated; cosSin: [P, rot/2, 2] f32;
// tree: [nodes, 4] u32 (tree.wgsl).
#include "sink_window.wgsl"
#include "tree.wgsl"
struct Params { T: u32, H: u32, hd: u32, rot: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> cosSin: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read> tree: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  let th = g.y;
  if (i >= p.hd || th >= p.T * p.H) { return; }
  let t = th / p.H;
  let src = th * 3u * p.hd;
  var v = qkv[src + i];
  if (i < p.rot) {
    let first = state[STATE_TREE_FIRST];
    let P = state[0] - first;
    let half = p.rot / 2u;
    let f = i % half;
    let pos = liveEntries(P + tree[(first + t) * 4u], state[STATE_HIGH], state[STATE_LOW]) - 1u;
    let c = cosSin[(pos * half + f) * 2u];
    let s = cosSin[(pos * half + f) * 2u + 1u];
    if (i < half) {
      v = v * c - qkv[src + i + half] * s;
    } else {
      v = v * c + qkv[src + i - half] * s;
    }
  }
  q[th * p.hd + i] = v;
}
