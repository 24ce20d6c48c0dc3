// Linear layer on int8 weights, tiled like matmul.wgsl, dequantized in registers:
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * q[n, k] * scale[n, k / group] + bias[n])
// x: [T, K] f32; W: [N, ceil(K/4)] u32 (row n's int8 values from word n*ceil(K/4), lowest
// byte first, see engine/quantize.ts); scales: [N, G] f32 with G = 1 when GROUP is 0 (one
// scale per row, applied once to the row's sum) else ceil(K / GROUP); bias: [N] f32;
// y: [T, yStride] f32. TOK tokens and RPT rows per invocation set per pipeline; KL lanes split the
// packed words of a row, so one u32 load feeds four multiply-adds per token.

// GROUP as a divisor that is never zero (GROUP 0 never divides by it)
const GW = max(GROUP, 1u);

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> scales: array<f32>;

#include "activation.wgsl"

// Per-row scales (GROUP 0) apply once to the row's sum; group scales are applied per word.
fn rowScale(n: u32) -> f32 { return select(1.0, scales[n], GROUP == 0u); }

#include "matmul_tile.wgsl"

// x[t, k..k+4) of this pass, zero past K (the last word of a row may be partly padding)
fn xword(t: u32, k: u32) -> vec4f {
  let b = p.xOffset + t * p.K + k;
  if (k + 4u <= p.K) { return vec4f(x[b], x[b + 1u], x[b + 2u], x[b + 3u]); }
  var v = vec4f(0.0);
  for (var c = 0u; k + c < p.K; c++) { v[c] = x[b + c]; }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let lane = li % KL;
  let rg = li / KL;
  let n0 = wg.x * ROWS + rg * RPT;
  let t0 = wg.y * TOK;
  let K4 = (p.K + 3u) / 4u;
  let G = select((p.K + GW - 1u) / GW, 1u, GROUP == 0u);
  var acc: array<f32, ACC>;
  var xv: array<vec4f, TOK>;
  let nT = min(TOK, p.T - t0);
  for (var j = lane; j < K4; j += KL) {
    let k = 4u * j;
#unroll t TOK
    xv[t] = select(vec4f(0.0), xword(t0 + t, k), t < nT);
#end
#unroll r RPT
    let n = clampRow(n0 + r);
    var w = vec4f(unpack4xI8(W[n * K4 + j]));
    if (GROUP != 0u) { w *= scales[n * G + k / GW]; }
#unroll t TOK
    acc[r * TOK + t] += dot(w, xv[t]);
#end
#end
  }
  storePartials(li, &acc);
  workgroupBarrier();
  storeOutputs(li, wg.x, t0, nT);
}
