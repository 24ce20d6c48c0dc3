// Greedy verification of a token tree, on the GPU. logits: [N, V] target rows of the tree's
// N nodes (node 0 = the root, the last committed token tokens[base]; node u's token at
// tokens[base + u]). From the root, step to the child whose token is the target's argmax at
// the current node while one exists; the a nodes stepped through are accepted and the argmax
// at the last one is the correction (or bonus) token. Writes the path's tokens to
// tokens[base+1 .. base+a] and the new token after them, the path [a, P, n_1 .. n_a] for
// tree_compact, the round's path to paths[r * MAX_DEPTH ..] (node | sibling rank << 16, the
// rank from tree[N * 4 + node], since a dynamic tree's layout changes each round) and a to the
// round log, then
// commits: the target keeps P + a + 1 entries; the draft keeps P + a (it re-reads the last
// accepted token with the new one, as in the chain). tree: [N, 4] u32 then [N] u32 sibling
// ranks (tree.wgsl).
#include "tree.wgsl"
struct Params { V: u32, N: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> targetState: array<u32>;
@group(0) @binding(2) var<storage, read_write> draftState: array<u32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(5) var<storage, read_write> log: array<u32>;
@group(0) @binding(6) var<storage, read> tree: array<u32>;
@group(0) @binding(7) var<storage, read_write> path: array<u32>;
@group(0) @binding(8) var<storage, read_write> paths: array<u32>;

const WG = 256u;
const MAX_DEPTH = 16u;
var<workgroup> picks: array<u32, MAX_NODES>;

#include "argmax_rows.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  let lanes = rowsArgmax(li, 0u, p.N, p.V); // every node's row at once
  if (li != 0u) { return; }
  for (var row = 0u; row < p.N; row++) { picks[row] = bestI[row * lanes]; }
  let base = targetState[1];
  let P = targetState[0];
  var cur = 0u;
  var a = 0u;
  var step = true;
  while (step) {
    step = false;
    for (var u = cur + 1u; u < p.N; u++) {
      if (tree[u * 4u + 1u] == cur && tokens[base + u] == picks[cur]) {
        a++;
        path[1u + a] = u;
        cur = u;
        step = true;
        break;
      }
    }
  }
  // Path nodes only grow (breadth-first order), so no token is overwritten before it is read.
  for (var i = 1u; i <= a; i++) { tokens[base + i] = tokens[base + path[1u + i]]; }
  tokens[base + a + 1u] = picks[cur];
  path[0] = a;
  path[1] = P;
  let r = log[0];
  for (var i = 0u; i < MAX_DEPTH; i++) {
    var w = 0u;
    if (i < a) { w = path[2u + i] | (tree[p.N * 4u + path[2u + i]] << 16u); }
    paths[r * MAX_DEPTH + i] = w;
  }
  log[1u + r] = a;
  log[0] = r + 1u;
  targetState[0] = P + a + 1u;
  targetState[1] = base + a + 1u;
  targetState[STATE_TREE_FIRST] = 0u;
  draftState[0] = P + a;
  draftState[1] = base + a;
  draftState[STATE_TREE_FIRST] = 0u;
}
