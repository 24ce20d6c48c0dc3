// Argmax of each of `rows` logits rows from `base` (rows <= WG) at once by one workgroup: the
// invocations split evenly among the rows (the largest power of two each), the largest value,
// the first index on ties (as torch); a row of -inf picks index 0. Returns the invocations per
// row, `lanes`: row r's pick is in bestI[r * lanes] for invocation 0 (after the last barrier).
// No loop around a barrier: a one-row argmax called once per row in a loop cost ~2 ms on
// lavapipe for 4 rows of 8192, this ~0.1-0.25 ms (PERF.md); and every invocation scans.
// Needs at module scope: `logits: array<f32>` and the constant WG (a power of two).
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

fn rowsArgmax(li: u32, base: u32, rows: u32, V: u32) -> u32 {
  var lanes = WG;
  while (lanes > 1u && lanes * rows > WG) { lanes = lanes >> 1u; }
  let row = li / lanes;
  let lane = li % lanes;
  var bv = -3.4e38; // replaced by the first value (bi unset); a constant -inf is a WGSL error
  var bi = 0xffffffffu;
  if (row < rows) {
    for (var v = lane; v < V; v += lanes) {
      let x = logits[base + row * V + v];
      if (x > bv || bi == 0xffffffffu) { bv = x; bi = v; }
    }
  }
  bestV[li] = bv;
  bestI[li] = bi;
  workgroupBarrier();
  for (var s = lanes / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      let ov = bestV[li + s];
      let oi = bestI[li + s];
      if (ov > bestV[li] || (ov == bestV[li] && oi < bestI[li])) {
        bestV[li] = ov;
        bestI[li] = oi;
      }
    }
    workgroupBarrier();
  }
  return lanes;
}
