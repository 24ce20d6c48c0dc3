// Static token tree, draft side: node r of this depth (logits row r) gets the W tokens the
// draft ranks highest as its children, in rank order, at tokens[base + childStart + r*W + j]
// (base = the root's token index, state[1] - state[STATE_TREE_FIRST]). Ties go to the lower id.
// logits: [rows, V] f32. One workgroup per row.
#include "tree.wgsl"
struct Params { V: u32, W: u32, childStart: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;

const WG = 256u;
#include "row_topk.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x;
  let row = r * p.V;
  rowTopK(li, row, p.V, p.W);
  if (li < p.W) {
    let base = state[1] - state[STATE_TREE_FIRST];
    tokens[base + p.childStart + r * p.W + li] = chosen[li];
  }
}
