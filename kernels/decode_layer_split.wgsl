// decode_layer.wgsl over G workgroups: a parallel-residual layer's two branches are sums over
// disjoint parts of [a | f] Wout^T, so workgroup w takes the heads [w*H/G, (w+1)*H/G) (their
// qkv rows, rotary, cache append and attention) and the mlp rows of its eighth of FF (their
// activations), and writes its partial sum of Wout's rows over those columns: part_w. No
// workgroup waits for another; the next dispatch adds the parts. On a software adapter
// (lavapipe), where one workgroup runs on one CPU thread, G = 2 keeps both cores of a 2-core
// machine busy where decode_layer leaves one idle; on a GPU, more workgroups read the
// layer's weights at once. G is tuned (engine/autotune.ts tuneFused).
//   x_l = x_{l-1} + bout_{l-1} + sum_w part_w(l-1)   (layer 0: the embedding of the token)
//   part_w(l) = [a | f]_w Wout_l[:, cols_w]^T      with a, f computed from ln1(x_l), ln2(x_l)
// Each workgroup rebuilds x_l from the previous layer's parts (D adds); workgroup 0 writes it
// to xout, the next layer's xin (ping-pong buffers: a layer reads one, writes the other).
// FINISH (one workgroup, after the last layer): xout = ln_f(x_L), with ln_f in the ln1
// bindings - the input of embed_out. Same constraints as decode_layer, and HD % 8 == 0.
#include "sink_window.wgsl"
struct Params { C: u32, flags: u32, eps: f32, scale: f32 }
const EMBED = 16u;
const FINISH = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<u32>; // embed_in [V, D] f16 pairs
@group(0) @binding(4) var<storage, read> xin: array<f32>; // [D] x_{l-1}
@group(0) @binding(5) var<storage, read> pin: array<f32>; // [G, D] parts of layer l-1
@group(0) @binding(6) var<storage, read> bprev: array<f32>; // [D] bout of layer l-1
@group(0) @binding(7) var<storage, read_write> xout: array<f32>; // [D] x_l (FINISH: ln_f(x))
@group(0) @binding(8) var<storage, read_write> pout: array<f32>; // [G, D] parts of layer l
@group(0) @binding(9) var<storage, read> ln1w: array<f32>;
@group(0) @binding(10) var<storage, read> ln1b: array<f32>;
@group(0) @binding(11) var<storage, read> ln2w: array<f32>;
@group(0) @binding(12) var<storage, read> ln2b: array<f32>;
@group(0) @binding(13) var<storage, read> wqkv: array<vec4u>; // [3D, D]
@group(0) @binding(14) var<storage, read> bqkv: array<f32>;
@group(0) @binding(15) var<storage, read> w1: array<vec4u>; // [FF, D]
@group(0) @binding(16) var<storage, read> b1: array<f32>;
@group(0) @binding(17) var<storage, read> wout: array<vec4u>; // [D, D + FF]
@group(0) @binding(18) var<storage, read_write> kCache: array<f32>; // [C, H, HD]
@group(0) @binding(19) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(20) var<storage, read> cosSin: array<f32>; // [C, ROT/2, 2]

#include "activation.wgsl"
#include "decode_layer_phases.wgsl"

@compute @workgroup_size(WGS)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3u) {
  _ = arrayLength(&tokens);
  _ = arrayLength(&table);
  let w = wg.x;
  let finish = (p.flags & FINISH) != 0u;
  if ((p.flags & EMBED) != 0u) {
    let id = tokens[state[1]];
    for (var i = lid; i < D; i += WGS) {
      let pair = unpack2x16float(table[(id * D + i) / 2u]);
      xs[i] = select(pair.x, pair.y, (i & 1u) == 1u);
    }
  } else {
    for (var i = lid; i < D; i += WGS) {
      var v = xin[i] + bprev[i];
      for (var g = 0u; g < G; g++) { v += pin[g * D + i]; }
      xs[i] = v;
    }
  }
  if (w == 0u && !finish) {
    for (var i = lid; i < D; i += WGS) { xout[i] = xs[i]; }
  }
  workgroupBarrier();
  if (finish) {
    rowStats(lid);
    for (var i = lid; i < D; i += WGS) { xout[i] = (xs[i] - stats[0]) * stats[1] * ln1w[i] + ln1b[i]; }
    return;
  }
  normPair(lid);
  let h0 = w * H / G;
  let h1 = (w + 1u) * H / G;
  let f0 = w * (FF / 8u) / G * 8u;
  let f1 = (w + 1u) * (FF / 8u) / G * 8u;
  project(lid, h0, h1, f0, f1);
  attend(lid, h0, h1);
  for (var r = lid; r < D; r += WGS) {
    pout[w * D + r] = outDot(r, h0 * HD / 8u, h1 * HD / 8u) + outDot(r, (D + f0) / 8u, (D + f1) / 8u);
  }
}
