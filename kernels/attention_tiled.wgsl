// Causal attention exactly as attention.wgsl computes it, for adapters whose workgroup
// memory cannot hold MAXKEYS scores (maxComputeWorkgroupStorageSize of 16 KiB): the keys go
// by in tiles of TILE scores with an online softmax (running max and sum; the partial
// output is rescaled when the max grows, as FlashAttention does). TILE is set per pipeline
// from the device limit, MAXKEYS from MAX_CACHE_ENTRIES (engine/ops.ts attention). Each
// invocation keeps DPT output dims.
// q: [T, H, hd] f32 (rotated, hd <= 256); kCache, vCache: [C, H, hd] f32 (keys before
// rotary); cosSin: [C, rot/2, 2] f32; out: [T, H*hd] f32.
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
const DPT = 4u;
var<workgroup> score: array<f32, TILE>;
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

  var acc: array<f32, DPT>;
  var mRun = -3.4e38;
  var total = 0.0;
  for (var j0 = 0u; j0 < n; j0 += TILE) {
    let m = min(TILE, n - j0);
    var tmax = -3.4e38;
    for (var jj = li; jj < m; jj += WG) {
      let j = j0 + jj;
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
      score[jj] = sc;
      tmax = max(tmax, sc);
    }
    let mx = max(mRun, wgMax(li, tmax));
    let corr = exp(mRun - mx);
    var sum = 0.0;
    for (var jj = li; jj < m; jj += WG) {
      let e = exp(score[jj] - mx);
      score[jj] = e;
      sum += e;
    }
    total = total * corr + wgSum(li, sum);
    mRun = mx;
    // Slot of cache index j0, then the slots in cache-index order (the ring wraps to sinks).
    let slot0 = select(cacheSlot(j0 + evicted, sinks, p.C), j0, j0 < sinks);
    for (var i = 0u; i < DPT; i++) {
      let d = li + i * WG;
      if (d < hd) {
        var a = acc[i] * corr;
        var slot = slot0;
        for (var jj = 0u; jj < m; jj++) {
          let j = j0 + jj;
          if (j == sinks && j > 0u) { slot = cacheSlot(j + evicted, sinks, p.C); }
          a += score[jj] * vCache[(slot * H + h) * hd + d];
          slot++;
          if (slot == p.C) { slot = sinks; }
        }
        acc[i] = a;
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < DPT; i++) {
    let d = li + i * WG;
    if (d < hd) { out[t * select(H * hd, p.outStride, p.outStride != 0u) + h * hd + d] = acc[i] / total; }
  }
}
