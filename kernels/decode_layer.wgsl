// One whole parallel-residual layer of a one-token pass in ONE workgroup (one dispatch where
// the layer otherwise takes six): for small models on software adapters (lavapipe), where a
// dispatch's fixed cost (~30-40 us) outweighs a small model's per-layer work. The same math as
// layernorm_pair + matmul_* (query_key_value, dense_h_to_4h with its activation) +
// rotary_append + attention + the fused [dense | dense_4h_to_h] matmul:
//   h1, h2 = ln1(x), ln2(x); qkv = h1 Wqkv^T + b; q = rope(q); cache += (k, v);
//   a = softmax(q K^T * scale) V; f = act(h2 W1^T + b1); x += [a | f] Wout^T + bout
// with the embedding lookup before it (flag EMBED, layer 0) and the final LayerNorm after it
// (flag FINAL, last layer: y = ln_f(x), the input of embed_out). The cache follows
// sink_window.wgsl (full or sink). Phases (decode_layer_phases.wgsl) are separated by
// barriers; activations live in workgroup memory. Constants per pipeline: D (hidden), FF, H, HD (head dim), ROT, CAP (cache
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
#include "decode_layer_phases.wgsl"

@compute @workgroup_size(WGS)
fn main(@builtin(local_invocation_index) lid: u32) {
  _ = arrayLength(&cosSin);
  _ = arrayLength(&tokens);
  _ = arrayLength(&table);
  _ = arrayLength(&lnfw);
  _ = arrayLength(&lnfb);
  _ = arrayLength(&y);
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
  normPair(lid);
  project(lid, 0u, H, 0u, FF);
  attend(lid, 0u, H);
  // x += [a | f] Wout^T + bout.
  for (var r = lid; r < D; r += WGS) {
    let v = xs[r] + bout[r] + outDot(r, 0u, (D + FF) / 8u);
    xs[r] = v;
    x[r] = v;
  }
  if ((p.flags & FINAL) != 0u) {
    workgroupBarrier();
    rowStats(lid);
    for (var i = lid; i < D; i += WGS) { y[i] = (xs[i] - stats[0]) * stats[1] * lnfw[i] + lnfb[i]; }
  }
}
