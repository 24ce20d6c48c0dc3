// Greedy verification of one speculative round, entirely on the GPU.
// logits: [K+1, V] target rows for tokens[base .. base+K] (base = last committed token, the
// target's tokenPos); drafts sit at tokens[base+1 .. base+K]. Accepts the longest prefix
// where draft == target argmax, writes the correction (or bonus) token after it, rolls
// both caches back by moving their lengths, and appends the accept count to the log.
// log: [rounds, accepted_0, accepted_1, ...].
struct Params { V: u32, K: u32, stop: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> targetState: array<u32>;
@group(0) @binding(2) var<storage, read_write> draftState: array<u32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(5) var<storage, read_write> log: array<u32>;
// Acceptance replay (REPLAY = 1u): accept counts come from replay = [n, a_0, ..., a_n-1]
// (cycled, capped at K) instead of the comparison, so real draft and verify kernels run at a
// chosen acceptance on models whose outputs never agree (synthetic weights).
@group(0) @binding(6) var<storage, read> replay: array<u32>;

// All K+1 <= 17 rows at once (argmax_rows.wgsl).
const WG = 256u;

#include "argmax_rows.wgsl"
#include "accept_commit.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  let lanes = rowsArgmax(li, 0u, p.K + 1u, p.V);
  if (li != 0u) { return; }
  let base = targetState[1];
  var a = 0u;
  if (REPLAY == 1u) {
    a = min(p.K, replay[1u + log[0] % max(replay[0], 1u)]);
  } else {
    while (a < p.K && tokens[base + 1u + a] == bestI[a * lanes]) { a++; }
  }
  tokens[base + 1u + a] = bestI[a * lanes];
  commitRound(base, a);
}
