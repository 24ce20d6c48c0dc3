// Greedy pick: tokens[state[1] + T] = argmax_v logits[row, v] (first index on ties, as torch).
// logits: [rows, V] f32. Runs before `advance`, so state[1] is this pass's first token.
struct Params { V: u32, row: u32, T: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;

const WG = 256u;
#include "argmax_row.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  let best = rowArgmax(li, p.row * p.V, p.V);
  if (li == 0u) { tokens[state[1] + p.T] = best; }
}
