// Dynamic token tree, draft side, step 2 of 2: of the rows * K candidates of tree_topk (row r's
// k-th best token, child of node parentStart + r), keep the `count` with the highest
// cumulative log-probability as the next depth's nodes childStart .. childStart + count - 1,
// in candidate order (by parent, then rank; ties in score go to the earlier candidate). Writes
// each kept node's token to tokens[base + node], its tree words [depth, parent, mask lo, hi]
// (the parent's mask plus itself), its sibling rank to tree[N * 4 + node] (the accept kernel
// logs it) and its score to cum. A node's descendants never score above it (log p <= 0), so
// this is EAGLE-2's top-k frontier with a fixed node count per depth.
// cand: [rows, K, 2] u32; tree: [N, 4] u32 then [N] u32 ranks (tree.wgsl); cum: [N] f32.
#include "tree.wgsl"
struct Params { K: u32, rows: u32, count: u32, childStart: u32, parentStart: u32, depth: u32, N: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> cand: array<u32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(4) var<storage, read_write> tree: array<u32>;
@group(0) @binding(5) var<storage, read_write> cum: array<f32>;

const MAX_CAND = 256u;
var<private> kept: array<bool, MAX_CAND>;

@compute @workgroup_size(1)
fn main() {
  let n = min(p.rows * p.K, MAX_CAND);
  for (var c = 0u; c < n; c++) { kept[c] = false; }
  for (var i = 0u; i < p.count; i++) {
    var best = 0xffffffffu;
    var bestS = -3.4e38;
    for (var c = 0u; c < n; c++) {
      let s = bitcast<f32>(cand[c * 2u + 1u]);
      if (!kept[c] && (best == 0xffffffffu || s > bestS)) { best = c; bestS = s; }
    }
    kept[best] = true;
  }
  let base = state[1] - state[STATE_TREE_FIRST];
  var u = p.childStart;
  for (var c = 0u; c < n; c++) {
    if (!kept[c]) { continue; }
    let r = c / p.K;
    let parent = p.parentStart + r;
    var lo = tree[parent * 4u + 2u];
    var hi = tree[parent * 4u + 3u];
    if (u < 32u) { lo = lo | (1u << u); } else { hi = hi | (1u << (u - 32u)); }
    tree[u * 4u] = p.depth;
    tree[u * 4u + 1u] = parent;
    tree[u * 4u + 2u] = lo;
    tree[u * 4u + 3u] = hi;
    tree[p.N * 4u + u] = c % p.K;
    tokens[base + u] = cand[c * 2u];
    cum[u] = bitcast<f32>(cand[c * 2u + 1u]);
    u++;
  }
}
