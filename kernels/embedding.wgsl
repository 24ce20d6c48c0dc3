// Embedding gather: x[t, :] = table[tokens[tokenPos + t] - rowStart, :] for ids in this chunk.
// table: [rowCount, d] (one chunk of embed_in, WT = f16 or f32); x: [T, d] f32.
struct Params { T: u32, d: u32, rowStart: u32, rowCount: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;  // [cacheLen, tokenPos, ...]
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<WT>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  let t = g.y;
  if (i >= p.d || t >= p.T) { return; }
  let id = tokens[state[1] + t];
  if (id < p.rowStart || id >= p.rowStart + p.rowCount) { return; }
  x[t * p.d + i] = f32(table[(id - p.rowStart) * p.d + i]);
}
