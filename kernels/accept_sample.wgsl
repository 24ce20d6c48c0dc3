// Speculative sampling verification of one round (Leviathan et al. / Chen et al.), entirely
// on the GPU. pr: [K+1, V] target probabilities p_0..p_K (after temperature and top-p) for
// the positions after tokens[base .. base+K]; qr: [K, V] draft probabilities q_0..q_{K-1}
// that drafts x_i = tokens[base+1+i] were sampled from (base = the target's tokenPos).
// For i = 0..K-1: accept x_i with probability min(1, p_i(x_i) / q_i(x_i)) (draw
// rngUniform(seed, base+1+i, 2)); at the first rejection resample from
// norm(max(0, p_i - q_i)) and stop; when all K are accepted sample the bonus from p_K
// (draw rngUniform(seed, base+1+a, 3)). Then the cache rollback and round log of
// accept_commit.wgsl. rule (tests only): 0 this rule; 1 always accept the drafts;
// 2 resample from p_i instead of the residual.
struct Params { V: u32, K: u32, seed: u32, rule: u32, stop: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> targetState: array<u32>;
@group(0) @binding(2) var<storage, read_write> draftState: array<u32>;
@group(0) @binding(3) var<storage, read> pr: array<f32>;
@group(0) @binding(4) var<storage, read> qr: array<f32>;
@group(0) @binding(5) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(6) var<storage, read_write> log: array<u32>;

#include "rng.wgsl"
#include "inverse_cdf.wgsl"
#include "accept_commit.wgsl"

const WG = 256u;
var<workgroup> part: array<f32, WG>;
var<workgroup> sharedA: u32;
var<workgroup> sharedBase: u32;
var<workgroup> pickThread: u32;
var<workgroup> pickRest: f32;

// Weight of token v in the distribution the correction or bonus token is drawn from.
fn weight(a: u32, v: u32, residual: bool) -> f32 {
  let pv = pr[a * p.V + v];
  if (!residual) { return pv; }
  return max(0.0, pv - qr[a * p.V + v]);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  if (li == 0u) {
    let base = targetState[1];
    var a = 0u;
    while (a < p.K) {
      let x = tokens[base + 1u + a];
      let px = pr[a * p.V + x];
      let qx = qr[a * p.V + x];
      // u < p/q without dividing (q > 0: x was drawn from q).
      if (p.rule != 1u && !(rngUniform(p.seed, base + 1u + a, 2u) * qx < px)) { break; }
      a++;
    }
    sharedA = a;
    sharedBase = base;
  }
  let a = workgroupUniformLoad(&sharedA);
  let base = workgroupUniformLoad(&sharedBase);
  let V = p.V;
  let chunk = (V + WG - 1u) / WG;
  let v0 = min(V, li * chunk);
  let v1 = min(V, v0 + chunk);

  var sumRes = 0.0;
  var sumP = 0.0;
  for (var v = v0; v < v1; v++) {
    sumP += weight(a, v, false);
    if (a < p.K) { sumRes += weight(a, v, true); }
  }
  part[li] = sumRes;
  workgroupBarrier();
  // The residual is empty only through rounding (p_a == q_a cannot reject): fall back to p_a.
  if (li == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) { total += part[j]; }
    sharedA = select(0u, 1u, a < p.K && p.rule != 2u && total > 0.0);
  }
  let residual = workgroupUniformLoad(&sharedA) == 1u;
  part[li] = select(sumP, sumRes, residual);
  workgroupBarrier();
  let pos = base + 1u + a;
  if (li == 0u) {
    var mass = 0.0;
    for (var j = 0u; j < WG; j++) { mass += part[j]; }
    findChunk(rngUniform(p.seed, pos, 3u) * mass);
  }
  workgroupBarrier();
  if (li == pickThread) {
    let rest = pickRest;
    var acc = 0.0;
    var tok = v0;
    for (var v = v0; v < v1; v++) {
      let w = weight(a, v, residual);
      if (w > 0.0) {
        tok = v;
        if (acc + w > rest) { break; }
        acc += w;
      }
    }
    tokens[pos] = tok;
  }
  if (li != 0u) { return; }
  commitRound(base, a);
}
