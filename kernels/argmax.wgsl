// Greedy pick: tokens[state[1] + T] = argmax_v logits[row, v] (first index on ties, as torch).
// logits: [rows, V] f32. state[1] is this pass's first token: with ADVANCE = 1u the kernel then
// commits the pass itself (advance.wgsl: cacheLen and tokenPos += T), one dispatch fewer.
struct Params { V: u32, row: u32, T: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;

// WG invocations, set per pipeline (a power of two, tuned: engine/autotune.ts tuneArgmax). 32 on
// lavapipe: 55-65 us against 94 us with 256 in one probe, all sizes alike (69-98 us) in another
// (PERF.md), fewer slices to resume at each barrier; on a GPU each invocation's loads run one
// after another, so more invocations take less time.
#include "argmax_rows.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  rowsArgmax(li, p.row * p.V, 1u, p.V);
  if (li == 0u) {
    tokens[state[1] + p.T] = bestI[0];
    if (ADVANCE == 1u) {
      state[0] += p.T;
      state[1] += p.T;
    }
  }
}
