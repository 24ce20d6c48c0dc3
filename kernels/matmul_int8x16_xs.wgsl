// matmul_int8x16 with x staged in workgroup memory, for a GPU (matmul_f16x8_xs says why and
// what it measured): the RG row groups of a workgroup share each chunk of KC = 16 KL weights of
// K (TOK x 4 KL vec4f), loaded once a chunk between two barriers. Same layout and results as
// matmul_int8x16, which stays as its check.
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * q[n, k] * scale[n, k / group] + bias[n])
// x: [T, K] f32 (vec4 view); W: [N, K/16] vec4<u32>; scales: [N, G] f32 (G = 1 when GROUP
// is 0, applied once to the row's sum); bias: [N] f32; y: [T, yStride] f32.

const GW = max(GROUP, 1u);

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> W: array<vec4u>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> scales: array<f32>;

#include "activation.wgsl"

fn rowScale(n: u32) -> f32 { return select(1.0, scales[n], GROUP == 0u); }

#include "matmul_tile.wgsl"

// A chunk's x of one token: lane l's c-th four floats at [c * KL + l].
const XW = 4u * KL;
var<workgroup> xsh: array<vec4f, TOK * XW>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let lane = li % KL;
  let rg = li / KL;
  let n0 = wg.x * ROWS + rg * RPT;
  let t0 = wg.y * TOK;
  let K4 = p.K / 4u;
  let K16 = p.K / 16u;
  let x0 = p.xOffset / 4u;
  let G = select(p.K / GW, 1u, GROUP == 0u);
  var acc: array<f32, ACC>;
  var xs: array<array<vec4f, 4>, TOK>;
  let nT = min(TOK, p.T - t0);
  for (var c0 = 0u; c0 < K16; c0 += KL) {
    for (var i = li; i < TOK * XW; i += WG) {
      let t = i / XW;
      let j = i % XW;
      let v = 4u * (c0 + j % KL) + j / KL;
      xsh[i] = select(vec4f(0.0), x[x0 + (t0 + t) * K4 + v], t < nT && v < K4);
    }
    workgroupBarrier();
    let k = c0 + lane;
    if (k < K16) {
#unroll t TOK
#unroll c 4
      xs[t][c] = xsh[t * XW + c * KL + lane];
#end
#end
#unroll r RPT
      let n = clampRow(n0 + r);
      let w = W[n * K16 + k];
      let w0 = vec4f(unpack4xI8(w.x));
      let w1 = vec4f(unpack4xI8(w.y));
      let w2 = vec4f(unpack4xI8(w.z));
      let w3 = vec4f(unpack4xI8(w.w));
      let s = select(1.0, scales[n * G + (16u * k) / GW], GROUP != 0u);
#unroll t TOK
      let d = dot(w0, xs[t][0]) + dot(w1, xs[t][1]) + dot(w2, xs[t][2]) + dot(w3, xs[t][3]);
      acc[r * TOK + t] += d * s;
#end
#end
    }
    workgroupBarrier();
  }
  storePartials(li, &acc);
  workgroupBarrier();
  storeOutputs(li, wg.x, t0, nT);
}
