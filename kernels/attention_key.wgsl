// What the barrier-free attentions (attention_rows.wgsl, attention_split.wgsl) share: the
// window of keys a query sees, the query's load, one key's step and the output's store. Needs
// at module scope state, q, kCache, vCache, cosSin, out, p (.H, .hd, .C, .scale, .outStride),
// the constants HD4, HALF, ROT4 and sink_window.wgsl.

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

// One key: the score of the key at cache index j (vec4 kb of kCache and vCache) against the
// query qv, the key rotated by j (rotate_half over the first rot dims), folded into the online
// softmax: the running max and sum ml = (m, l) and the output acc, rescaled when the max grows.
fn attendKey(
  qv: ptr<function, array<vec4f, HD4>>,
  acc: ptr<function, array<vec4f, HD4>>,
  ml: ptr<function, vec2f>,
  j: u32,
  kb: u32,
) {
  var sd = 0.0;
#unroll f HALF
  let cs = (j * HALF + f) * 2u;
  let c = cosSin[cs];
  let s = cosSin[cs + 1u];
  let k1 = kCache[kb + f / 4u][f % 4u];
  let k2 = kCache[kb + (f + HALF) / 4u][(f + HALF) % 4u];
  sd += (*qv)[f / 4u][f % 4u] * (k1 * c - k2 * s) +
    (*qv)[(f + HALF) / 4u][(f + HALF) % 4u] * (k2 * c + k1 * s);
#end
#unroll c HD4
  if (c >= ROT4) { sd += dot((*qv)[c], kCache[kb + c]); }
#end
  let sc = sd * p.scale;
  let m = (*ml).x;
  let mNew = max(m, sc);
  let corr = exp(m - mNew);
  let e = exp(sc - mNew);
  *ml = vec2f(mNew, (*ml).y * corr + e);
#unroll c HD4
  (*acc)[c] = (*acc)[c] * corr + e * vCache[kb + c];
#end
}
