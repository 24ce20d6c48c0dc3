// Causal attention of T queries over one layer's KV cache, rotary applied to keys here.
// q: [T, H, hd] f32 (already rotated); kCache, vCache: [C, H, hd] f32 (keys before rotary);
// out: [T, H*hd] f32. Query t sits at slot qs = state[0] + t and sees slots [0, qs].
// Key j is rotated by its slot index j, so positions are cache indices (full cache: the
// absolute position; sink cache: the StreamingLLM "pos-shift").
struct Params { T: u32, H: u32, hd: u32, rot: u32, C: u32, scale: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kCache: array<f32>;
@group(0) @binding(4) var<storage, read> vCache: array<f32>;
@group(0) @binding(5) var<storage, read> cosSin: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const WG = 64u;
const MAXKEYS = 4096u;
var<workgroup> score: array<f32, MAXKEYS>;
var<workgroup> qv: array<f32, 256>;
var<workgroup> red: array<f32, WG>;

fn reduce(li: u32, v: f32, isMax: bool) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) {
      red[li] = select(red[li] + red[li + s], max(red[li], red[li + s]), isMax);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let h = wg.x;
  let t = wg.y;
  let H = p.H;
  let hd = p.hd;
  let half = p.rot / 2u;
  let n = min(state[0] + t + 1u, min(p.C, MAXKEYS));
  let qBase = (t * H + h) * hd;
  for (var i = li; i < hd; i += WG) { qv[i] = q[qBase + i]; }
  workgroupBarrier();

  var m = -3.4e38;
  for (var j = li; j < n; j += WG) {
    let kb = (j * H + h) * hd;
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
  let mx = reduce(li, m, true);
  var sum = 0.0;
  for (var j = li; j < n; j += WG) {
    let e = exp(score[j] - mx);
    score[j] = e;
    sum += e;
  }
  let total = reduce(li, sum, false);
  for (var d = li; d < hd; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j < n; j++) { acc += score[j] * vCache[(j * H + h) * hd + d]; }
    out[qBase + d] = acc / total;
  }
}
