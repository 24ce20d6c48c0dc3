// Partial rotary ("rotate_half") of dim i of the query slice at qkv[src ..] for the token at
// stream position `stream`, rotated by its cache index (sink_window.wgsl): its stream position
// in a full cache, the StreamingLLM "pos-shift" in a sink cache. Needs at module scope
// `p.rot`, `state`, `qkv` and `cosSin` ([P, rot/2, 2] f32 of cos, sin(p * inv_freq_i)); and
// sink_window.wgsl included before it.
fn rotateHalf(src: u32, i: u32, stream: u32) -> f32 {
  let v = qkv[src + i];
  if (i >= p.rot) { return v; }
  let half = p.rot / 2u;
  let f = i % half;
  let pos = liveEntries(stream, state[STATE_HIGH], state[STATE_LOW]) - 1u;
  let c = cosSin[(pos * half + f) * 2u];
  let s = cosSin[(pos * half + f) * 2u + 1u];
  if (i < half) { return v * c - qkv[src + i + half] * s; }
  return v * c + qkv[src + i - half] * s;
}
