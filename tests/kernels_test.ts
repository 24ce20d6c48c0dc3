/**
 * Every WGSL kernel against the float64 reference, on seeded random inputs of many
 * shapes (odd sizes included), in one table (ggml test-backend-ops style). Each row
 * states its tolerance on max|diff| and on the normalized error
 * NMSE = sum (got - want)^2 / sum want^2, and prints one line:
 * kernel, shape, max|diff|, tolerance, NMSE.
 *
 * Kernels are built through engine/ops.ts, the functions engine/model.ts buildPass calls, and
 * each variant of an op is forced through the op's `variant` option. Output buffers start as
 * NaN, so an element a kernel forgets to write (or writes out of range) fails.
 */

import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { type Gpu, readBuffer, storageBuffer } from "../engine/device.ts";
import { rotaryTable } from "../engine/model.ts";
import type { NeoxConfig } from "../engine/config.ts";
import { f16BitsToF32, f32ToF16Bits } from "../engine/safetensors.ts";
import { type Dispatch, encodeDispatches, KernelLibrary } from "../kernels/kernel.ts";
import {
  acceptGreedy,
  advance,
  appendsInAttention,
  argmax,
  ARGMAX_WG,
  attention,
  attentionChoice,
  attentionMultiFits,
  attentionName,
  attentionRowsFits,
  attentionSplitFits,
  type AttentionVariant,
  embedding,
  fill,
  interleave,
  interleavedBytes,
  interleaveF16,
  kvAppend,
  layerNorm,
  layerNormPair,
  type Linear,
  linear,
  type MatmulChoice,
  matmulChoice,
  NORM_WG,
  readsWeightTexture,
  rotary,
  rotaryAppend,
  rowsTok,
  weightTexture,
  WIDE_LANES,
} from "../engine/ops.ts";
import {
  refAttention,
  refGelu,
  refGeluTanh,
  refLayerNorm,
  refLinear,
  refRotary,
} from "./reference.ts";
import { type SeededRandom, seededRandom } from "./seeded_random.ts";
import {
  ATTENTION_MULTI,
  ATTENTION_SPLIT_LANES,
  MAX_ACCUMULATORS,
  WIDE_REDUCTION_WG,
} from "../engine/autotune.ts";

/** Weight types of the float kernels (the int8 kernels have tests/int8_test.ts). */
type FloatWeight = "f16" | "f32";

/** What a row's run returns: the kernel's output and the reference, same length. */
interface Outcome {
  got: ArrayLike<number>;
  want: ArrayLike<number>;
}

/** One line of the table. */
interface Row {
  kernel: string;
  shape: string;
  /** Largest allowed |got - want| (0: bit-exact). */
  tol: number;
  /** Largest allowed normalized error. */
  nmseTol: number;
  run: () => Promise<Outcome>;
}

/** Default NMSE bound for float32 kernels (float32 rounding alone gives ~1e-14). */
const NMSE_F32 = 1e-10;

/** |a - b| with NaN == NaN (untouched NaN padding) as 0 and one-sided NaN as Infinity. */
function diff(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return a === b ? 0 : Math.abs(a - b);
}

function errors(o: Outcome): { maxDiff: number; nmse: number } {
  assert.equal(o.got.length, o.want.length, "output length");
  let maxDiff = 0, num = 0, den = 0;
  for (let i = 0; i < o.want.length; i++) {
    const d = diff(o.got[i], o.want[i]);
    maxDiff = Math.max(maxDiff, d);
    if (!Number.isNaN(o.want[i])) {
      num += d * d;
      den += o.want[i] * o.want[i];
    }
  }
  return { maxDiff, nmse: den > 0 ? num / den : num };
}

/** A minimal config for the rotary table. */
function ropeConfig(rot: number, base: number, hd: number): NeoxConfig {
  return {
    hiddenSize: hd,
    numLayers: 1,
    numHeads: 1,
    headDim: hd,
    intermediateSize: 4 * hd,
    vocabSize: 1,
    rotaryDims: rot,
    rotaryBase: base,
    maxPositions: 2048,
    layerNormEps: 1e-5,
    parallelResidual: true,
    activation: "gelu",
    attentionBias: true,
    eosTokenId: 0,
    bosTokenId: 0,
  };
}

/** f16 bits of `x` and the values they stand for. */
function toF16(x: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const bits = new Uint16Array(x.length);
  const values = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    bits[i] = f32ToF16Bits(x[i]);
    values[i] = f16BitsToF32(bits[i]);
  }
  return { bits, values };
}

/** The table's GPU plumbing: buffers, one submit per row, readback. */
class Bench {
  readonly gpu: Gpu;
  readonly lib: KernelLibrary;
  #made: GPUBuffer[] = [];
  #textures: GPUTexture[] = [];
  constructor(gpu: Gpu) {
    this.gpu = gpu;
    this.lib = new KernelLibrary(gpu.device);
  }
  buffer(data: ArrayBufferView, label = "test"): GPUBuffer {
    const b = storageBuffer(this.gpu, data.byteLength, label, data);
    this.#made.push(b);
    return b;
  }
  nan(count: number): GPUBuffer {
    return this.buffer(new Float32Array(count).fill(NaN), "nan-filled");
  }
  /** The weight texture of an interleaved copy (as loadModel makes it). */
  texture(inter: GPUBuffer): GPUTexture {
    const enc = this.gpu.device.createCommandEncoder();
    const t = weightTexture(this.gpu.device, enc, inter, "test");
    this.gpu.device.queue.submit([enc.finish()]);
    this.#textures.push(t);
    return t;
  }
  state(cacheLen: number, tokenPos: number): GPUBuffer {
    const s = new Uint32Array(16);
    s[0] = cacheLen;
    s[1] = tokenPos;
    return this.buffer(s, "state");
  }
  run(dispatches: Dispatch[]): void {
    const enc = this.gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, dispatches);
    pass.end();
    this.gpu.device.queue.submit([enc.finish()]);
  }
  async f32(b: GPUBuffer, count: number): Promise<Float32Array> {
    return new Float32Array(await readBuffer(this.gpu, b, 0, count * 4));
  }
  async u32(b: GPUBuffer, count: number): Promise<Uint32Array> {
    return new Uint32Array(await readBuffer(this.gpu, b, 0, count * 4));
  }
  destroy(): void {
    for (const b of this.#made) b.destroy();
    for (const t of this.#textures) t.destroy();
    this.#made = [];
    this.#textures = [];
  }
}

// ---------------------------------------------------------------------------------------
// Rows, one builder per kernel.

function embeddingRows(b: Bench, rnd: SeededRandom): Row[] {
  const rows: Row[] = [];
  // [V, d, T, tokenPos, chunk rows (the table split as embed_in is when it exceeds a binding)]
  const shapes: [number, number, number, number, number][] = [
    [77, 1, 1, 0, 77],
    [77, 7, 5, 3, 40],
    [1000, 65, 9, 11, 1000],
    [1000, 384, 17, 2, 333],
  ];
  for (const wt of ["f32", "f16"] as FloatWeight[]) {
    for (const [V, d, T, tokenPos, per] of shapes) {
      rows.push({
        kernel: `embedding ${wt}`,
        shape: `V=${V} d=${d} T=${T} tokenPos=${tokenPos} chunk=${per}`,
        tol: 0,
        nmseTol: 0,
        run: async () => {
          const raw = rnd.normals(V * d);
          const f16 = toF16(raw);
          const table = wt === "f16" ? f16.values : raw;
          const tokens = new Uint32Array(tokenPos + T + 1).fill(0xffffffff);
          const ids: number[] = [];
          for (let t = 0; t < T; t++) ids.push(t === 0 ? V - 1 : t === 1 ? 0 : rnd.int(V));
          tokens.set(ids, tokenPos);
          const x = b.nan(T * d);
          const state = b.state(5, tokenPos);
          const tok = b.buffer(tokens);
          const embedIn: Linear = { N: V, K: d, wt, chunks: [], bias: null };
          for (let r = 0; r < V; r += per) {
            const rowsHere = Math.min(per, V - r);
            const slice = wt === "f16"
              ? f16.bits.slice(r * d, (r + rowsHere) * d)
              : raw.slice(r * d, (r + rowsHere) * d);
            embedIn.chunks.push({ buf: b.buffer(slice), rowStart: r, rows: rowsHere });
          }
          b.run(embedding(b.lib, embedIn, { state, tokens: tok, x, T }));
          const want = new Float32Array(T * d);
          ids.forEach((id, t) => want.set(table.subarray(id * d, (id + 1) * d), t * d));
          return { got: await b.f32(x, T * d), want };
        },
      });
    }
  }
  return rows;
}

function layernormRows(b: Bench, rnd: SeededRandom): Row[] {
  const shapes: [number, number][] = [[1, 1], [2, 3], [5, 63], [1, 65], [17, 384], [9, 513]];
  return shapes.map(([T, d]) => ({
    kernel: "layernorm",
    shape: `T=${T} d=${d}`,
    tol: 5e-6,
    nmseTol: NMSE_F32,
    run: async () => {
      // A large common offset checks that the variance is computed about the mean.
      const x = rnd.normals(T * d, 3, 5);
      const w = rnd.normals(d, 0.5, 1);
      const bias = rnd.normals(d, 0.5);
      const eps = 1e-5;
      const y = b.nan(T * d);
      b.run([layerNorm(b.lib, {
        x: b.buffer(x),
        y,
        norm: { weight: b.buffer(w), bias: b.buffer(bias) },
        T,
        d,
        eps,
      })]);
      const want = refLayerNorm(
        Float64Array.from(x),
        Float64Array.from(w),
        Float64Array.from(bias),
        T,
        d,
        eps,
      );
      return { got: await b.f32(y, T * d), want };
    },
  }));
}

/** One matmul case: sizes, flag set and the x/y placement used by chunks and `xRow`. */
interface MatmulCase {
  K: number;
  N: number;
  T: number;
  bias?: boolean;
  accumulate?: boolean;
  act?: "gelu" | "gelu_tanh";
  /** x rows skipped before the first used row (model.linear's xRow). */
  xRow?: number;
  /** Extra y columns left and right of the N written ones (a chunk of a wider output). */
  yPad?: [number, number];
  /** Place yPad through linear's yStride / yCol options instead of a chunk's rowStart. */
  yCols?: boolean;
}

const MATMUL_CASES: MatmulCase[] = [
  { K: 1, N: 1, T: 1 },
  { K: 3, N: 7, T: 2, bias: true },
  { K: 63, N: 100, T: 5, accumulate: true },
  { K: 65, N: 513, T: 9, bias: true, act: "gelu" },
  { K: 384, N: 100, T: 17, bias: true, act: "gelu_tanh" },
  { K: 384, N: 513, T: 1, bias: true, accumulate: true },
  { K: 65, N: 7, T: 17, act: "gelu", accumulate: true },
  { K: 1, N: 513, T: 5, bias: true, act: "gelu_tanh", accumulate: true },
  { K: 63, N: 1, T: 9, act: "gelu" },
  { K: 384, N: 7, T: 5, xRow: 2, yPad: [3, 5], accumulate: true, bias: true },
  { K: 2560, N: 20, T: 6, bias: true },
  { K: 384, N: 100, T: 4, yPad: [384, 2], yCols: true, act: "gelu", bias: true },
];

/** WGSL source of each float matmul variant, for row names. */
const MATMUL_SOURCE: Record<string, string> = {
  naive: "matmul_naive",
  tiled: "matmul",
  vec4: "matmul_vec4",
  f16x8: "matmul_f16x8",
  rows: "matmul_rows",
  rows_tex: "matmul_rows_tex",
  rows_ubo: "matmul_rows_ubo",
};

function matmulName(k: MatmulChoice): string {
  const name = MATMUL_SOURCE[k.variant];
  if (k.variant === "naive") return name;
  return `${name} TOK=${k.tok}${k.rpt === undefined ? "" : ` RPT=${k.rpt}`}${
    k.xRegs === undefined ? "" : ` XREGS=${Number(k.xRegs)}`
  }${k.lanes === undefined ? "" : ` KL=${k.lanes}`}`;
}

const tiled = (tok: number): MatmulChoice => ({ variant: "tiled", tok });
const vec4 = (tok: number, rpt: number): MatmulChoice => ({ variant: "vec4", tok, rpt });
const f16x8 = (tok: number, rpt: number): MatmulChoice => ({ variant: "f16x8", tok, rpt });
const NAIVE: MatmulChoice = { variant: "naive" };
/** matmul_rows with TOK tokens per invocation (0: the engine's rowsTok(T)) and RPT rows. */
const rowsK = (tok: number, rpt: number): MatmulChoice => ({ variant: "rows", tok, rpt });

function matmulRow(
  b: Bench,
  rnd: SeededRandom,
  k: MatmulChoice | undefined,
  wt: FloatWeight,
  c: MatmulCase,
) {
  const names = [
    c.bias && "bias",
    c.accumulate && "accumulate",
    c.act,
    c.xRow && `xRow=${c.xRow}`,
    c.yPad && `yPad=${c.yPad}`,
  ].filter(Boolean).join(",");
  return {
    kernel: `${matmulName(k ?? matmulChoice({ wt, K: c.K }, c.T))} ${wt}`,
    shape: `K=${c.K} N=${c.N} T=${c.T}${names ? ` ${names}` : ""}`,
    // float32 sums of K products of N(0,1) values: |error| grows ~ sqrt(K) ulps of ~sqrt(K)
    tol: 2e-6 * Math.max(4, c.K) ** 0.75,
    nmseTol: NMSE_F32,
    run: () => runMatmul(b, rnd, c, { variant: k, wt }),
  };
}

/**
 * Half of MATMUL_CASES for the j-th of a family's configurations (TOK, RPT, order), alternating,
 * so that each configuration meets half the cases and each case half the configurations: every
 * configuration and case is a distinct pipeline to compile (lavapipe: ~0.35 s each when Mesa's
 * shader cache is cold, as in CI), and the epilogues and shapes are shared code within a family.
 */
const halfCases = (j: number) => MATMUL_CASES.filter((_c, i) => (i + j) % 2 === 0);

function matmulRows(b: Bench, rnd: SeededRandom): Row[] {
  const rows: Row[] = [];
  const wts: FloatWeight[] = ["f32", "f16"];
  // matmul_vec4 needs K % 4 == 0: its cases round K up to a multiple of 4.
  const k4 = (c: MatmulCase) => ({ ...c, K: Math.ceil(c.K / 4) * 4 });
  for (const [w, wt] of wts.entries()) {
    for (const c of MATMUL_CASES) rows.push(matmulRow(b, rnd, NAIVE, wt, c));
    // TOK follows T up to 8 (tiledTok): 3 and 5 as well as the powers of two.
    for (const [j, k] of [tiled(1), tiled(3), tiled(4), tiled(5), tiled(8)].entries()) {
      for (const c of halfCases(j + w)) rows.push(matmulRow(b, rnd, k, wt, c));
    }
    for (const [j, k] of [vec4(1, 4), vec4(4, 4), vec4(8, 4), vec4(8, 2)].entries()) {
      for (const c of halfCases(j + w)) rows.push(matmulRow(b, rnd, k, wt, k4(c)));
    }
  }
  // matmul_f16x8 reads f16 weights eight at a time: K % 8 == 0.
  const k8 = (c: MatmulCase) => ({ ...c, K: Math.ceil(c.K / 8) * 8 });
  const f16x8s = [f16x8(1, 4), f16x8(3, 4), f16x8(4, 4), f16x8(6, 4), f16x8(8, 4), f16x8(8, 2)];
  for (const [j, k] of f16x8s.entries()) {
    for (const c of halfCases(j)) rows.push(matmulRow(b, rnd, k, "f16", k8(c)));
  }
  // The wide workgroup (256 invocations, KL 64) the tuner offers where no interleaved copy
  // exists, at the configurations it times (RPT 1 and 4; TOK 8 x RPT 4 fills 32 KiB).
  const wide = [f16x8(1, 1), f16x8(4, 4), f16x8(8, 4)].map((k) => ({ ...k, lanes: WIDE_LANES }));
  for (const [j, k] of wide.entries()) {
    for (const c of halfCases(j)) rows.push(matmulRow(b, rnd, k, "f16", k8(c)));
  }
  // matmul_rows over k8-interleaved f16 weights: any K (matmul_rows_any when K % 4 != 0),
  // TOK = T (every weight read once for the pass), fewer tokens per invocation, 1-4 rows.
  for (const [j, rpt] of [1, 2, 4, 8, 16].entries()) {
    for (const c of halfCases(j)) {
      // engine/autotune.ts tries RPT x TOK <= MAX_ACCUMULATORS only.
      if (rpt * rowsTok(c.T) <= MAX_ACCUMULATORS) {
        rows.push(matmulRow(b, rnd, rowsK(rowsTok(c.T), rpt), "f16", c));
      }
    }
  }
  for (const c of halfCases(1)) rows.push(matmulRow(b, rnd, rowsK(4, 1), "f16", c));
  // The loop order the default (TOK <= RPT) does not pick, as a tuned choice can run it.
  for (const [j, rpt] of [1, 4, 8].entries()) {
    for (const c of halfCases(j)) {
      const tok = rowsTok(c.T);
      if (rpt * tok > MAX_ACCUMULATORS) continue;
      rows.push(matmulRow(b, rnd, { ...rowsK(tok, rpt), xRegs: tok > rpt }, "f16", c));
    }
  }
  // matmul_rows_tex: the same body over a weight texture (K % 4 == 0), at the row counts tuned.
  for (const rpt of [4, 8, 16]) {
    for (const c of MATMUL_CASES.filter((c) => c.K % 4 === 0)) {
      if (rpt * rowsTok(c.T) <= MAX_ACCUMULATORS) {
        rows.push(matmulRow(b, rnd, { variant: "rows_tex", tok: rowsTok(c.T), rpt }, "f16", c));
      }
    }
  }
  // matmul_rows_ubo: x through a uniform binding (T <= 16; the rows_tex twin runs where it
  // cannot be, as at T = 17 below or an unaligned xRow).
  for (const rpt of [8, 16]) {
    for (const c of MATMUL_CASES.filter((c) => c.K % 4 === 0)) {
      if (rpt * rowsTok(c.T) <= MAX_ACCUMULATORS) {
        rows.push(matmulRow(b, rnd, { variant: "rows_ubo", tok: rowsTok(c.T), rpt }, "f16", c));
      }
    }
  }
  // A matrix of more than one texture row (TEXTURE_WIDTH words), its last row partial.
  for (const T of [1, 5, 17]) {
    rows.push(matmulRow(b, rnd, { variant: "rows_tex", tok: rowsTok(T), rpt: 8 }, "f16", {
      K: 384,
      N: 1200,
      T,
      bias: true,
    }));
  }
  // Verify passes of T = 1..17 tokens on shapes of the embedded target and odd ones.
  for (const [K, N] of [[384, 1152], [1536, 384], [65, 100], [130, 7]]) {
    for (let T = 1; T <= 17; T++) {
      rows.push(matmulRow(b, rnd, rowsK(rowsTok(T), N >= 1000 ? 1 : 2), "f16", {
        K,
        N,
        T,
        bias: true,
        accumulate: T % 2 === 0,
        act: T % 3 === 0 ? "gelu" : undefined,
      }));
    }
  }
  // Every K x N x T of the brief with the kernel and TOK the engine picks (ops.ts
  // matmulChoice): matmul_f16x8 for f16 weights when K % 8 == 0, matmul_vec4 (RPT 4) when
  // K % 4 == 0, else the tiled matmul.
  for (const wt of wts) {
    for (const K of [1, 3, 63, 64, 65, 384]) {
      for (const N of [1, 7, 100, 513]) {
        for (const T of [1, 2, 5, 9, 17]) {
          rows.push({
            ...matmulRow(b, rnd, undefined, wt, { K, N, T, bias: true }),
            shape: `K=${K} N=${N} T=${T} bias (sweep)`,
          });
        }
      }
    }
  }
  return rows;
}

async function runMatmul(
  b: Bench,
  rnd: SeededRandom,
  c: MatmulCase,
  o: { variant: MatmulChoice | undefined; wt: FloatWeight },
): Promise<Outcome> {
  const { K, N, T } = c;
  const xRow = c.xRow ?? 0;
  const [padL, padR] = c.yPad ?? [0, 0];
  const stride = padL + N + padR;
  const x = rnd.normals((xRow + T) * K);
  const w = rnd.normals(N * K);
  const f16 = toF16(w);
  const wRef = o.wt === "f16" ? f16.values : w;
  const bias = rnd.normals(N);
  const y0 = c.accumulate ? rnd.normals(T * stride) : new Float32Array(T * stride).fill(NaN);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < stride; j++) if (j < padL || j >= padL + N) y0[t * stride + j] = NaN;
  }
  const y = b.buffer(y0.slice());
  // N output columns of a wider [T, stride] output: one chunk of a stride-row matrix.
  const inter = o.wt === "f16" ? b.buffer(interleaveF16(f16.bits, N, K)) : undefined;
  const m: Linear = {
    N: stride,
    K,
    wt: o.wt,
    chunks: [{
      buf: b.buffer(o.wt === "f16" ? f16.bits : w),
      rowStart: padL,
      rows: N,
      inter,
      tex: inter && readsWeightTexture(o.variant?.variant) ? b.texture(inter) : undefined,
    }],
    bias: c.bias ? b.buffer(bias) : null,
  };
  // yPad through the options (yStride, yCol) when the case asks, else as a chunk's rowStart.
  const viaOptions = c.yCols === true;
  if (viaOptions) {
    m.N = N;
    m.chunks[0].rowStart = 0;
  }
  const dispatches = linear(b.lib, m, {
    x: b.buffer(x),
    y,
    T,
    ...(viaOptions ? { yStride: stride, yCol: padL } : {}),
    xRow,
    accumulate: c.accumulate,
    act: c.act,
    variant: o.variant,
  });
  // The uniform-x kernel runs wherever x fits a uniform binding (its storage twin elsewhere).
  if (o.variant?.variant === "rows_ubo") {
    assert.equal(dispatches[0].meta.kernel, T <= 16 ? "matmul_rows_ubo" : "matmul_rows_tex");
  }
  b.run(dispatches);
  const lin = refLinear(
    Float64Array.from(x.subarray(xRow * K)),
    Float64Array.from(wRef),
    c.bias ? Float64Array.from(bias) : null,
    T,
    K,
    N,
  );
  const act = c.act === "gelu" ? refGelu : c.act === "gelu_tanh" ? refGeluTanh : (v: number) => v;
  const want = Float64Array.from(y0);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      const i = t * stride + padL + n;
      const v = act(lin[t * N + n]);
      want[i] = c.accumulate ? want[i] + v : v;
    }
  }
  return { got: await b.f32(y, T * stride), want };
}

function layernormPairRows(b: Bench, rnd: SeededRandom): Row[] {
  // The barrier-free kernel (one invocation per row) takes d % 4 == 0 only.
  const shapes: [number, number, boolean][] = [
    [1, 1, false],
    [2, 3, false],
    [5, 63, false],
    [1, 65, false],
    [17, 384, false],
    [9, 513, false],
    [1, 4, true],
    [3, 128, true],
    [17, 384, true],
    [9, 516, true],
  ];
  // The one-workgroup kernel at its default size and the tuner's wide one (256).
  const kinds = shapes.flatMap((
    [T, d, rows],
  ): { T: number; d: number; rows: boolean; wg?: number }[] =>
    rows ? [{ T, d, rows }] : [NORM_WG, WIDE_REDUCTION_WG].map((wg) => ({ T, d, rows, wg }))
  );
  return kinds.map(({ T, d, rows, wg }) => ({
    kernel: rows ? "layernorm_pair_rows" : `layernorm_pair WG=${wg}`,
    shape: `T=${T} d=${d} (y1 then y2)`,
    tol: 5e-6,
    nmseTol: NMSE_F32,
    run: async () => {
      const x = rnd.normals(T * d, 3, 5);
      const [w1, w2] = [rnd.normals(d, 0.5, 1), rnd.normals(d, 0.5, -1)];
      const [c1, c2] = [rnd.normals(d, 0.5), rnd.normals(d, 0.5)];
      const eps = 1e-5;
      const [y1, y2] = [b.nan(T * d), b.nan(T * d)];
      b.run([layerNormPair(b.lib, {
        x: b.buffer(x),
        y1,
        y2,
        norm1: { weight: b.buffer(w1), bias: b.buffer(c1) },
        norm2: { weight: b.buffer(w2), bias: b.buffer(c2) },
        T,
        d,
        eps,
        rows,
        wg,
      })]);
      const ref = (w: Float32Array, c: Float32Array) =>
        refLayerNorm(Float64Array.from(x), Float64Array.from(w), Float64Array.from(c), T, d, eps);
      const got = new Float32Array(2 * T * d);
      got.set(await b.f32(y1, T * d));
      got.set(await b.f32(y2, T * d), T * d);
      const want = new Float64Array(2 * T * d);
      want.set(ref(w1, c1));
      want.set(ref(w2, c2), T * d);
      return { got, want };
    },
  }));
}

/**
 * rotary_append (rotary + kv_append in one dispatch): the rotated queries against the float64
 * reference, then the cache slots it wrote (the key and value slices, copied exactly); slots
 * it must not touch stay NaN. Full caches, the last shape past its capacity (dropped).
 */
function rotaryAppendRows(b: Bench, rnd: SeededRandom): Row[] {
  // [T, H, hd, rot, cacheLen, C]
  const shapes: [number, number, number, number, number, number][] = [
    [1, 1, 8, 8, 0, 4],
    [2, 3, 64, 16, 5, 9],
    [5, 2, 80, 20, 70, 80],
    [17, 1, 6, 2, 0, 17],
    [4, 6, 64, 16, 52, 56],
    [3, 2, 16, 4, 6, 8],
  ];
  return shapes.map(([T, H, hd, rot, cacheLen, C]) => ({
    kernel: "rotary_append",
    shape: `T=${T} H=${H} hd=${hd} rot=${rot} cacheLen=${cacheLen} C=${C}`,
    tol: 2e-5,
    nmseTol: NMSE_F32,
    run: async () => {
      const base = 10000;
      const qkv = rnd.normals(T * H * 3 * hd);
      const q = b.nan(T * H * hd);
      const [kCache, vCache] = [b.nan(C * H * hd), b.nan(C * H * hd)];
      b.run([rotaryAppend(b.lib, {
        T,
        H,
        hd,
        rot,
        C,
        state: b.state(cacheLen, cacheLen + 7),
        qkv: b.buffer(qkv),
        cosSin: b.buffer(rotaryTable(ropeConfig(rot, base, hd), Math.max(C, cacheLen + T))),
        q,
        kCache,
        vCache,
      })]);
      const q64 = new Float64Array(T * H * hd);
      for (let th = 0; th < T * H; th++) {
        q64.set(qkv.subarray(th * 3 * hd, th * 3 * hd + hd), th * hd);
      }
      const positions = Array.from({ length: T }, (_, t) => cacheLen + t);
      const wantQ = refRotary(q64, positions, H, hd, rot, base);
      const wantK = new Float64Array(C * H * hd).fill(NaN);
      const wantV = new Float64Array(C * H * hd).fill(NaN);
      for (let t = 0; t < T; t++) {
        const slot = cacheLen + t;
        if (slot >= C) continue;
        for (let h = 0; h < H; h++) {
          const src = (t * H + h) * 3 * hd;
          for (let i = 0; i < hd; i++) {
            wantK[(slot * H + h) * hd + i] = qkv[src + hd + i];
            wantV[(slot * H + h) * hd + i] = qkv[src + 2 * hd + i];
          }
        }
      }
      const parts = [
        await b.f32(q, T * H * hd),
        await b.f32(kCache, C * H * hd),
        await b.f32(vCache, C * H * hd),
      ];
      const got = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        got.set(p, o);
        o += p.length;
      }
      const want = new Float64Array(got.length);
      want.set(wantQ);
      want.set(wantK, T * H * hd);
      want.set(wantV, T * H * hd + C * H * hd);
      return { got, want };
    },
  }));
}

function rotaryRows(b: Bench, rnd: SeededRandom): Row[] {
  // [T, H, hd, rot, cacheLen, base]
  const shapes: [number, number, number, number, number, number][] = [
    [1, 1, 8, 8, 0, 10000],
    [2, 3, 64, 16, 5, 10000],
    [5, 2, 80, 20, 70, 10000],
    [9, 2, 128, 128, 3, 500],
    [17, 1, 6, 2, 0, 10000],
    [5, 2, 16, 0, 1, 10000],
  ];
  return shapes.map(([T, H, hd, rot, cacheLen, base]) => ({
    kernel: "rotary",
    shape: `T=${T} H=${H} hd=${hd} rot=${rot} cacheLen=${cacheLen} base=${base}`,
    // The engine's table uses float32 angles as transformers does; the reference float64.
    tol: 2e-5,
    nmseTol: NMSE_F32,
    run: async () => {
      const qkv = rnd.normals(T * H * 3 * hd);
      const P = cacheLen + T;
      const q = b.nan(T * H * hd);
      // tokenPos differs from cacheLen: rotary must take positions from the cache length.
      b.run([rotary(b.lib, {
        T,
        H,
        hd,
        rot,
        state: b.state(cacheLen, cacheLen + 7),
        qkv: b.buffer(qkv),
        cosSin: b.buffer(rotaryTable(ropeConfig(rot, base, hd), P)),
        q,
      })]);
      const q64 = new Float64Array(T * H * hd);
      for (let th = 0; th < T * H; th++) {
        q64.set(qkv.subarray(th * 3 * hd, th * 3 * hd + hd), th * hd);
      }
      const positions = Array.from({ length: T }, (_, t) => cacheLen + t);
      const want = refRotary(q64, positions, H, hd, rot, base);
      return { got: await b.f32(q, T * H * hd), want };
    },
  }));
}

/**
 * kv_append then attention, dispatched back to back as in a forward pass: S - T entries are
 * already cached, T new (k, v) are appended, and the T queries attend causally to them.
 * Yields two rows: the cache contents (exact) and the attention output.
 */
function attentionRows(b: Bench, rnd: SeededRandom): Row[] {
  // [S (cache length after the append), T, H, hd, rot]
  const shapes: [number, number, number, number, number][] = [
    [1, 1, 1, 8, 8],
    [5, 1, 2, 64, 16],
    [5, 5, 3, 80, 20],
    [70, 1, 4, 128, 128],
    [70, 5, 2, 64, 16],
    [300, 5, 1, 256, 64],
    [9, 2, 5, 16, 0],
    [40, 16, 2, 64, 16], // a verify pass of MAX_K + 1 tokens
  ];
  const rows: Row[] = [];
  // The fallback for 16 KiB of workgroup memory (its tiles as attentionChoice sizes them),
  // and tiles of 64 keys so that the online softmax crosses several tiles.
  const limited = attentionChoice(16 << 10);
  assert.equal(limited.variant, "tiled", "16 KiB of workgroup memory cannot hold 4096 scores");
  assert.equal(attentionChoice(32 << 10).variant, "full");
  const tiles: AttentionVariant[] = [limited, { variant: "tiled", tile: 64 }];
  const ROWS: AttentionVariant = { variant: "rows" };
  for (const [S, T, H, hd, rot] of shapes) {
    let pending: Promise<{ cache: Outcome; out: Outcome }> | null = null;
    const once = () => pending ??= runAttention(b, rnd, { S, T, H, hd, rot }, { variant: "full" });
    const shape = `cacheLen=${S - T} T=${T} H=${H} hd=${hd} rot=${rot}`;
    rows.push({
      kernel: "kv_append",
      shape,
      tol: 0,
      nmseTol: 0,
      run: async () => (await once()).cache,
    });
    rows.push({
      kernel: "attention",
      shape,
      tol: 1e-5,
      nmseTol: NMSE_F32,
      run: async () => (await once()).out,
    });
    // Output rows in a wider buffer (model.ts: attention beside the mlp hidden layer).
    for (const v of [{ variant: "full" } as AttentionVariant, ...tiles]) {
      rows.push({
        kernel: v.variant === "full"
          ? "attention"
          : `attention_tiled TILE=${v.variant === "tiled" ? v.tile : 0}`,
        shape: `${shape} outStride=+5`,
        tol: 1e-5,
        nmseTol: NMSE_F32,
        run: async () => (await runAttention(b, rnd, { S, T, H, hd, rot }, v, 5)).out,
      });
    }
    // The barrier-free kernel (hd and rot multiples of 4), also into a wider buffer, and the
    // key-split one at its lane counts (more lanes than keys at S = 1 and 5; fewer lanes than
    // output vec4s at hd = 256).
    const wgBytes = b.gpu.device.limits.maxComputeWorkgroupStorageSize;
    const split = [4, ...ATTENTION_SPLIT_LANES]
      .filter((lanes) => attentionSplitFits(hd, rot, lanes, wgBytes))
      .map((lanes): AttentionVariant => ({ variant: "split", lanes }));
    // Keys shared by blocks of TQ queries: one block and several (T > TQ at T = 5 and 16).
    const { lanes, tq } = ATTENTION_MULTI;
    const multi = attentionMultiFits(hd, rot, lanes, tq, wgBytes) ? [ATTENTION_MULTI] : [];
    for (const v of attentionRowsFits(hd, rot) ? [ROWS, ...split, ...multi] : []) {
      for (const pad of [0, 5]) {
        rows.push({
          kernel: attentionName(v),
          shape: pad ? `${shape} outStride=+${pad}` : shape,
          tol: 1e-5,
          nmseTol: NMSE_F32,
          run: async () => (await runAttention(b, rnd, { S, T, H, hd, rot }, v, pad)).out,
        });
      }
    }
    // The kernels doing rotary_append's work (attention_rows at any T, attention_split in a
    // one-token pass, attention_multi in a pass of one block): from qkv, the cache they leave (exact) and their output; the new
    // entries start as NaN, so reading one from the cache before it is written shows.
    const appending = [ROWS, ...split, ...multi].filter((v) => appendsInAttention(v, T));
    for (const v of attentionRowsFits(hd, rot) ? appending : []) {
      let appended: Promise<{ cache: Outcome; out: Outcome }> | null = null;
      const run = () => appended ??= runAttention(b, rnd, { S, T, H, hd, rot }, v, 5, true);
      const kernel = `${attentionName(v)} +rotary+kv_append`;
      const at = `${shape} outStride=+5`;
      rows.push({
        kernel,
        shape: `${at} cache`,
        tol: 0,
        nmseTol: 0,
        run: async () => (await run()).cache,
      });
      rows.push({
        kernel,
        shape: at,
        tol: 1e-5,
        nmseTol: NMSE_F32,
        run: async () => (await run()).out,
      });
    }
    for (const v of tiles) {
      rows.push({
        kernel: `attention_tiled TILE=${v.variant === "tiled" ? v.tile : 0}`,
        shape,
        tol: 1e-5,
        nmseTol: NMSE_F32,
        run: async () => (await runAttention(b, rnd, { S, T, H, hd, rot }, v)).out,
      });
    }
  }
  return rows;
}

async function runAttention(
  b: Bench,
  rnd: SeededRandom,
  s: { S: number; T: number; H: number; hd: number; rot: number },
  variant: AttentionVariant,
  /** Extra NaN columns right of each output row (outStride = H*hd + pad); they must stay NaN. */
  pad = 0,
  /** One dispatch from qkv: the kernel rotates q and appends k, v itself (appendsInAttention). */
  append = false,
): Promise<{ cache: Outcome; out: Outcome }> {
  const { S, T, H, hd, rot } = s;
  const prior = S - T;
  const C = S + 3; // spare slots stay NaN: attention must not read them
  const base = 10000;
  const entry = H * hd;
  const k = rnd.normals(S * entry); // [S,H,hd] keys before rotary
  const v = rnd.normals(S * entry); // [S,H,hd]
  const qRaw = rnd.normals(T * entry); // [T,H,hd] queries before rotary
  const qkv = new Float32Array(T * 3 * entry); // [T,H,3*hd]
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const src = (t * H + h) * hd, dst = (t * H + h) * 3 * hd;
      qkv.set(qRaw.subarray(src, src + hd), dst);
      qkv.set(
        k.subarray((prior + t) * entry + h * hd, (prior + t) * entry + (h + 1) * hd),
        dst + hd,
      );
      qkv.set(
        v.subarray((prior + t) * entry + h * hd, (prior + t) * entry + (h + 1) * hd),
        dst + 2 * hd,
      );
    }
  }
  const positions = Array.from({ length: T }, (_, t) => prior + t);
  const qRot = refRotary(Float64Array.from(qRaw), positions, H, hd, rot, base);
  const kInit = new Float32Array(C * entry).fill(NaN);
  const vInit = new Float32Array(C * entry).fill(NaN);
  kInit.set(k.subarray(0, prior * entry));
  vInit.set(v.subarray(0, prior * entry));
  const kCache = b.buffer(kInit);
  const vCache = b.buffer(vInit);
  const state = b.state(prior, prior + 11);
  const stride = entry + pad;
  const out = b.nan(T * stride);
  const lib = b.lib;
  const qkvBuf = b.buffer(qkv);
  b.run([
    ...(append ? [] : [kvAppend(lib, { state, qkv: qkvBuf, kCache, vCache, T, H, hd, C })]),
    attention(lib, {
      state,
      q: b.buffer(new Float32Array(qRot)),
      qkv: append ? qkvBuf : undefined,
      kCache,
      vCache,
      cosSin: b.buffer(rotaryTable(ropeConfig(rot, base, hd), C)),
      out,
      T,
      H,
      hd,
      rot,
      C,
      variant,
      outStride: pad ? stride : undefined,
    }),
  ]);
  const kWant = new Float32Array(C * entry).fill(NaN);
  const vWant = new Float32Array(C * entry).fill(NaN);
  kWant.set(k);
  vWant.set(v);
  const cacheGot = new Float32Array(2 * C * entry);
  cacheGot.set(await b.f32(kCache, C * entry));
  cacheGot.set(await b.f32(vCache, C * entry), C * entry);
  const cacheWant = new Float32Array(2 * C * entry);
  cacheWant.set(kWant);
  cacheWant.set(vWant, C * entry);
  const kRot = refRotary(
    Float64Array.from(k),
    Array.from({ length: S }, (_, j) => j),
    H,
    hd,
    rot,
    base,
  );
  const ref = refAttention(new Float64Array(qRot), kRot, Float64Array.from(v), T, S, H, hd);
  const want = new Float64Array(T * stride).fill(NaN);
  for (let t = 0; t < T; t++) want.set(ref.subarray(t * entry, (t + 1) * entry), t * stride);
  return {
    cache: { got: cacheGot, want: cacheWant },
    out: { got: await b.f32(out, T * stride), want },
  };
}

function argmaxRows(b: Bench, rnd: SeededRandom): Row[] {
  // [V, tie indices (the max value placed at each; the first must win), fill]
  const cases: { V: number; ties: number[]; fill: "normal" | "zero" | "negative" }[] = [
    { V: 1, ties: [], fill: "normal" },
    { V: 7, ties: [2, 5], fill: "normal" },
    { V: 77, ties: [], fill: "negative" },
    { V: 1000, ties: [300, 520], fill: "normal" }, // second tie sits in a lower lane
    { V: 1000, ties: [17, 273], fill: "normal" }, // same lane (stride 256)
    { V: 8192, ties: [8191], fill: "normal" },
    { V: 50304, ties: [40000, 40001, 50303], fill: "normal" },
    { V: 513, ties: [], fill: "zero" }, // all equal: index 0
  ];
  // Every other case also commits the pass (ADVANCE: the one-token passes' tail); each at the
  // default workgroup and the tuner's wide one.
  const runs = [ARGMAX_WG, WIDE_REDUCTION_WG].flatMap((wg) =>
    cases.map((c, ci) => ({ ...c, ci, wg }))
  );
  return runs.map(({ V, ties, fill, ci, wg }) => ({
    kernel: `argmax WG=${wg}`,
    shape: `V=${V} ties=[${ties}] ${fill}${ci % 2 ? " +advance" : ""}`,
    tol: 0,
    nmseTol: 0,
    run: async () => {
      const rowsN = 3, row = 1, T = 3, tokenPos = 4;
      const logits = fill === "zero"
        ? new Float32Array(rowsN * V)
        : rnd.normals(rowsN * V, 1, fill === "negative" ? -1e30 : 0);
      if (fill === "negative") {
        for (let i = 0; i < logits.length; i++) logits[i] *= 1 + rnd.uniform();
      }
      // the other rows hold a larger value: the kernel must read its own row
      for (const r of [0, 2]) logits[r * V + rnd.int(V)] = 1e6;
      for (const i of ties) logits[row * V + i] = 100;
      let want = 0;
      const r0 = row * V;
      for (let i = 1; i < V; i++) if (logits[r0 + i] > logits[r0 + want]) want = i;
      const tokens = new Uint32Array(tokenPos + T + 2).fill(0xfffffff0);
      const tok = b.buffer(tokens);
      const state = b.state(9, tokenPos);
      const advance = ci % 2 === 1;
      b.run([
        argmax(b.lib, { state, logits: b.buffer(logits), tokens: tok, V, row, T, advance, wg }),
      ]);
      const expect = tokens.slice();
      expect[tokenPos + T] = want;
      const committed = advance ? [9 + T, tokenPos + T] : [9, tokenPos];
      return {
        got: [...await b.u32(tok, tokens.length), ...await b.u32(state, 2)],
        want: [...expect, ...committed],
      };
    },
  }));
}

/**
 * Greedy verification of a speculative round: per-row argmax of K+1 target rows, the
 * longest accepted draft prefix, the correction/bonus token, both states rolled, one log
 * entry. Compared word for word with a CPU port of the rule in the kernel's header. A round
 * that starts at or past `stop` commits nothing: the draft's K+1 steps undone, no log entry.
 */
function acceptGreedyRows(b: Bench, rnd: SeededRandom): Row[] {
  // [V, K, drafts that agree with the target, replayed accept count or -1 (compare),
  //  stop: the round starts past the goal]
  const cases: [number, number, number, number, boolean?][] = [
    [77, 1, 0, -1],
    [77, 1, 1, -1],
    [1000, 3, 2, -1],
    [1000, 5, 0, -1],
    [8192, 7, 7, -1],
    [8192, 9, 4, -1],
    [513, 16, 16, -1],
    [1000, 5, 0, 3],
    [1000, 5, 5, 1],
    [77, 3, 1, 9],
    [1000, 3, 2, -1, true],
    [8192, 7, 7, 2, true],
  ];
  return cases.map(([V, K, agree, replayed, stop]) => ({
    kernel: replayed < 0 ? "accept_greedy" : "accept_greedy replay",
    shape: `V=${V} K=${K} agree=${agree}${replayed < 0 ? "" : ` replay=${replayed}`}${
      stop ? " past stop" : ""
    }`,
    tol: 0,
    nmseTol: 0,
    run: async () => {
      const logits = rnd.normals((K + 1) * V);
      for (let r = 0; r <= K; r++) {
        // a tie in every row: the first index must win
        const i = rnd.int(V - 1);
        logits[r * V + i] = logits[r * V + V - 1] = 50;
      }
      const picks: number[] = [];
      for (let r = 0; r <= K; r++) {
        let best = 0;
        for (let i = 1; i < V; i++) if (logits[r * V + i] > logits[r * V + best]) best = i;
        picks.push(best);
      }
      const base = 6;
      const tokens = new Uint32Array(base + K + 4).fill(0xfffffff0);
      for (let i = 0; i < K; i++) {
        tokens[base + 1 + i] = i < agree ? picks[i] : (picks[i] + 1) % V;
      }
      // Replay: round log[0] = 2 reads replay[1 + 2 % 3], capped at K.
      const a = replayed < 0 ? agree : Math.min(K, replayed);
      const replay = new Uint32Array([3, 0, 0, Math.max(replayed, 0)]);
      const tState = new Uint32Array(16).fill(7);
      tState.set([base, base]);
      const dState = new Uint32Array(16).fill(9);
      dState.set([base + K - 1, base + K]);
      const log = new Uint32Array(8);
      log.set([2, 3, 1]);
      const bufs = [b.buffer(tState), b.buffer(dState), b.buffer(tokens), b.buffer(log)];
      b.run([acceptGreedy(b.lib, {
        targetState: bufs[0],
        draftState: bufs[1],
        logits: b.buffer(logits),
        tokens: bufs[2],
        log: bufs[3],
        replay: replayed < 0 ? null : b.buffer(replay),
        V,
        K,
        // The round's base is 6: a stop at 6 is reached, one at 7 (or none) is not.
        stop: stop ? base : rnd.int(2) === 0 ? base + 1 : undefined,
      })]);
      const want = [tState, dState, tokens, log].map((x) => x.slice());
      want[2][base + 1 + a] = picks[a];
      if (stop) {
        want[1][0] -= K + 1;
        want[1][1] -= K + 1;
      } else {
        want[0][0] += a + 1;
        want[0][1] = base + a + 1;
        want[1][0] -= K - a;
        want[1][1] = base + a;
        want[3][1 + log[0]] = a;
        want[3][0] += 1;
      }
      const got = [
        ...await b.u32(bufs[0], 16),
        ...await b.u32(bufs[1], 16),
        ...await b.u32(bufs[2], tokens.length),
        ...await b.u32(bufs[3], log.length),
      ];
      return { got, want: want.flatMap((x) => Array.from(x)) };
    },
  }));
}

function advanceRows(b: Bench): Row[] {
  return [{
    kernel: "advance",
    shape: "T=5 state=[3,7,...]",
    tol: 0,
    nmseTol: 0,
    run: async () => {
      const init = new Uint32Array(16).map((_, i) => 100 + i);
      init[0] = 3;
      init[1] = 7;
      const state = b.buffer(init);
      b.run([advance(b.lib, { state, T: 5 })]);
      const want = init.slice();
      want[0] = 8;
      want[1] = 12;
      return { got: await b.u32(state, 16), want };
    },
  }];
}

/** CPU port of fill.wgsl's value(i) (float32 arithmetic). */
function fillValue(seed: number, scale: number, offset: number, i: number): number {
  const hash = (v: number) => {
    let x = v >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
    return (x ^ (x >>> 16)) >>> 0;
  };
  const f = Math.fround;
  const h = hash((i ^ hash(seed)) >>> 0);
  const u = f(f((h >>> 8) / 8388608) - 1);
  return f(f(offset) + f(f(scale) * u));
}

function fillRows(b: Bench): Row[] {
  // [count, packed f16, seed, scale, offset, workgroups in x (0: as the op picks)]
  const cases: [number, boolean, number, number, number, number][] = [
    [1, false, 1, 1, 0, 0],
    [7, true, 2, 0.5, 1, 0],
    [1001, false, 3, 0.02, 0, 0],
    [70001, true, 4, 0.0346, 0, 0],
    [70001, false, 5, 0.1, 1, 3], // a 2-D dispatch, as for tensors past 65535 workgroups
  ];
  return cases.map(([count, packed, seed, scale, offset, xGroups]) => ({
    kernel: `fill ${packed ? "f16" : "f32"}`,
    shape: `count=${count} seed=${seed} scale=${scale} offset=${offset}${
      xGroups ? ` x=${xGroups}` : ""
    }`,
    // one ulp at |v| < 2 (pack2x16float may round either way; FMA may fuse the f32 form)
    tol: packed ? 2 ** -10 : 2 ** -22,
    nmseTol: packed ? 1e-6 : NMSE_F32,
    run: async () => {
      const words = packed ? Math.ceil(count / 2) : count;
      const type = packed ? "f16" : "f32";
      const gen = () => {
        const out = b.buffer(new Uint32Array(words).fill(0x7fc00000));
        b.run([fill(b.lib, { out, count, type, seed, scale, offset, xGroups })]);
        return out;
      };
      const [first, again] = [gen(), gen()];
      const decode = async (buf: GPUBuffer) => {
        const w = await b.u32(buf, words);
        if (!packed) return new Float32Array(w.buffer);
        const h = new Uint16Array(w.buffer);
        return Float32Array.from(h.subarray(0, count), f16BitsToF32);
      };
      const got = await decode(first);
      const got2 = await decode(again);
      for (let i = 0; i < count; i++) {
        assert(
          Object.is(got[i], got2[i]),
          `fill not reproducible at ${i}: ${got[i]} vs ${got2[i]}`,
        );
        assert(
          got[i] >= offset - scale - 1e-3 && got[i] <= offset + scale + 1e-3,
          `fill value ${got[i]} at ${i} outside [${offset - scale}, ${offset + scale}]`,
        );
      }
      if (count > 1000) {
        let m = 0, m2 = 0;
        for (const v of got) {
          m += v;
          m2 += v * v;
        }
        m /= count;
        const sd = Math.sqrt(m2 / count - m * m);
        assert(Math.abs(m - offset) < 0.05 * scale, `fill mean ${m}, want ${offset}`);
        assert(Math.abs(sd / (scale / Math.sqrt(3)) - 1) < 0.05, `fill std ${sd}`);
      }
      const want = Float32Array.from({ length: count }, (_, i) => {
        const v = fillValue(seed, scale, offset, i);
        return packed ? f16BitsToF32(f32ToF16Bits(v)) : v;
      });
      return { got, want };
    },
  }));
}

/** interleave_f16 against its CPU oracle interleaveF16 (a permutation: bit-exact). */
function interleaveRows(b: Bench, rnd: ReturnType<typeof seededRandom>): Row[] {
  // [R, K]: a partial last panel, one panel, a wide matrix
  const cases: [number, number][] = [[13, 24], [8, 8], [64, 512]];
  return cases.map(([R, K]) => ({
    kernel: "interleave_f16",
    shape: `${R}x${K}`,
    tol: 0,
    nmseTol: 0,
    run: async () => {
      const bits = Uint16Array.from({ length: R * K }, () => rnd.int(65536));
      const dst = b.buffer(new Uint32Array(interleavedBytes(R, K) / 4));
      b.run([interleave(b.lib, { src: b.buffer(bits), dst, R, K })]);
      const got = await b.u32(dst, interleavedBytes(R, K) / 4);
      return { got, want: new Uint32Array(interleaveF16(bits, R, K).buffer) };
    },
  }));
}

Deno.test("kernels: every WGSL kernel against the float64 reference", async () => {
  const gpu = await getGpu();
  const b = new Bench(gpu);
  const rnd = seededRandom(20261126);
  const table: Row[] = [
    ...embeddingRows(b, rnd),
    ...layernormRows(b, rnd),
    ...layernormPairRows(b, rnd),
    ...matmulRows(b, rnd),
    ...rotaryRows(b, rnd),
    ...rotaryAppendRows(b, rnd),
    ...attentionRows(b, rnd),
    ...argmaxRows(b, rnd),
    ...acceptGreedyRows(b, rnd),
    ...advanceRows(b),
    ...fillRows(b),
    ...interleaveRows(b, rnd),
  ];
  const failed: string[] = [];
  const worst = new Map<string, { rows: number; maxDiff: number; nmse: number; ofTol: number }>();
  for (const row of table) {
    const { maxDiff, nmse } = errors(await row.run());
    b.destroy();
    const ok = maxDiff <= row.tol && nmse <= row.nmseTol;
    const line = `${row.kernel.padEnd(20)} ${row.shape.padEnd(56)} max|diff| ${
      maxDiff.toExponential(2)
    } tol ${row.tol.toExponential(1)} nmse ${nmse.toExponential(2)} tol ${
      row.nmseTol.toExponential(0)
    }${ok ? "" : "  FAIL"}`;
    console.log(line);
    if (!ok) failed.push(line);
    const family = row.kernel.split(" ")[0];
    const w = worst.get(family) ?? { rows: 0, maxDiff: 0, nmse: 0, ofTol: 0 };
    w.rows++;
    w.maxDiff = Math.max(w.maxDiff, maxDiff);
    w.nmse = Math.max(w.nmse, nmse);
    w.ofTol = Math.max(w.ofTol, row.tol > 0 ? maxDiff / row.tol : maxDiff > 0 ? Infinity : 0);
    worst.set(family, w);
  }
  console.log(
    `${table.length} rows; per kernel: max|diff|, largest fraction of a row's tol, max nmse`,
  );
  for (const [k, w] of worst) {
    console.log(
      `  ${k.padEnd(13)} ${String(w.rows).padStart(3)} rows  max|diff| ${
        w.maxDiff.toExponential(2)
      }  ${(100 * w.ofTol).toFixed(1).padStart(5)}% of tol  nmse ${w.nmse.toExponential(2)}`,
    );
  }
  assert.deepEqual(failed, [], `${failed.length} of ${table.length} rows out of tolerance`);
});
