// One key of the barrier-free attentions (attention_rows.wgsl, attention_split.wgsl): the
// score of the key at cache index j (vec4 kb of kCache and vCache) against the query qv, the
// key rotated by j (rotate_half over the first rot dims), folded into the online softmax: the
// running max and sum ml = (m, l) and the output acc, rescaled when the max grows. Needs at
// module scope kCache, vCache, cosSin, p.scale and the constants HD4, HALF, ROT4.
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
