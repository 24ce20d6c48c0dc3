// Moves a sequence to the next tree pass, over nodes [first, ...): cacheLen = P + first,
// tokenPos = base + first (tree.wgsl), so the plain embedding and kv_append serve tree passes.
// state: [cacheLen, tokenPos, first, ...].
#include "tree.wgsl"
struct Params { first: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;

@compute @workgroup_size(1)
fn main() {
  let prev = state[STATE_TREE_FIRST];
  state[0] = state[0] - prev + p.first;
  state[1] = state[1] - prev + p.first;
  state[STATE_TREE_FIRST] = p.first;
}
