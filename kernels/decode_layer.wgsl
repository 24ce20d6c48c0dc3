// One whole parallel-residual layer of a one-token pass in ONE workgroup (one dispatch where
// the layer otherwise takes six): for small models on software adapters (lavapipe), where a
// dispatch's fixed cost (~30-40 us) outweighs a small model's per-layer work. The same math as
// layernorm_pair + matmul_* (query_key_value, dense_h_to_4h with its activation) +
// rotary_append + attention + the fused [dense | dense_4h_to_h] matmul:
//   h1, h2 = ln1(x), ln2(x); qkv = h1 Wqkv^T + b; q = rope(q); cache += (k, v);
//   a = softmax(q K^T * scale) V; f = act(h2 W1^T + b1); x += [a | f] Wout^T + bout
// with the embedding lookup before it (flag EMBED, layer 0) and the final LayerNorm after it
// (flag FINAL, last layer: y = ln_f(x), the input of embed_out). The cache follows
// sink_window.wgsl (full or sink). Phases are separated by barriers; activations live in
// workgroup memory. Constants per pipeline: D (hidden), FF, H, HD (head dim), ROT, CAP (cache
// slots; scores of every head and slot in workgroup memory), WGS; D, FF % 8 == 0, HD % 4 == 0.
// Weights are the row-major f16 matrices, 8 halves per vec4<u32>.
#include "sink_window.wgsl"
struct Params { C: u32, flags: u32, eps: f32, scale: f32 }
const EMBED = 16u;
const FINAL = 32u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<u32>; // embed_in [V, D] f16 pairs
@group(0) @binding(4) var<storage, read_write> x: array<f32>; // [D] residual
@group(0) @binding(5) var<storage, read> ln1w: array<f32>;
@group(0) @binding(6) var<storage, read> ln1b: array<f32>;
@group(0) @binding(7) var<storage, read> ln2w: array<f32>;
@group(0) @binding(8) var<storage, read> ln2b: array<f32>;
@group(0) @binding(9) var<storage, read> wqkv: array<vec4u>; // [3D, D]
@group(0) @binding(10) var<storage, read> bqkv: array<f32>;
@group(0) @binding(11) var<storage, read> w1: array<vec4u>; // [FF, D]
@group(0) @binding(12) var<storage, read> b1: array<f32>;
@group(0) @binding(13) var<storage, read> wout: array<vec4u>; // [D, D + FF]
@group(0) @binding(14) var<storage, read> bout: array<f32>;
@group(0) @binding(15) var<storage, read_write> kCache: array<f32>; // [C, H, HD]
@group(0) @binding(16) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(17) var<storage, read> cosSin: array<f32>; // [C, ROT/2, 2]
@group(0) @binding(18) var<storage, read> lnfw: array<f32>;
@group(0) @binding(19) var<storage, read> lnfb: array<f32>;
@group(0) @binding(20) var<storage, read_write> y: array<f32>; // [D] ln_f(x)

#include "activation.wgsl"

var<workgroup> xs: array<f32, D>;
var<workgroup> hs: array<vec4f, D / 2u>; // ln1(x) | ln2(x)
var<workgroup> qkvs: array<f32, 3u * D>; // [H, 3, HD] as the qkv matmul writes it
var<workgroup> qs: array<f32, D>; // rotated queries
var<workgroup> af: array<vec4f, (D + FF) / 4u>; // attention out | mlp hidden
var<workgroup> sc: array<f32, H * CAP>;
var<workgroup> stats: array<f32, 2u * H + 2u>;

// Eight weights (packed f16) times eight activations.
fn dot8(q: vec4u, a: vec4f, b: vec4f) -> f32 {
  return dot(vec4f(unpack2x16float(q.x), unpack2x16float(q.y)), a) +
    dot(vec4f(unpack2x16float(q.z), unpack2x16float(q.w)), b);
}

// Mean and 1/std of xs (two passes, as layernorm.wgsl) into stats[0..1], by invocation 0.
fn rowStats(lid: u32) {
  if (lid == 0u) {
    var s = 0.0;
    for (var i = 0u; i < D; i++) { s += xs[i]; }
    let mean = s / f32(D);
    var v = 0.0;
    for (var i = 0u; i < D; i++) {
      let c = xs[i] - mean;
      v += c * c;
    }
    stats[0] = mean;
    stats[1] = 1.0 / sqrt(v / f32(D) + p.eps);
  }
  workgroupBarrier();
}

@compute @workgroup_size(WGS)
fn main(@builtin(local_invocation_index) lid: u32) {
  _ = arrayLength(&cosSin);
  _ = arrayLength(&tokens);
  _ = arrayLength(&table);
  _ = arrayLength(&lnfw);
  _ = arrayLength(&lnfb);
  _ = arrayLength(&y);
  let pos = state[0];
  // Residual stream in.
  if ((p.flags & EMBED) != 0u) {
    let id = tokens[state[1]];
    for (var i = lid; i < D; i += WGS) {
      let pair = unpack2x16float(table[(id * D + i) / 2u]);
      xs[i] = select(pair.x, pair.y, (i & 1u) == 1u);
    }
  } else {
    for (var i = lid; i < D; i += WGS) { xs[i] = x[i]; }
  }
  workgroupBarrier();
  rowStats(lid);
  for (var i = lid; i < D; i += WGS) {
    let n = (xs[i] - stats[0]) * stats[1];
    hs[i / 4u][i % 4u] = n * ln1w[i] + ln1b[i];
    hs[(D + i) / 4u][i % 4u] = n * ln2w[i] + ln2b[i];
  }
  workgroupBarrier();
  // qkv and the mlp's hidden layer (both read only hs).
  let K8 = D / 8u;
  // (WGSL takes no storage pointer as an argument: one loop per weight binding.)
  for (var n = lid; n < 3u * D; n += WGS) {
    var s = bqkv[n];
    for (var j = 0u; j < K8; j++) { s += dot8(wqkv[n * K8 + j], hs[2u * j], hs[2u * j + 1u]); }
    qkvs[n] = s;
  }
  let h2 = D / 4u; // ln2(x) in hs
  for (var n = lid; n < FF; n += WGS) {
    var s = b1[n];
    for (var j = 0u; j < K8; j++) {
      s += dot8(w1[n * K8 + j], hs[h2 + 2u * j], hs[h2 + 2u * j + 1u]);
    }
    af[(D + n) / 4u][n % 4u] = activate(s, p.flags);
  }
  workgroupBarrier();
  // Rotary on the query, the key (before rotary) and value appended at the cache slot.
  let sinks = state[STATE_SINKS];
  let high = state[STATE_HIGH];
  let low = state[STATE_LOW];
  let live = liveEntries(pos, high, low);
  let half = ROT / 2u;
  for (var i = lid; i < D; i += WGS) {
    let h = i / HD;
    let e = i % HD;
    let src = h * 3u * HD;
    var v = qkvs[src + e];
    if (e < ROT) {
      let f = e % half;
      let c = cosSin[((live - 1u) * half + f) * 2u];
      let s = cosSin[((live - 1u) * half + f) * 2u + 1u];
      if (e < half) { v = v * c - qkvs[src + e + half] * s; } else { v = v * c + qkvs[src + e - half] * s; }
    }
    qs[i] = v;
    if (high != 0u || pos < p.C) {
      let dst = (cacheSlot(pos, sinks, p.C) * H + h) * HD + e;
      kCache[dst] = qkvs[src + HD + e];
      vCache[dst] = qkvs[src + 2u * HD + e];
    }
  }
  storageBarrier();
  workgroupBarrier();
  // Scores of every (head, cached entry), keys rotated by their cache index.
  let n = min(live, p.C);
  let evicted = pos + 1u - n;
  for (var idx = lid; idx < H * n; idx += WGS) {
    let h = idx / n;
    let j = idx % n;
    let slot = select(cacheSlot(j + evicted, sinks, p.C), j, j < sinks);
    let kb = (slot * H + h) * HD;
    let qb = h * HD;
    var sd = 0.0;
    for (var f = 0u; f < half; f++) {
      let c = cosSin[(j * half + f) * 2u];
      let s = cosSin[(j * half + f) * 2u + 1u];
      let k1 = kCache[kb + f];
      let k2 = kCache[kb + f + half];
      sd += qs[qb + f] * (k1 * c - k2 * s) + qs[qb + f + half] * (k2 * c + k1 * s);
    }
    for (var e = ROT; e < HD; e++) { sd += qs[qb + e] * kCache[kb + e]; }
    sc[h * CAP + j] = sd * p.scale;
  }
  workgroupBarrier();
  if (lid < H) {
    var m = -3.4e38;
    for (var j = 0u; j < n; j++) { m = max(m, sc[lid * CAP + j]); }
    var l = 0.0;
    for (var j = 0u; j < n; j++) {
      let e = exp(sc[lid * CAP + j] - m);
      sc[lid * CAP + j] = e;
      l += e;
    }
    stats[2u + lid] = 1.0 / l;
  }
  workgroupBarrier();
  for (var i = lid; i < D; i += WGS) {
    let h = i / HD;
    let e = i % HD;
    var a = 0.0;
    // Slots in cache-index order: sinks, then the ring from the window's start.
    var slot = 0u;
    for (var j = 0u; j < n; j++) {
      if (j == sinks) { slot = cacheSlot(j + evicted, sinks, p.C); }
      a += sc[h * CAP + j] * vCache[(slot * H + h) * HD + e];
      slot++;
      if (slot == p.C) { slot = sinks; }
    }
    af[i / 4u][i % 4u] = a * stats[2u + h];
  }
  workgroupBarrier();
  // x += [a | f] Wout^T + bout.
  let KO8 = (D + FF) / 8u;
  for (var r = lid; r < D; r += WGS) {
    var s = bout[r];
    for (var j = 0u; j < KO8; j++) { s += dot8(wout[r * KO8 + j], af[2u * j], af[2u * j + 1u]); }
    let v = xs[r] + s;
    xs[r] = v;
    x[r] = v;
  }
  if ((p.flags & FINAL) != 0u) {
    workgroupBarrier();
    rowStats(lid);
    for (var i = lid; i < D; i += WGS) { y[i] = (xs[i] - stats[0]) * stats[1] * lnfw[i] + lnfb[i]; }
  }
}
