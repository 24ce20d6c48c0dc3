// Greedy pick: tokens[state[1] + T] = argmax_v logits[row, v] (first index on ties, as torch).
// logits: [rows, V] f32. Runs before `advance`, so state[1] is this pass's first token.
struct Params { V: u32, row: u32, T: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;

const WG = 256u;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  var bv = bitcast<f32>(0xff800000u); // -inf: all -inf logits still pick index 0
  var bi = 0xffffffffu;
  let base = p.row * p.V;
  for (var v = li; v < p.V; v += WG) {
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
  if (li == 0u) { tokens[state[1] + p.T] = bestI[0]; }
}
