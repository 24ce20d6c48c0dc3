/**
 * INT8 vs F16 linear layers on Pythia-2.8B shapes (qkv 2560->7680, h_to_4h 2560->10240,
 * 4h_to_h 10240->2560): the 1-token decode GEMV (T = 1) and a K = 5 verify GEMM (T = 6), with
 * random weights: the workgroup-tiled kernels (matmul_f16x8, matmul_int8x16) and the
 * barrier-free row kernels over interleaved copies (matmul_rows, matmul_int8_rows; RPT 8).
 * One group per shape and T, matmul_f16x8 the baseline, so `deno bench` prints each kernel's
 * ratio to it. Run: deno bench -A tests/int8_bench.ts
 */
import { getGpu } from "../engine/device_deno.ts";
import { type Gpu, storageBuffer } from "../engine/device.ts";
import {
  interleaveF16,
  interleaveInt8,
  type Linear,
  linear,
  type MatmulChoice,
  rowsTok,
} from "../engine/ops.ts";
import { int8RowWords } from "../engine/quantize.ts";
import { encodeDispatches, KernelLibrary } from "../kernels/kernel.ts";

const gpu = await getGpu();

const lib = new KernelLibrary(gpu.device);

/** Random u32 words (xorshift32): any byte pattern is a valid int8 quadruple. */
function randomWords(n: number, seed: number, mask = 0xffffffff): Uint32Array {
  const out = new Uint32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) & mask;
  }
  return out;
}

function f16Linear(g: Gpu, N: number, K: number): Linear {
  const wt = g.hasF16 ? "f16" : "f32";
  // f16 pairs with exponents below 15 (|w| < 1), or f32 with exponents below 127
  const words = randomWords(
    wt === "f16" ? (N * K) / 2 : N * K,
    N ^ K,
    wt === "f16" ? 0xbbffbbff : 0xbeffffff,
  );
  const bias = storageBuffer(g, 0, "bias", new Float32Array(N).fill(0.01));
  const inter = wt === "f16"
    ? storageBuffer(g, 0, "w k8", interleaveF16(new Uint16Array(words.buffer), N, K))
    : undefined;
  return {
    N,
    K,
    wt,
    chunks: [{ buf: storageBuffer(g, 0, "w", words), rowStart: 0, rows: N, inter }],
    bias,
  };
}

function int8Linear(g: Gpu, N: number, K: number): Linear {
  const packed = randomWords(N * int8RowWords(K), N ^ K);
  const scales = storageBuffer(g, 0, "scales", new Float32Array(N).fill(0.02 / 127));
  const bias = storageBuffer(g, 0, "bias", new Float32Array(N).fill(0.01));
  return {
    N,
    K,
    wt: "int8",
    group: 0,
    chunks: [{
      buf: storageBuffer(g, 0, "w", packed),
      scales,
      rowStart: 0,
      rows: N,
      inter: storageBuffer(g, 0, "w k16", interleaveInt8(packed, N, K)),
    }],
    bias,
  };
}

const SHAPES: { name: string; N: number; K: number }[] = [
  { name: "query_key_value 2560->7680", N: 7680, K: 2560 },
  { name: "dense_h_to_4h 2560->10240", N: 10240, K: 2560 },
  { name: "dense_4h_to_h 10240->2560", N: 2560, K: 10240 },
];

const TOKENS = [{ T: 1, what: "GEMV T=1" }, { T: 6, what: "verify GEMM T=6" }];

for (const { name, N, K } of SHAPES) {
  const weights = { f16: f16Linear(gpu, N, K), int8: int8Linear(gpu, N, K) };
  const x = storageBuffer(gpu, 0, "x", new Float32Array(6 * K).fill(0.5));
  const y = storageBuffer(gpu, 6 * N * 4, "y");
  for (const { T, what } of TOKENS) {
    const rows = (variant: "rows" | "int8_rows"): MatmulChoice => ({
      variant,
      tok: rowsTok(T),
      rpt: 8,
    });
    const kernels: [string, Linear, MatmulChoice | undefined][] = [
      [weights.f16.wt, weights.f16, undefined],
      ["int8", weights.int8, undefined],
      ...(weights.f16.wt === "f16"
        ? [["f16 matmul_rows", weights.f16, rows("rows")] as [string, Linear, MatmulChoice]]
        : []),
      ["int8 matmul_int8_rows", weights.int8, rows("int8_rows")],
    ];
    for (const [kind, lin, variant] of kernels) {
      // Without a variant, the rule for chunks without interleaved copies (f16x8, int8x16).
      const plain = { ...lin, chunks: lin.chunks.map((c) => ({ ...c, inter: undefined })) };
      const out = linear(lib, variant ? lin : plain, { label: name, x, y, T, variant });
      Deno.bench({
        name: `${kind} ${what} ${name}`,
        group: `${what} ${name}`,
        baseline: kind === weights.f16.wt,
        n: 5,
        warmup: 1,
        async fn() {
          const enc = gpu.device.createCommandEncoder();
          const pass = enc.beginComputePass();
          encodeDispatches(pass, out);
          pass.end();
          gpu.device.queue.submit([enc.finish()]);
          await gpu.device.queue.onSubmittedWorkDone();
        },
      });
    }
  }
}
