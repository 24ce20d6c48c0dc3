// Dynamic token tree, draft side, step 1 of 2 (EAGLE-2's expansion): the top-K tokens of each
// row of the depth being expanded, scored by cumulative log-probability: score = cum[parent]
// + log softmax(logits row)[token], parent = parentStart + r. Ties go to the lower id.
// logits: [rows, V] f32; cum: [MAX_NODES] f32 (tree_select.wgsl writes it; cum[0] = 0, the
// root); cand: [rows, K, 2] u32 (token, bitcast score), read by tree_select. One workgroup
// per row.
#include "tree.wgsl"
struct Params { V: u32, K: u32, parentStart: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> cum: array<f32>;
@group(0) @binding(3) var<storage, read_write> cand: array<u32>;

const WG = 256u;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;
var<workgroup> chosen: array<u32, 16>;
var<workgroup> chosenV: array<f32, 16>;
#include "workgroup_reduce.wgsl"

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
  var m = -3.4e38;
  for (var v = li; v < p.V; v += WG) { m = max(m, logits[row + v]); }
  let mx = wgMax(li, m);
  var s = 0.0;
  for (var v = li; v < p.V; v += WG) { s += exp(logits[row + v] - mx); }
  let lse = mx + log(wgSum(li, s));
  for (var j = 0u; j < p.K; j++) {
    var bv = -3.4e38;
    var bi = 0xffffffffu;
    for (var v = li; v < p.V; v += WG) {
      let x = logits[row + v];
      if ((x > bv || bi == 0xffffffffu) && !taken(v, j)) { bv = x; bi = v; }
    }
    bestV[li] = bv;
    bestI[li] = bi;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h = h >> 1u) {
      if (li < h) {
        let ov = bestV[li + h];
        let oi = bestI[li + h];
        if (oi != 0xffffffffu &&
            (bestI[li] == 0xffffffffu || ov > bestV[li] || (ov == bestV[li] && oi < bestI[li]))) {
          bestV[li] = ov;
          bestI[li] = oi;
        }
      }
      workgroupBarrier();
    }
    if (li == 0u) {
      chosen[j] = bestI[0];
      chosenV[j] = bestV[0];
    }
    workgroupBarrier();
  }
  if (li < p.K) {
    let at = (r * p.K + li) * 2u;
    cand[at] = chosen[li];
    cand[at + 1u] = bitcast<u32>(cum[p.parentStart + r] + chosenV[li] - lse);
  }
}
