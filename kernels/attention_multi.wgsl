// Causal attention as attention_split.wgsl computes it, for passes of several tokens: a
// workgroup per (head, block of TQ queries), the keys split among its LANES invocations, and
// each invocation folds every key it loads into all TQ queries' online softmaxes (running max,
// sum and output in registers, loops unrolled) before one barrier combines the lanes. A
// software adapter pays per load and per invocation (lavapipe loads a storage buffer lane by
// lane), so the cost is the keys, not the queries: attention_rows and attention_split load
// every key once for each query, and a verify pass of 4 tokens took 2-4x a one-token one
// (PERF.md).
// Keys are indexed in the block's first query's window (cache index j: a sink below
// state[STATE_SINKS], else stream position j + its evicted count) and rotated by j. A later
// query t of the block has evicted d_t more entries, so its own cache index of that key is
// j - d_t; rotary scores depend only on the difference of the query's and the key's rotation,
// so query t meets the window's keys rotated d_t further than its cache index (qw) and the
// sinks, whose index is j for every query, rotated by its cache index (qs): each key is rotated
// once for the block. Query t's keys: the sinks and j in [sinks + d_t, n_first + t - first).
// Runs after rotary_append.wgsl (q rotated by its cache index; this pass's keys in the cache),
// or with APPEND = 1u, for a pass of T <= TQ tokens (one block: no other workgroup reads the
// keys of this head), does its work itself: binding 2 is the pass's qkv ([T, H, 3*hd]), each
// query is rotated in registers, and the block's keys and values of its head are appended to
// the cache before one barrier.
// Constants per pipeline: HD4 = hd / 4, HALF = rot / 2, ROT4 = rot / 4 (rot % 4 == 0), LANES,
// TQ, APPEND. q: [T, H, hd] f32 (rotated), or qkv; kCache, vCache: [C, H, hd] f32 (keys
// before rotary); cosSin: [C, rot/2, 2] f32; out: [T, H*hd] f32, or rows outStride apart.
// Dispatch [H, ceil(T / TQ)].
#include "sink_window.wgsl"
#include "attention_key.wgsl"

var<workgroup> partMax: array<f32, LANES * TQ>;
var<workgroup> partSum: array<f32, LANES * TQ>;
var<workgroup> partOut: array<vec4f, LANES * TQ * HD4>;

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  _ = arrayLength(&cosSin); // bound (and in the layout) even when rot = 0
  let H = p.H;
  let h = wg.x;
  let first = wg.y * TQ;
  let nq = min(TQ, p.T - first);
  let w0 = keyWindow(first);
  let nAll = w0.n + nq - 1u; // the block's keys: j < nAll
  let S = min(w0.sinks, nAll);
  let sinks = state[STATE_SINKS];
  // Each query rotated by its cache index (for the sinks) and d_t further (for the window).
  var qs: array<array<vec4f, HD4>, TQ>;
  var qw: array<array<vec4f, HD4>, TQ>;
  var acc: array<array<vec4f, HD4>, TQ>; // zero
  var ml: array<vec2f, TQ>; // running max and sum of each query's online softmax
  var d: array<u32, TQ>;
#unroll t TQ
  let q_t = min(first + t, p.T - 1u);
  let w_t = keyWindow(q_t);
  d[t] = w_t.evicted - w0.evicted;
  if (APPEND == 1u) {
    qs[t] = rotatedQuery((q_t * H + h) * 3u * HD4, w_t);
  } else {
    qs[t] = queryAt((q_t * H + h) * HD4);
  }
  qw[t] = rotateBy(qs[t], d[t]);
  ml[t] = vec2f(-3.4e38, 0.0);
#end
  if (APPEND == 1u) {
    for (var t = li; t < nq; t += LANES) {
      appendEntry((t * H + h) * 3u * HD4, keyWindow(t), h, 0u, 1u);
    }
    storageBarrier();
  }
  for (var j = li; j < nAll; j += LANES) {
    let kb = (cacheSlot(select(j + w0.evicted, j, j < S), sinks, p.C) * H + h) * HD4;
    var k: array<vec4f, HD4>;
    var v: array<vec4f, HD4>;
#unroll c HD4
    k[c] = kCache[kb + c];
    v[c] = vCache[kb + c];
#end
    let sink = j < S;
    let kr = rotateBy(k, j); // the same for every query of the block
#unroll t TQ
    if (t < nq && j < w0.n + t && (sink || j >= w0.sinks + d[t])) {
      var sd = 0.0;
#unroll c HD4
      sd += dot(select(qw[t][c], qs[t][c], sink), kr[c]);
#end
      let sc = sd * p.scale;
      let m = ml[t].x;
      let mNew = max(m, sc);
      let corr = exp(m - mNew);
      let e = exp(sc - mNew);
      ml[t] = vec2f(mNew, ml[t].y * corr + e);
#unroll c HD4
      acc[t][c] = acc[t][c] * corr + e * v[c];
#end
    }
#end
  }
#unroll t TQ
  partMax[li * TQ + t] = ml[t].x;
  partSum[li * TQ + t] = ml[t].y;
#unroll c HD4
  partOut[(li * TQ + t) * HD4 + c] = acc[t][c];
#end
#end
  workgroupBarrier();
  // Invocations without a key of query t hold m = -3.4e38, l = 0: their weight is 0.
  for (var o = li; o < nq * HD4; o += LANES) {
    let t = o / HD4;
    let c = o % HD4;
    var mAll = -3.4e38;
    for (var i = 0u; i < LANES; i++) { mAll = max(mAll, partMax[i * TQ + t]); }
    var lAll = 0.0;
    var r = vec4f(0.0);
    for (var i = 0u; i < LANES; i++) {
      let wi = exp(partMax[i * TQ + t] - mAll);
      lAll += partSum[i * TQ + t] * wi;
      r += partOut[(i * TQ + t) * HD4 + c] * wi;
    }
    storeOut(first + t, h, c, r / lAll);
  }
}
