// Linear layer, tiled: y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * W[n, k] + bias[n])
// x: [T, K] f32; W: [N, K] (WT); bias: [N] f32; y: [T, yStride] f32.
// A workgroup owns ROWS output rows and TOK tokens (TOK is set per pipeline: 1 for the
// decode GEMV, more for prefill and verify, so each weight is loaded once for TOK tokens).
// KL lanes split K so neighbouring invocations read neighbouring weights; RPT (2) rows each.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<WT>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

#include "activation.wgsl"

fn rowScale(n: u32) -> f32 { return 1.0; }

#include "matmul_tile.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let lane = li % KL;
  let rg = li / KL;
  let n0 = wg.x * ROWS + rg * RPT;
  let t0 = wg.y * TOK;
  var acc: array<f32, ACC>;
  var xv: array<f32, TOK>;
  let nT = min(TOK, p.T - t0);
  for (var k = lane; k < p.K; k += KL) {
#unroll t TOK
    xv[t] = select(0.0, x[p.xOffset + (t0 + t) * p.K + k], t < nT);
#end
#unroll r RPT
    let w = f32(W[clampRow(n0 + r) * p.K + k]);
#unroll t TOK
    acc[r * TOK + t] += w * xv[t];
#end
#end
  }
  storePartials(li, &acc);
  workgroupBarrier();
  storeOutputs(li, wg.x, t0, nT);
}
