// The phases of a parallel-residual layer of a one-token pass, over workgroup memory, shared by
// decode_layer.wgsl (one workgroup: every head and mlp row) and decode_layer_split.wgsl (G
// workgroups, each a range of heads and of mlp rows). The including kernel declares Params
// (C, flags, eps, scale) and the bindings these read under the same names; constants D, FF,
// H, HD, ROT, CAP, WGS. The ranges passed in derive from the workgroup id (uniform), so every
// barrier here is reached by the whole workgroup.
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

// hs = ln1(xs) | ln2(xs).
fn normPair(lid: u32) {
  rowStats(lid);
  for (var i = lid; i < D; i += WGS) {
    let n = (xs[i] - stats[0]) * stats[1];
    hs[i / 4u][i % 4u] = n * ln1w[i] + ln1b[i];
    hs[(D + i) / 4u][i % 4u] = n * ln2w[i] + ln2b[i];
  }
  workgroupBarrier();
}

// The qkv rows of heads [h0, h1) into qkvs and the mlp rows [f0, f1), activated, into af
// (both read only hs).
fn project(lid: u32, h0: u32, h1: u32, f0: u32, f1: u32) {
  let K8 = D / 8u;
  // (WGSL takes no storage pointer as an argument: one loop per weight binding.)
  for (var n = h0 * 3u * HD + lid; n < h1 * 3u * HD; n += WGS) {
    var s = bqkv[n];
    for (var j = 0u; j < K8; j++) { s += dot8(wqkv[n * K8 + j], hs[2u * j], hs[2u * j + 1u]); }
    qkvs[n] = s;
  }
  let hb = D / 4u; // ln2(x) in hs
  for (var n = f0 + lid; n < f1; n += WGS) {
    var s = b1[n];
    for (var j = 0u; j < K8; j++) {
      s += dot8(w1[n * K8 + j], hs[hb + 2u * j], hs[hb + 2u * j + 1u]);
    }
    af[(D + n) / 4u][n % 4u] = activate(s, p.flags);
  }
  workgroupBarrier();
}

// Attention of heads [h0, h1) into af[h0 * HD .. h1 * HD): rotary on the query, the key
// (before rotary) and value appended at the cache slot, then scores of every cached entry
// (keys rotated by their cache index), softmax and the weighted values.
fn attend(lid: u32, h0: u32, h1: u32) {
  let pos = state[0];
  let sinks = state[STATE_SINKS];
  let high = state[STATE_HIGH];
  let low = state[STATE_LOW];
  let live = liveEntries(pos, high, low);
  let half = ROT / 2u;
  for (var i = h0 * HD + lid; i < h1 * HD; i += WGS) {
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
  let n = min(live, p.C);
  let evicted = pos + 1u - n;
  for (var idx = lid; idx < (h1 - h0) * n; idx += WGS) {
    let h = h0 + idx / n;
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
  if (lid < h1 - h0) {
    let h = h0 + lid;
    var m = -3.4e38;
    for (var j = 0u; j < n; j++) { m = max(m, sc[h * CAP + j]); }
    var l = 0.0;
    for (var j = 0u; j < n; j++) {
      let e = exp(sc[h * CAP + j] - m);
      sc[h * CAP + j] = e;
      l += e;
    }
    stats[2u + h] = 1.0 / l;
  }
  workgroupBarrier();
  for (var i = h0 * HD + lid; i < h1 * HD; i += WGS) {
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
}

// Row r of [a | f] Wout^T over the words [j0, j1) of its K (8 columns a word).
fn outDot(r: u32, j0: u32, j1: u32) -> f32 {
  let KO8 = (D + FF) / 8u;
  var s = 0.0;
  for (var j = j0; j < j1; j++) { s += dot8(wout[r * KO8 + j], af[2u * j], af[2u * j + 1u]); }
  return s;
}
