// What the barrier-free attentions (attention_rows.wgsl, attention_split.wgsl,
// attention_multi.wgsl) share: their uniform layout and bindings, the window of keys a query
// sees, the query's load (and, folding rotary_append in, its rotation and the cache append), a
// rotation by a cache index, one key's step and the output's store. Needs the constants HD4,
// HALF, ROT4 and sink_window.wgsl.
struct Params { T: u32, H: u32, hd: u32, rot: u32, C: u32, scale: f32, outStride: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> kCache: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> vCache: array<vec4f>;
@group(0) @binding(5) var<storage, read> cosSin: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// The keys query t of a pass sees: its stream position, the sinks, how many cache entries it
// attends to and how many the window has evicted before it.
struct KeyWindow { pos: u32, sinks: u32, n: u32, evicted: u32 }

fn keyWindow(t: u32) -> KeyWindow {
  let pos = state[0] + t;
  let n = min(liveEntries(pos, state[STATE_HIGH], state[STATE_LOW]), p.C);
  return KeyWindow(pos, state[STATE_SINKS], n, pos + 1u - n);
}

// The HD4 vec4s of q from vec4 qb.
fn queryAt(qb: u32) -> array<vec4f, HD4> {
  var qv: array<vec4f, HD4>;
#unroll c HD4
  qv[c] = q[qb + c];
#end
  return qv;
}

// Writes vec4 c of head h's output of query t (rows H * hd, or p.outStride, apart).
fn storeOut(t: u32, h: u32, c: u32, r: vec4f) {
  let o = t * select(p.H * p.hd, p.outStride, p.outStride != 0u) + h * p.hd + 4u * c;
  out[o] = r.x;
  out[o + 1u] = r.y;
  out[o + 2u] = r.z;
  out[o + 3u] = r.w;
}

// The vec4s x rotated by d positions over the first rot dims (rotate_half.wgsl's math: pairs
// (f, f + HALF)).
fn rotateBy(x: array<vec4f, HD4>, d: u32) -> array<vec4f, HD4> {
  var r = x;
#unroll f HALF
  let c = cosSin[(d * HALF + f) * 2u];
  let s = cosSin[(d * HALF + f) * 2u + 1u];
  let x1 = x[f / 4u][f % 4u];
  let x2 = x[(f + HALF) / 4u][(f + HALF) % 4u];
  r[f / 4u][f % 4u] = x1 * c - x2 * s;
  r[(f + HALF) / 4u][(f + HALF) % 4u] = x2 * c + x1 * s;
#end
  return r;
}

// The query of query vec4 qb of a pass's qkv ([T, H, 3*hd]) rotated in registers by its cache
// index, for kernels that fold rotary_append.wgsl in (APPEND).
fn rotatedQuery(qb: u32, w: KeyWindow) -> array<vec4f, HD4> {
  return rotateBy(queryAt(qb), liveEntries(w.pos, state[STATE_HIGH], state[STATE_LOW]) - 1u);
}

// The window's first key of this pass (stream position state[0] or later; cache index j has
// stream position j below the sinks, j + w.evicted from them on): keys from it on are this
// pass's, w.n if none is.
fn firstPassKey(w: KeyWindow) -> u32 {
  let p0 = state[0];
  if (p0 < min(w.sinks, w.n)) { return p0; }
  return min(w.n, max(w.sinks, p0 - min(p0, w.evicted)));
}

// kv_append.wgsl's work for query vec4 qb of a pass's qkv, head h: its key and value slices
// into the cache slot of stream position w.pos, vec4s first, first + step, ...
fn appendEntry(qb: u32, w: KeyWindow, h: u32, first: u32, step: u32) {
  // A full cache never wraps: positions past its capacity are dropped (kv_append.wgsl).
  if (state[STATE_HIGH] == 0u && w.pos >= p.C) { return; }
  let dst = (cacheSlot(w.pos, w.sinks, p.C) * p.H + h) * HD4;
  for (var c = first; c < HD4; c += step) {
    kCache[dst + c] = q[qb + HD4 + c];
    vCache[dst + c] = q[qb + 2u * HD4 + c];
  }
}

// One key: the score of the key at cache index j against the query qv, the key rotated by j
// (rotate_half over the first rot dims), folded into the online softmax: the running max and
// sum ml = (m, l) and the output acc, rescaled when the max grows. The key and value are vec4
// kb of kCache and vCache, or with `fromPass` (a key of this pass, which another invocation of the
// dispatch may be appending to the cache) the key slice at vec4 kb of the pass's qkv and the
// value slice after it. Callers give `fromPass` as a constant: the branch folds away.
fn attendKey(
  qv: ptr<function, array<vec4f, HD4>>,
  acc: ptr<function, array<vec4f, HD4>>,
  ml: ptr<function, vec2f>,
  j: u32,
  kb: u32,
  fromPass: bool,
) {
  var k: array<vec4f, HD4>;
  var v: array<vec4f, HD4>;
  if (fromPass) {
#unroll c HD4
    k[c] = q[kb + c];
    v[c] = q[kb + HD4 + c];
#end
  } else {
#unroll c HD4
    k[c] = kCache[kb + c];
    v[c] = vCache[kb + c];
#end
  }
  var sd = 0.0;
#unroll f HALF
  let cs = (j * HALF + f) * 2u;
  let c = cosSin[cs];
  let s = cosSin[cs + 1u];
  let k1 = k[f / 4u][f % 4u];
  let k2 = k[(f + HALF) / 4u][(f + HALF) % 4u];
  sd += (*qv)[f / 4u][f % 4u] * (k1 * c - k2 * s) +
    (*qv)[(f + HALF) / 4u][(f + HALF) % 4u] * (k2 * c + k1 * s);
#end
#unroll c HD4
  if (c >= ROT4) { sd += dot((*qv)[c], k[c]); }
#end
  let sc = sd * p.scale;
  let m = (*ml).x;
  let mNew = max(m, sc);
  let corr = exp(m - mNew);
  let e = exp(sc - mNew);
  *ml = vec2f(mNew, (*ml).y * corr + e);
#unroll c HD4
  (*acc)[c] = (*acc)[c] * corr + e * v[c];
#end
}
