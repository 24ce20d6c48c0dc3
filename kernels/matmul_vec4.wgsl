// Linear layer with 4-wide loads (K % 4 == 0): the tiled kernel of matmul.wgsl reading
// weights and activations as vec4, so each load instruction brings four elements (the
// software adapter is bound by load instructions, a GPU by bytes; both gain).
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * W[n, k] + bias[n])
// x: [T, K] f32 (vec4 view); W: [N, K] WT (vec4 view); bias: [N] f32; y: [T, yStride] f32.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> W: array<vec4<WT>>;
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
  let K4 = p.K / 4u;
  let x0 = p.xOffset / 4u;
  var acc: array<f32, ACC>;
  var xv: array<vec4f, TOK>;
  let nT = min(TOK, p.T - t0);
  for (var k = lane; k < K4; k += KL) {
#unroll t TOK
    xv[t] = select(vec4f(0.0), x[x0 + (t0 + t) * K4 + k], t < nT);
#end
#unroll r RPT
    let w = vec4f(W[clampRow(n0 + r) * K4 + k]);
#unroll t TOK
    acc[r * TOK + t] += dot(w, xv[t]);
#end
#end
  }
  storePartials(li, &acc);
  workgroupBarrier();
  storeOutputs(li, wg.x, t0, nT);
}
