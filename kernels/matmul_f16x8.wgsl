// Linear layer over f16 weights packed as vec4<u32> (K % 8 == 0): one load brings eight
// weights, unpacked with unpack2x16float, so it needs no shader-f16 feature and halves the
// load instructions of matmul_vec4 (the software adapter is bound by them).
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * W[n, k] + bias[n])
// x: [T, K] f32 (vec4 view); W: [N, K] f16 (vec4<u32> view: 8 weights per element); bias: [N] f32; y: [T, yStride] f32.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> W: array<vec4u>;
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
  let K8 = p.K / 8u;
  let x0 = p.xOffset / 4u;
  var acc: array<f32, ACC>;
  var xv: array<vec4f, TOK>;
  var xw: array<vec4f, TOK>;
  let nT = min(TOK, p.T - t0);
  for (var k = lane; k < K8; k += KL) {
#unroll t TOK
    let xi = x0 + (t0 + t) * K4 + 2u * k;
    xv[t] = select(vec4f(0.0), x[xi], t < nT);
    xw[t] = select(vec4f(0.0), x[xi + 1u], t < nT);
#end
#unroll r RPT
    let w = W[clampRow(n0 + r) * K8 + k];
    let wa = vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
    let wb = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));
#unroll t TOK
    acc[r * TOK + t] += dot(wa, xv[t]) + dot(wb, xw[t]);
#end
#end
  }
  storePartials(li, &acc);
  workgroupBarrier();
  storeOutputs(li, wg.x, t0, nT);
}
