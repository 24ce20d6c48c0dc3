// Shared body of matmul_int8_rows.wgsl, matmul_int8_rows_tex.wgsl and matmul_int8_rows_ubo.wgsl:
// matmul_rows (kernels/matmul_rows_body.wgsl) over int8 weights. Barrier-free, each invocation
// owns RPT whole output rows and TOK tokens and walks K sixteen weights at a time, one
// vec4<u32> of packed int8 (unpack4xI8), reusing every loaded weight for all TOK tokens. Same
// results as matmul_int8x16.wgsl (its check and the naive oracle's): per-row scales (GROUP 0)
// multiply the row's sum, group scales each group's part. K % 16 == 0 and GROUP % 16 == 0.
// W is the k16-interleaved copy of a chunk's packed rows [R, K/16 words of 16 bytes] in 8-row
// panels (engine/ops/linear.ts interleaveInt8): word j of row n at ((n >> 3) * K16 + j) * 8 +
// (n & 7), rows past R zero. Invocation g owns rows g + r*S, r < RPT, S = ceil(R / RPT)
// rounded up to a multiple of 8.
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * q[n, k] * scale[n, k / group] + bias[n])
// scales: [R, G] f32, G = 1 (GROUP 0) or ceil(K / GROUP); bias: [N] f32; y: [T, yStride] f32.
// Needs at module scope: fn xv(i: u32) -> vec4f (vec4 i of x, binding 1), fn wload(i: u32) ->
// vec4u (word i of the interleaved weights, binding 2). Constants per pipeline: RPT, TOK, WGS,
// FLAGS (epilogue), XREGS (loop order, as matmul_rows), GROUP.
#include "matmul_rows_io.wgsl"
const GW = max(GROUP, 1u);

@group(0) @binding(5) var<storage, read> scales: array<f32>;

@compute @workgroup_size(WGS)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let R = p.N;
  let S = ((R + RPT - 1u) / RPT + 7u) / 8u * 8u;
  let gx = g.x;
  if (gx >= S) { return; }
  let t0 = g.z * TOK;
  let nT = min(TOK, p.T - t0);
  let K16 = p.K / 16u;
  let G = (p.K + GW - 1u) / GW;
  var acc: array<f32, RPT * TOK>;
  var row: array<u32, TOK>;
#unroll t TOK 16
  row[t] = (p.xOffset + min(t0 + t, p.T - 1u) * p.K) / 4u;
#end
  // Group scales of the RPT rows, loaded when a group starts (a group spans GW / 16 steps).
  var sc: array<f32, RPT>;
  // Loops over rows and tokens unrolled, as in matmul_rows_body.wgsl.
  for (var j = 0u; j < K16; j++) {
    if (GROUP != 0u && (16u * j) % GW == 0u) {
#unroll r RPT
      sc[r] = scales[min(gx + r * S, R - 1u) * G + (16u * j) / GW];
#end
    }
    if (XREGS != 0u) {
      // Few tokens: this step's sixteen x of every token in registers, the rows streamed.
      var x0: array<vec4f, TOK>;
      var x1: array<vec4f, TOK>;
      var x2: array<vec4f, TOK>;
      var x3: array<vec4f, TOK>;
#unroll t TOK 16
      let b = row[t] + 4u * j;
      x0[t] = xv(b);
      x1[t] = xv(b + 1u);
      x2[t] = xv(b + 2u);
      x3[t] = xv(b + 3u);
#end
#unroll r RPT
      let n = min(gx + r * S, R - 1u);
      let w = wload(((n >> 3u) * K16 + j) * 8u + (n & 7u));
      let w0 = vec4f(unpack4xI8(w.x));
      let w1 = vec4f(unpack4xI8(w.y));
      let w2 = vec4f(unpack4xI8(w.z));
      let w3 = vec4f(unpack4xI8(w.w));
#unroll t TOK 16
      var d = dot(w0, x0[t]) + dot(w1, x1[t]) + dot(w2, x2[t]) + dot(w3, x3[t]);
      if (GROUP != 0u) { d *= sc[r]; }
      acc[r * TOK + t] += d;
#end
#end
    } else {
      // Many tokens: this step's weights of every row in registers, the tokens streamed.
      var w0: array<vec4f, RPT>;
      var w1: array<vec4f, RPT>;
      var w2: array<vec4f, RPT>;
      var w3: array<vec4f, RPT>;
#unroll r RPT
      let n = min(gx + r * S, R - 1u);
      let w = wload(((n >> 3u) * K16 + j) * 8u + (n & 7u));
      w0[r] = vec4f(unpack4xI8(w.x));
      w1[r] = vec4f(unpack4xI8(w.y));
      w2[r] = vec4f(unpack4xI8(w.z));
      w3[r] = vec4f(unpack4xI8(w.w));
#end
#unroll t TOK 16
      let b = row[t] + 4u * j;
      let xa = xv(b);
      let xb = xv(b + 1u);
      let xc = xv(b + 2u);
      let xd = xv(b + 3u);
#unroll r RPT
      var d = dot(w0[r], xa) + dot(w1[r], xb) + dot(w2[r], xc) + dot(w3[r], xd);
      if (GROUP != 0u) { d *= sc[r]; }
      acc[r * TOK + t] += d;
#end
#end
    }
  }
#unroll r RPT
  let n = gx + r * S;
  if (n < R) {
    var rs = 1.0;
    if (GROUP == 0u) { rs = scales[n]; }
#unroll t TOK 16
    if (t < nT) {
      storeOut(n, t0 + t, acc[r * TOK + t] * rs);
    }
#end
  }
#end
}
