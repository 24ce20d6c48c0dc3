// Geometry of the KV cache, shared by rotary, kv_append and attention (included, not a
// pipeline of its own). The cache policy lives in state words (engine/model.ts):
// sinks S, high mark (most entries kept; 0: full cache, nothing is evicted) and low mark
// (entries kept right after a compression; equal to high for StreamingLLM's one-by-one
// eviction). state[0] counts the entries ever appended, so a token's stream position p is
// state[0] + t, and rolling back a speculative pass only moves state[0].
//
// Every token sees what a token-by-token run of the policy would have cached when it was
// appended: the sinks and the most recent live(p) - S entries, itself last. Its cache index
// (the rotary position of its query) is live(p) - 1; cache index i holds the entry of stream
// position i (i < S) or i + p + 1 - live(p).
//
// Storage: slots [0, S) hold the sinks, slots [S, C) a ring of the later stream positions.
// C exceeds the high mark by the most entries a pass appends or a rollback drops, so the
// entries an earlier query in the pass still sees are not overwritten before it reads them.
const STATE_SINKS = 13u;
const STATE_HIGH = 14u;
const STATE_LOW = 15u;

// Entries cached after appending stream position pos (its own included).
fn liveEntries(pos: u32, high: u32, low: u32) -> u32 {
  if (high == 0u || pos < high) { return pos + 1u; }
  return low + (pos - high) % (high - low + 1u);
}

// Storage slot of stream position pos in a cache of C slots with S sinks.
fn cacheSlot(pos: u32, sinks: u32, C: u32) -> u32 {
  if (pos < sinks) { return pos; }
  return sinks + (pos - sinks) % (C - sinks);
}
