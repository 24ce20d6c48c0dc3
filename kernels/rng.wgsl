// Counter-based random numbers for sampling: a draw is a pure function of (seed, token
// position, stream), so a run is reproducible from its seed and independent of how steps
// and rounds are batched into submits. Streams: 0 plain sampling, 1 draft proposal,
// 2 accept test, 3 residual / bonus resample.
fn rngHash(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

// Uniform in [0, 1) with 24 random bits.
fn rngUniform(seed: u32, pos: u32, stream: u32) -> f32 {
  let h = rngHash(rngHash(rngHash(seed) ^ (stream * 0x9e3779b9u)) + pos);
  return f32(h >> 8u) * (1.0 / 16777216.0);
}
