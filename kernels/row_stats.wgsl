// LayerNorm's statistics of one row x[row .. row + d): (mean, 1 / sqrt(biased variance + eps)),
// two-pass. Needs at module scope `p.d`, `p.eps`, `x: array<f32>` and workgroup_reduce.wgsl
// included before it; every invocation of the workgroup calls it.
fn rowMeanRstd(li: u32, row: u32) -> vec2f {
  var s = 0.0;
  for (var i = li; i < p.d; i += WG) { s += x[row + i]; }
  let mean = wgSum(li, s) / f32(p.d);
  var v = 0.0;
  for (var i = li; i < p.d; i += WG) { let c = x[row + i] - mean; v += c * c; }
  return vec2f(mean, 1.0 / sqrt(wgSum(li, v) / f32(p.d) + p.eps));
}
