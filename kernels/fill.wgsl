// Seeded synthetic weights: out[i] = offset + scale * u(seed, i), u uniform in [-1, 1).
// Written as packed f16 pairs (PACKED = 1u) or f32 (PACKED = 0u) into a u32 array; or,
// with PACKED = 2u, random int8 weights q uniform in [-127, 127], four per u32 (scale and
// offset unused: the scales are a separate f32 fill).
struct Params { count: u32, seed: u32, scale: f32, offset: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

fn hash(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn value(i: u32) -> f32 {
  let h = hash(i ^ hash(p.seed));
  return p.offset + p.scale * (f32(h >> 8u) / 8388608.0 - 1.0);
}

fn int8Value(i: u32) -> i32 {
  return i32(hash(i ^ hash(p.seed)) % 255u) - 127;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let w = g.x + g.y * nw.x * 256u;
  if (PACKED == 2u) {
    if (4u * w >= p.count) { return; }
    let i = 4u * w;
    out[w] = pack4xI8(vec4i(int8Value(i), int8Value(i + 1u), int8Value(i + 2u), int8Value(i + 3u)));
  } else if (PACKED == 1u) {
    if (2u * w >= p.count) { return; }
    out[w] = pack2x16float(vec2f(value(2u * w), value(2u * w + 1u)));
  } else {
    if (w >= p.count) { return; }
    out[w] = bitcast<u32>(value(w));
  }
}
