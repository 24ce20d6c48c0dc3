// Sampling transform of logits rows (one workgroup per row): probabilities of
// softmax(logits / T), restricted to the top-p nucleus when topP < 1 (the smallest set of
// most likely tokens whose mass reaches topP, as transformers' TopPLogitsWarper; tokens tied
// at the threshold are all kept) and renormalized.
// flags bit 0: sample a token from the row and write it to tokens[state[1] + offset] with
//   the draw rngUniform(seed, state[1] + offset, stream) (runs after `advance`, so that slot
//   is the next token); bit 1: write the probabilities to probs[dstRow + r, :].
// logits: [rows, V] f32, row srcRow + r; probs: [rows, V] f32.
struct Params {
  V: u32, srcRow: u32, dstRow: u32, offset: u32,
  seed: u32, stream: u32, flags: u32, _p0: u32,
  invT: f32, topP: f32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> tokens: array<u32>;

#include "rng.wgsl"
#include "inverse_cdf.wgsl"

const WG = 256u;
var<workgroup> part: array<f32, WG>;
var<workgroup> pickThread: u32;
var<workgroup> pickRest: f32;

#include "workgroup_reduce.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3u) {
  let V = p.V;
  let src = (p.srcRow + wg.x) * V;
  // Each thread owns one contiguous chunk of the row, so prefix sums are per chunk.
  let chunk = (V + WG - 1u) / WG;
  let v0 = min(V, li * chunk);
  let v1 = min(V, v0 + chunk);

  var m = -3.4e38;
  for (var v = v0; v < v1; v++) { m = max(m, logits[src + v]); }
  m = wgMax(li, m);
  var s = 0.0;
  for (var v = v0; v < v1; v++) { s += exp((logits[src + v] - m) * p.invT); }
  let total = wgSum(li, s);

  // Nucleus threshold on the bit patterns of the (positive) weights, which order like
  // the weights: the largest t with mass(weights >= t) >= topP * total.
  var thr = 0u;
  var mass = total;
  if (p.topP < 1.0) {
    let goal = p.topP * total;
    var lo = 0u;
    var hi = 0x3f800001u; // above every weight (all are <= 1)
    for (var it = 0u; it < 32u; it++) {
      let mid = lo + (hi - lo) / 2u;
      var acc = 0.0;
      for (var v = v0; v < v1; v++) {
        let e = exp((logits[src + v] - m) * p.invT);
        if (bitcast<u32>(e) >= mid) { acc += e; }
      }
      let got = wgSum(li, acc);
      if (hi - lo > 1u) {
        if (got >= goal) { lo = mid; mass = got; } else { hi = mid; }
      }
    }
    thr = lo;
  }

  var mine = 0.0;
  for (var v = v0; v < v1; v++) {
    let e = exp((logits[src + v] - m) * p.invT);
    let w = select(0.0, e, bitcast<u32>(e) >= thr);
    mine += w;
    if ((p.flags & 2u) != 0u) { probs[(p.dstRow + wg.x) * V + v] = w / mass; }
  }
  if ((p.flags & 1u) == 0u) { return; }

  // Inverse-CDF draw: find the chunk, then the token, where the running mass passes u * mass.
  part[li] = mine;
  workgroupBarrier();
  let pos = state[1] + p.offset;
  if (li == 0u) {
    findChunk(rngUniform(p.seed, pos, p.stream) * mass);
  }
  workgroupBarrier();
  if (li != pickThread) { return; }
  let rest = pickRest;
  var acc = 0.0;
  var tok = v0;
  for (var v = v0; v < v1; v++) {
    let e = exp((logits[src + v] - m) * p.invT);
    let w = select(0.0, e, bitcast<u32>(e) >= thr);
    if (w > 0.0) {
      tok = v;
      if (acc + w > rest) { break; }
      acc += w;
    }
  }
  tokens[pos] = tok;
}
