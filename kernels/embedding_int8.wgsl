// Embedding gather from an int8 table: x[t, i] = q[id - rowStart, i] * scale[id - rowStart, i / group]
// for id = tokens[tokenPos + t] in this chunk. table: [rowCount, ceil(d/4)] u32 (four int8
// per word, lowest byte first, see engine/quantize.ts); scales: [rowCount, G] f32 (G = 1
// when GROUP is 0, else ceil(d / GROUP)); x: [T, d] f32.
struct Params { T: u32, d: u32, rowStart: u32, rowCount: u32 }
const GW = max(GROUP, 1u);

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;  // [cacheLen, tokenPos, ...]
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read> scales: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  let t = g.y;
  if (i >= p.d || t >= p.T) { return; }
  let id = tokens[state[1] + t];
  if (id < p.rowStart || id >= p.rowStart + p.rowCount) { return; }
  let r = id - p.rowStart;
  let d4 = (p.d + 3u) / 4u;
  let G = select((p.d + GW - 1u) / GW, 1u, GROUP == 0u);
  let q = unpack4xI8(table[r * d4 + i / 4u]);
  x[t * p.d + i] = f32(q[i % 4u]) * scales[r * G + select(i / GW, 0u, GROUP == 0u)];
}
