// Causal attention of T queries over one layer's KV cache, rotary applied to keys here.
// q: [T, H, hd] f32 (already rotated); kCache, vCache: [C, H, hd] f32 (keys before rotary);
// out: [T, H*hd] f32 (rows outStride apart when outStride != 0: a slice of a wider buffer). Query t (stream position state[0] + t) sees the cache a token-by-token
// run of the policy would have held when it was appended (sink_window.wgsl): n entries in
// cache-index order, key i rotated by its cache index i (full cache: the absolute position;
// sink cache: the StreamingLLM "pos-shift"). Each query gets its own window, so a verify
// pass of K+1 tokens scores exactly what K+1 single-token steps would have.
// MAXKEYS (scores held in workgroup memory) is set per pipeline: engine/cache_policy.ts
// MAX_CACHE_ENTRIES.
#include "sink_window.wgsl"
struct Params { T: u32, H: u32, hd: u32, rot: u32, C: u32, scale: f32, outStride: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kCache: array<f32>;
@group(0) @binding(4) var<storage, read> vCache: array<f32>;
@group(0) @binding(5) var<storage, read> cosSin: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const WG = 64u;
var<workgroup> score: array<f32, MAXKEYS>;
var<workgroup> qv: array<f32, 256>;
#include "workgroup_reduce.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let h = wg.x;
  let t = wg.y;
  let H = p.H;
  let hd = p.hd;
  let half = p.rot / 2u;
  let pos = state[0] + t;
  let sinks = state[STATE_SINKS];
  let n = min(liveEntries(pos, state[STATE_HIGH], state[STATE_LOW]), min(p.C, MAXKEYS));
  // Stream position of cache index i >= sinks: i + evicted.
  let evicted = pos + 1u - n;
  let qBase = (t * H + h) * hd;
  for (var i = li; i < hd; i += WG) { qv[i] = q[qBase + i]; }
  workgroupBarrier();

  var m = -3.4e38;
  for (var j = li; j < n; j += WG) {
    let kb = (cacheSlot(select(j + evicted, j, j < sinks), sinks, p.C) * H + h) * hd;
    var dot = 0.0;
    for (var f = 0u; f < half; f++) {
      let c = cosSin[(j * half + f) * 2u];
      let s = cosSin[(j * half + f) * 2u + 1u];
      let k1 = kCache[kb + f];
      let k2 = kCache[kb + f + half];
      dot += qv[f] * (k1 * c - k2 * s) + qv[f + half] * (k2 * c + k1 * s);
    }
    for (var i = p.rot; i < hd; i++) { dot += qv[i] * kCache[kb + i]; }
    let sc = dot * p.scale;
    score[j] = sc;
    m = max(m, sc);
  }
  let mx = wgMax(li, m);
  var sum = 0.0;
  for (var j = li; j < n; j += WG) {
    let e = exp(score[j] - mx);
    score[j] = e;
    sum += e;
  }
  let total = wgSum(li, sum);
  for (var d = li; d < hd; d += WG) {
    var acc = 0.0;
    // Walk the slots in cache-index order: sinks, then the ring from the window's start.
    var slot = 0u;
    for (var j = 0u; j < n; j++) {
      if (j == sinks) { slot = cacheSlot(j + evicted, sinks, p.C); }
      acc += score[j] * vCache[(slot * H + h) * hd + d];
      slot++;
      if (slot == p.C) { slot = sinks; }
    }
    out[t * select(H * hd, p.outStride, p.outStride != 0u) + h * hd + d] = acc / total;
  }
}
