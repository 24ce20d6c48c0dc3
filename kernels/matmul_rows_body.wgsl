// Shared body of matmul_rows.wgsl and matmul_rows_any.wgsl: the linear layer shaped for
// software adapters (lavapipe), which pay per invocation and per barrier rather than per
// byte. No workgroup memory and no barrier: each invocation owns RPT whole output rows and
// TOK tokens, walks K eight weights at a time (one vec4<u32> of packed f16, unpacked with
// unpack2x16float: no shader-f16 needed) and reuses every loaded weight for all TOK tokens,
// so a verify pass of T <= 16 tokens reads each weight once (TOK = T, set per pipeline).
// W is the k8-interleaved copy of a chunk [R, K] in 8-row panels (engine/ops.ts
// interleaveF16): word ((n >> 3) * K8 + j) * 8 + (n & 7) holds W[n, 8j .. 8j+7] (zero past K),
// so neighbouring invocations - rows n, n+1 - read neighbouring 16-byte words and each panel
// is streamed in order. Invocation g owns rows g + r*S, r < RPT, S = ceil(R / RPT) rounded up
// to a multiple of 8, which keeps that adjacency for every r.
// y[t, yOffset + n] (+)= act(sum_k x[xOffset + t*K + k] * W[n, k] + bias[n])
// Needs at module scope: fn xw(row: u32, k: u32) -> vec4f (x[row + k .. row + k + 3], zero
// at k >= K), fn wload(i: u32) -> vec4u (word i of the interleaved weights, binding 2), RPT,
// TOK, WGS (invocations per workgroup: small matrices use small workgroups so that every CPU
// thread of a software adapter gets some) and FLAGS (the epilogue: bias, activation, residual
// add; see matmul_tile.wgsl for why it is a constant, not a uniform) and XREGS (the loop
// order below: engine/ops/linear.ts MatmulChoice.xRegs).
#include "matmul_rows_io.wgsl"

@compute @workgroup_size(WGS)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let R = p.N;
  let S = ((R + RPT - 1u) / RPT + 7u) / 8u * 8u;
  let gx = g.x;
  if (gx >= S) { return; }
  let t0 = g.z * TOK;
  let nT = min(TOK, p.T - t0);
  let K8 = (p.K + 7u) / 8u;
  var acc: array<f32, RPT * TOK>;
  var row: array<u32, TOK>;
#unroll t TOK 16
  row[t] = p.xOffset + min(t0 + t, p.T - 1u) * p.K;
#end
  // The loops over rows and over tokens (TOK <= 16) are unrolled (#unroll, kernels/kernel.ts):
  // acc, xa, xb, wa and wb indexed by constants stay in a software adapter's registers. Up to
  // 4 tokens only, verify passes of 9-16 tokens took 1.5-2x as long on lavapipe (acc indexed
  // by a loop counter lives in memory; PERF.md), at the price of ~1-2 s more shader
  // compilation when a model is loaded and tuned.
  for (var j = 0u; j < K8; j++) {
    let k = 8u * j;
    if (XREGS != 0u) {
      // Few tokens: keep this step's x of every token in registers, stream the rows.
      var xa: array<vec4f, TOK>;
      var xb: array<vec4f, TOK>;
#unroll t TOK 16
      xa[t] = xw(row[t], k);
      xb[t] = xw(row[t], k + 4u);
#end
#unroll r RPT
      let n = min(gx + r * S, R - 1u);
      let w = wload(((n >> 3u) * K8 + j) * 8u + (n & 7u));
      let wa = vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
      let wb = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));
#unroll t TOK 16
      acc[r * TOK + t] += dot(wa, xa[t]) + dot(wb, xb[t]);
#end
#end
    } else {
      // Many tokens: keep this step's weights of every row in registers, stream the tokens
      // (fewer live registers than TOK x values: no spills as T grows).
      var wa: array<vec4f, RPT>;
      var wb: array<vec4f, RPT>;
#unroll r RPT
      let n = min(gx + r * S, R - 1u);
      let w = wload(((n >> 3u) * K8 + j) * 8u + (n & 7u));
      wa[r] = vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
      wb[r] = vec4f(unpack2x16float(w.z), unpack2x16float(w.w));
#end
#unroll t TOK 16
      let xa = xw(row[t], k);
      let xb = xw(row[t], k + 4u);
#unroll r RPT
      acc[r * TOK + t] += dot(wa[r], xa) + dot(wb[r], xb);
#end
#end
    }
  }
#unroll r RPT
  let n = gx + r * S;
  if (n < R) {
#unroll t TOK 16
    if (t < nT) {
      storeOut(n, t0 + t, acc[r * TOK + t]);
    }
#end
  }
#end
}
