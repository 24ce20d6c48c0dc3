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
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;
var<workgroup> chosen: array<u32, 16>;

fn taken(v: u32, j: u32) -> bool {
  for (var i = 0u; i < j; i++) {
    if (chosen[i] == v) { return true; }
  }
  return false;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x;
  let row = r * p.V;
  for (var j = 0u; j < p.W; j++) {
    var bv = bitcast<f32>(0xff800000u);
    var bi = 0xffffffffu;
    for (var v = li; v < p.V; v += WG) {
      let x = logits[row + v];
      if ((x > bv || bi == 0xffffffffu) && !taken(v, j)) { bv = x; bi = v; }
    }
    bestV[li] = bv;
    bestI[li] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
      if (li < s) {
        let ov = bestV[li + s];
        let oi = bestI[li + s];
        if (oi != 0xffffffffu &&
            (bestI[li] == 0xffffffffu || ov > bestV[li] || (ov == bestV[li] && oi < bestI[li]))) {
          bestV[li] = ov;
          bestI[li] = oi;
        }
      }
      workgroupBarrier();
    }
    if (li == 0u) { chosen[j] = bestI[0]; }
    workgroupBarrier();
  }
  if (li < p.W) {
    let base = state[1] - state[STATE_TREE_FIRST];
    tokens[base + p.childStart + r * p.W + li] = chosen[li];
  }
}
