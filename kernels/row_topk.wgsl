// The K largest entries of one logits row, in descending order, ties to the lower id: chosen[j]
// (token) and chosenV[j] (its logit) for j < K <= 16. Needs at module scope the constant WG (a
// power of two) and `logits: array<f32>`; declares bestV, bestI, chosen, chosenV. Every
// invocation of the workgroup calls it (it holds barriers).
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;
var<workgroup> chosen: array<u32, 16>;
var<workgroup> chosenV: array<f32, 16>;

fn taken(v: u32, j: u32) -> bool {
  for (var i = 0u; i < j; i++) {
    if (chosen[i] == v) { return true; }
  }
  return false;
}

fn rowTopK(li: u32, row: u32, V: u32, K: u32) {
  for (var j = 0u; j < K; j++) {
    var bv = -3.4e38;
    var bi = 0xffffffffu;
    for (var v = li; v < V; v += WG) {
      let x = logits[row + v];
      if ((x > bv || bi == 0xffffffffu) && !taken(v, j)) { bv = x; bi = v; }
    }
    bestV[li] = bv;
    bestI[li] = bi;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h = h >> 1u) {
      if (li < h) {
        let ov = bestV[li + h];
        let oi = bestI[li + h];
        if (oi != 0xffffffffu &&
            (bestI[li] == 0xffffffffu || ov > bestV[li] || (ov == bestV[li] && oi < bestI[li]))) {
          bestV[li] = ov;
          bestI[li] = oi;
        }
      }
      workgroupBarrier();
    }
    if (li == 0u) {
      chosen[j] = bestI[0];
      chosenV[j] = bestV[0];
    }
    workgroupBarrier();
  }
}
