// Inverse-CDF draw, first step: the invocation whose chunk of the distribution holds the
// point `goal` of the running mass part[0] + part[1] + ..., and the mass left at its start
// (pickThread, pickRest). Rounding can leave goal past the sum: then the last chunk with any
// mass is taken. Needs at module scope: WG and the workgroup variables
// part: array<f32, WG>, pickThread: u32, pickRest: f32.
fn findChunk(goal: f32) {
  var acc = 0.0;
  var pick = WG;
  var last = 0u;
  for (var j = 0u; j < WG; j++) {
    if (part[j] > 0.0) {
      last = j;
      if (pick == WG && acc + part[j] > goal) { pick = j; pickRest = goal - acc; }
      acc += part[j];
    }
  }
  if (pick == WG) { pick = last; pickRest = 3.4e38; }
  pickThread = pick;
}
