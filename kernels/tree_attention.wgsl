// Tree attention (attention.wgsl with an ancestor mask): node u at depth k sees exactly what
// the chain's query at stream position P + k would see, with its ancestors (root .. u, the
// mask's bits in ascending order = ascending depth) in place of the chain's drafts. Keys
// j < n - 1 - k are committed entries (the sink + window of sink_window.wgsl), the last
// k + 1 are the ancestors, stored at stream slots P + ancestor. Every key is rotated by its
// cache index j, so scores equal a chain pass along the node's path.
// q: [T, H, hd] f32 (rotated by tree_rotary); kCache, vCache: [C, H, hd] f32 (keys before
// rotary); cosSin: [C, rot/2, 2] f32; out: [T, H*hd] f32; tree: [nodes, 4] u32 (tree.wgsl).
#include "sink_window.wgsl"
#include "tree.wgsl"
struct Params { T: u32, H: u32, hd: u32, rot: u32, C: u32, scale: f32, outStride: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kCache: array<f32>;
@group(0) @binding(4) var<storage, read> vCache: array<f32>;
@group(0) @binding(5) var<storage, read> cosSin: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> tree: array<u32>;

const WG = 64u;
var<workgroup> score: array<f32, MAXKEYS>;
var<workgroup> qv: array<f32, 256>;
var<workgroup> ancSlot: array<u32, MAX_NODES>;
#include "workgroup_reduce.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let h = wg.x;
  let t = wg.y;
  let H = p.H;
  let hd = p.hd;
  let half = p.rot / 2u;
  let first = state[STATE_TREE_FIRST];
  let P = state[0] - first;
  let u = first + t;
  let depth = tree[u * 4u];
  let pos = P + depth;
  let sinks = state[STATE_SINKS];
  let n = min(liveEntries(pos, state[STATE_HIGH], state[STATE_LOW]), min(p.C, MAXKEYS));
  let evicted = pos + 1u - n;
  // Keys [0, nc) are committed, [nc, n) the ancestors root .. u.
  let nc = n - 1u - depth;
  if (li == 0u) {
    var k = 0u;
    for (var b = 0u; b < MAX_NODES; b++) {
      if (((tree[u * 4u + 2u + b / 32u] >> (b % 32u)) & 1u) == 1u) {
        ancSlot[k] = cacheSlot(P + b, sinks, p.C);
        k++;
      }
    }
  }
  let qBase = (t * H + h) * hd;
  for (var i = li; i < hd; i += WG) { qv[i] = q[qBase + i]; }
  workgroupBarrier();

  var m = -3.4e38;
  for (var j = li; j < n; j += WG) {
    let slot = keySlot(j, nc, evicted, sinks);
    let kb = (slot * H + h) * hd;
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
    for (var j = 0u; j < n; j++) {
      acc += score[j] * vCache[(keySlot(j, nc, evicted, sinks) * H + h) * hd + d];
    }
    out[t * select(H * hd, p.outStride, p.outStride != 0u) + h * hd + d] = acc / total;
  }
}

// Storage slot of key j: a committed entry's slot, or an ancestor's.
fn keySlot(j: u32, nc: u32, evicted: u32, sinks: u32) -> u32 {
  if (j >= nc) { return ancSlot[j - nc]; }
  return cacheSlot(select(j + evicted, j, j < sinks), sinks, p.C);
}
