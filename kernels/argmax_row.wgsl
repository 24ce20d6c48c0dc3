// Argmax of one logits row by one workgroup of WG invocations: the largest value, the first
// index on ties (as torch); a row of -inf picks index 0. Every invocation gets the result.
// Needs at module scope: `logits: array<f32>` and the constant WG (a power of two).
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

fn rowArgmax(li: u32, base: u32, V: u32) -> u32 {
  var bv = -3.4e38; // replaced by the first value (bi unset); a constant -inf is a WGSL error
  var bi = 0xffffffffu;
  for (var v = li; v < V; v += WG) {
    let x = logits[base + v];
    if (x > bv || bi == 0xffffffffu) { bv = x; bi = v; }
  }
  bestV[li] = bv;
  bestI[li] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) {
      let ov = bestV[li + s];
      let oi = bestI[li + s];
      if (ov > bestV[li] || (ov == bestV[li] && oi < bestI[li])) {
        bestV[li] = ov;
        bestI[li] = oi;
      }
    }
    workgroupBarrier();
  }
  let r = bestI[0];
  workgroupBarrier();
  return r;
}
