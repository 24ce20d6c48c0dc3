// matmul_f16x8 with x staged in workgroup memory, for a GPU: in the plain kernel every row
// group loads its own copy of x (N / RPT rows x T x K floats from L2 a pass). Here the RG row
// groups of a workgroup share one copy of each chunk of KC = 8 KL weights of K: the workgroup
// loads it (TOK x 2 KL vec4f) once, waits at a barrier, and every row reads it from workgroup
// memory. Written as the guess for why an H200's tiled passes cost what their tokens do; there
// it ran within a few percent of the plain kernel, so x's traffic was not that bound (PERF.md,
// session 15). A tuner candidate where no interleaved copy exists; same layout and results as
// matmul_f16x8, which stays as its check. On the software adapter the barriers and workgroup
// loads cost more than they save, and the tuner keeps the plain one there.
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

// A chunk's x of one token: lane l's first four floats at [l], its last four at [KL + l], so
// neighbouring lanes read neighbouring words.
const XW = 2u * KL;
var<workgroup> xsh: array<vec4f, TOK * XW>;

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
  for (var c = 0u; c < K8; c += KL) {
    for (var i = li; i < TOK * XW; i += WG) {
      let t = i / XW;
      let j = i % XW;
      let v = 2u * (c + j % KL) + j / KL;
      xsh[i] = select(vec4f(0.0), x[x0 + (t0 + t) * K4 + v], t < nT && v < K4);
    }
    workgroupBarrier();
    if (c + lane < K8) {
#unroll t TOK
      xv[t] = xsh[t * XW + lane];
      xw[t] = xsh[t * XW + KL + lane];
#end
#unroll r RPT
      let w = W[clampRow(n0 + r) * K8 + c + lane];
      let wa = vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
      let wb = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));
#unroll t TOK
      acc[r * TOK + t] += dot(wa, xv[t]) + dot(wb, xw[t]);
#end
#end
    }
    workgroupBarrier();
  }
  storePartials(li, &acc);
  workgroupBarrier();
  storeOutputs(li, wg.x, t0, nT);
}
