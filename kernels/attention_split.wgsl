// Causal attention as attention_rows.wgsl computes it, with each (query, head) pair's keys
// split among the LANES invocations of one workgroup (the key axis split of flash-decoding):
// invocation i walks keys i, i + LANES, ... in cache-index order with its own online softmax
// (running max, sum and output), then one barrier, and the partial maxima, sums and outputs
// are combined, each invocation finishing some of the HD4 output vec4s. A one-token pass of H
// heads runs H workgroups where attention_rows runs one invocation per head: on a software
// adapter the heads' key walks spread over every core, on a GPU over LANES threads a head.
// With APPEND = 1u (a one-token pass, T = 1) it also does rotary_append.wgsl's work for its
// head, so that dispatch is not needed: binding 2 is the pass's qkv ([1, H, 3*hd]), whose
// query it rotates by the query's cache index in registers and whose key and value it
// appends to the cache slot before walking the keys (one workgroup a head: no other reads it).
// Constants per pipeline: HD4 = hd / 4, HALF = rot / 2, ROT4 = rot / 4 (rot % 4 == 0), LANES,
// APPEND. q: [T, H, hd] f32 (rotated), or qkv; kCache, vCache: [C, H, hd] f32 (keys before
// rotary); cosSin: [C, rot/2, 2] f32; out: [T, H*hd] f32, or rows outStride apart.
// Dispatch [H, T].
#include "sink_window.wgsl"
#include "attention_key.wgsl"

var<workgroup> partMax: array<f32, LANES>;
var<workgroup> partSum: array<f32, LANES>;
var<workgroup> partOut: array<vec4f, LANES * HD4>;

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  _ = arrayLength(&cosSin); // bound (and in the layout) even when rot = 0
  let H = p.H;
  let h = wg.x;
  let t = wg.y;
  let w = keyWindow(t);
  // The query's vec4s: rows of q, or the query slice of qkv, rotated here.
  let qb = (t * H + h) * HD4 * select(1u, 3u, APPEND == 1u);
  var qv: array<vec4f, HD4>;
  if (APPEND == 1u) {
    qv = rotatedQuery(qb, w);
    appendEntry(qb, w, h, li, LANES);
    storageBarrier();
  } else {
    qv = queryAt(qb);
  }
  var acc: array<vec4f, HD4>; // zero
  var ml = vec2f(-3.4e38, 0.0); // running max and sum of the online softmax
  for (var j = li; j < w.n; j += LANES) {
    // Cache index j: a sink, or the ring from the window's start.
    let slot = select(cacheSlot(j + w.evicted, w.sinks, p.C), j, j < w.sinks);
    attendKey(&qv, &acc, &ml, j, (slot * H + h) * HD4, false);
  }
  partMax[li] = ml.x;
  partSum[li] = ml.y;
#unroll c HD4
  partOut[li * HD4 + c] = acc[c];
#end
  workgroupBarrier();
  // Invocations without a key hold m = -3.4e38, l = 0: their weight exp(m - mAll) is 0.
  var mAll = -3.4e38;
  for (var i = 0u; i < LANES; i++) { mAll = max(mAll, partMax[i]); }
  var lAll = 0.0;
  for (var i = 0u; i < LANES; i++) { lAll += partSum[i] * exp(partMax[i] - mAll); }
  let inv = 1.0 / lAll;
  for (var c = li; c < HD4; c += LANES) {
    var r = vec4f(0.0);
    for (var i = 0u; i < LANES; i++) { r += partOut[i * HD4 + c] * exp(partMax[i] - mAll); }
    storeOut(t, h, c, r * inv);
  }
}
