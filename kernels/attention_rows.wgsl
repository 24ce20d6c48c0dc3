// Causal attention exactly as attention.wgsl computes it, shaped for software adapters
// (lavapipe), which pay per barrier and per load rather than per byte: no workgroup memory
// and no barrier. Each invocation owns one (query, head) pair and walks that query's keys in
// cache-index order once, with an online softmax (running max and sum, the output rescaled
// when the max grows); its query and output stay in registers as HD4 vec4s (loops unrolled,
// kernels/kernel.ts #unroll), and keys and values are read as vec4s past the rotated dims.
// With APPEND = 1u it also does rotary_append.wgsl's work, so that dispatch is not needed:
// binding 2 is the pass's qkv ([T, H, 3*hd]); each invocation rotates its query in registers
// and appends its token's key and value for its head to the cache, and reads the keys and
// values of this pass's tokens (stream positions from state[0]) from qkv, not from the cache
// that other invocations of the dispatch are writing. Its cache slots are those rotary_append
// would write (sink_window.wgsl: no query's keys are overwritten within a pass).
// Constants per pipeline: HD4 = hd / 4, HALF = rot / 2, ROT4 = rot / 4 (rot % 4 == 0), WGS,
// APPEND. q: [T, H, hd] f32 (rotated), or qkv; kCache, vCache: [C, H, hd] f32 (keys before rotary);
// cosSin: [C, rot/2, 2] f32; out: [T, H*hd] f32, or rows outStride apart.
#include "sink_window.wgsl"
#include "attention_key.wgsl"

@compute @workgroup_size(WGS)
fn main(@builtin(global_invocation_id) g: vec3u) {
  _ = arrayLength(&cosSin); // bound (and in the layout) even when rot = 0
  let H = p.H;
  if (g.x >= p.T * H) { return; }
  let t = g.x / H;
  let h = g.x % H;
  let w = keyWindow(t);
  let qb = (t * H + h) * HD4 * select(1u, 3u, APPEND == 1u);
  var qv: array<vec4f, HD4>;
  if (APPEND == 1u) {
    qv = rotatedQuery(qb, w);
    appendEntry(qb, w, h, 0u, 1u);
  } else {
    qv = queryAt(qb);
  }
  var acc: array<vec4f, HD4>; // zero
  var ml = vec2f(-3.4e38, 0.0); // running max and sum of the online softmax
  // Walk the slots in cache-index order: sinks, then the ring from the window's start; with
  // APPEND the window's keys of this pass (stream positions from state[0], its last ones)
  // come from qkv instead.
  let nCached = select(w.n, firstPassKey(w), APPEND == 1u);
  var slot = 0u;
  for (var j = 0u; j < nCached; j++) {
    if (j == w.sinks) { slot = cacheSlot(j + w.evicted, w.sinks, p.C); }
    attendKey(&qv, &acc, &ml, j, (slot * H + h) * HD4, false);
    slot++;
    if (slot == p.C) { slot = w.sinks; }
  }
  for (var j = nCached; j < w.n; j++) {
    let kp = select(j + w.evicted, j, j < w.sinks);
    attendKey(&qv, &acc, &ml, j, ((kp - state[0]) * H + h) * 3u * HD4 + HD4, true);
  }
  let inv = 1.0 / ml.y;
#unroll c HD4
  storeOut(t, h, c, acc[c] * inv);
#end
}
