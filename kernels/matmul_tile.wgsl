// Shared by the tiled linear kernels (matmul, matmul_vec4, matmul_f16x8, matmul_int8,
// matmul_int8x16): their parameters, the tile shape and the store epilogue.
// A workgroup of WG = RG * KL owns ROWS = RG * RPT output rows and TOK tokens; KL lanes split K
// so neighbouring invocations read neighbouring weights; each keeps RPT x TOK partial sums.
// TOK, RPT, KL, FLAGS (and GROUP for int8) are set per pipeline. KL 16 (a workgroup of 64) is
// the software adapter's shape; KL 64 (256) gives a GPU's matrices of few rows and long K
// (Pythia-2.8B's dense_4h_to_h: 2560 rows of 10240) four times the invocations in flight.
// FLAGS (the epilogue's bias, activation and residual add; the uniform's `flags` word is what
// the naive oracles read) is a constant because a software adapter runs a branch on a uniform
// as masked straight-line code:
// with the flags in a uniform, lavapipe evaluated the exact GELU (its exp) and gathered the
// bias for every output of every linear layer, whatever the flags said (PERF.md).
struct Params { T: u32, K: u32, N: u32, xOffset: u32, yStride: u32, yOffset: u32, flags: u32, _pad: u32 }
const ACCUMULATE = 1u;
const BIAS = 8u;

const RG = 4u;
const WG = RG * KL;
const ROWS = RG * RPT;
const ACC = RPT * TOK;

var<workgroup> part: array<f32, WG * ACC>;

// The row a kernel's r-th row of n0 reads: past N (in the last workgroup) row N - 1, whose sums
// storeOutputs drops. So the row loops run RPT times, a constant they can be unrolled over,
// rather than the rows left, a runtime value that made the partial sums' index dynamic.
fn clampRow(n: u32) -> u32 { return min(n, p.N - 1u); }

// An invocation's partial sums into `part`, every index a constant. The kernels' loops over
// rows and tokens are #unroll blocks (kernels/kernel.ts) for the same reason: one dynamic index
// into `acc` anywhere and a compiler may keep the whole array in memory rather than registers.
// On an H200, with the loops rolled, every tiled kernel's time grew as T x N x K at about 1.9
// TFLOP/s (dense_4h_to_h: 4 tokens cost 3.6 of one, 8 of them 7.5); the unrolled form is not
// yet measured there (PERF.md, session 15).
fn storePartials(li: u32, acc: ptr<function, array<f32, ACC>>) {
#unroll r RPT
#unroll t TOK
  part[li * ACC + r * TOK + t] = (*acc)[r * TOK + t];
#end
#end
}

// The end of a tiled linear kernel: sums the KL lane partials of each (row, token)
// in `part` and writes bias, activation and (optionally) the residual add.
// Needs at module scope: p, bias, y, part, KL, RPT, TOK, ROWS, ACC, ACCUMULATE, BIAS and
// fn rowScale(n) -> f32 (1.0, or an int8 row's scale applied once to its sum).
fn storeOutputs(li: u32, wgx: u32, t0: u32, nT: u32) {
  // ROWS * TOK outputs may exceed the WG invocations: stride over them.
  for (var o = li; o < ROWS * TOK; o += WG) {
    let row = o / TOK;
    let t = o % TOK;
    let n = wgx * ROWS + row;
    let g = row / RPT;
    let r = row % RPT;
    if (n < p.N && t < nT) {
      var s = 0.0;
      for (var l = 0u; l < KL; l++) { s += part[(g * KL + l) * ACC + r * TOK + t]; }
      s *= rowScale(n);
      if ((FLAGS & BIAS) != 0u) { s += bias[n]; }
      s = activate(s, FLAGS);
      let y0 = (t0 + t) * p.yStride + p.yOffset + n;
      if ((FLAGS & ACCUMULATE) != 0u) { y[y0] += s; } else { y[y0] = s; }
    }
  }
}
