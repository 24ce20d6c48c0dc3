// Commits a pass of T tokens: the cache grew by T entries and T tokens were consumed.
// state: [cacheLen, tokenPos, ...].
struct Params { T: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;

@compute @workgroup_size(1)
fn main() {
  state[0] += p.T;
  state[1] += p.T;
}
