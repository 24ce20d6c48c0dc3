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
#include "row_topk.wgsl"
#include "workgroup_reduce.wgsl"

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
  rowTopK(li, row, p.V, p.K);
  if (li < p.K) {
    let at = (r * p.K + li) * 2u;
    cand[at] = chosen[li];
    cand[at + 1u] = bitcast<u32>(cum[p.parentStart + r] + chosenV[li] - lse);
  }
}
