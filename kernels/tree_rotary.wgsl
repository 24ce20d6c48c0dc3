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

#include "rotate_half.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  let th = g.y;
  if (i >= p.hd || th >= p.T * p.H) { return; }
  let t = th / p.H;
  let src = th * 3u * p.hd;
  // Node t of the pass sits at depth tree[..] after the committed prefix P.
  let first = state[STATE_TREE_FIRST];
  q[th * p.hd + i] = rotateHalf(src, i, state[0] - first + tree[(first + t) * 4u]);
}
