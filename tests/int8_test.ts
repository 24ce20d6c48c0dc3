/**
 * INT8 weights: the packing and scales of engine/quantize.ts, the int8 kernels (tiled at
 * TOK 1/4/8 and the naive oracle) against a float64 product on the dequantized weights,
 * the int8 embedding gather, and the quantized pydoc-neox-20m against the fp16 goldens.
 */
import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { type Gpu, readBuffer, storageBuffer } from "../engine/device.ts";
import { NeoxError } from "../engine/errors.ts";
import { loadModel, syntheticModel } from "../engine/load.ts";
import type { NeoxModel } from "../engine/model.ts";
import {
  embedding,
  interleaveInt8,
  isInt8RowsVariant,
  type Linear,
  linear,
  type MatmulChoice,
  matmulTuning,
  readsWeightTexture,
  rowsTok,
  uniformXFits,
  weightTexture,
  WIDE_LANES,
} from "../engine/ops.ts";
import { MAX_ACCUMULATORS } from "../engine/autotune.ts";
import {
  concatInt8,
  dequantizeInt8,
  int8Groups,
  type Int8Matrix,
  int8RowWords,
  quantizeInt8,
} from "../engine/quantize.ts";
import { allLogits } from "../engine/generate.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import { encodeDispatches, KernelLibrary } from "../kernels/kernel.ts";
import { compareLogits, quantQuality } from "../profiler/quality.ts";
import { decodeF32Base64, modelsDir, readGolden } from "./goldens.ts";

const gpuTest = { sanitizeResources: false, sanitizeOps: false };
const TARGET = `${modelsDir}pydoc-neox-20m`;

/** Seeded uniform numbers in [-1, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** Weights [N, K] with row magnitudes that differ, one zero row and a few outliers. */
function testWeights(N: number, K: number, seed: number): Float32Array {
  const rnd = random(seed);
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const mag = n === 3 ? 0 : 0.01 + 0.1 * Math.abs(rnd());
    for (let k = 0; k < K; k++) w[n * K + k] = mag * rnd() * (k % 37 === 5 ? 8 : 1);
  }
  return w;
}

// ---- quantize.ts on the CPU ----

Deno.test("quantizeInt8 packs rows from word boundaries, lowest byte first", () => {
  // row 0 absmax 1.27 -> scale 0.01; row 1 all zero -> scale 0
  const w = new Float32Array([0.01, -0.02, 1.27, -1.27, 0.005, 0, 0, 0, 0, 0]);
  const m = quantizeInt8(w, 2, 5);
  assert.equal(m.packed.length, 2 * int8RowWords(5));
  assert.deepEqual(Array.from(m.scales), [Math.fround(0.01), 0]);
  const bytes = new Int8Array(m.packed.buffer);
  // 0.005 / 0.01 = 0.5 rounds away from zero
  assert.deepEqual(Array.from(bytes.subarray(0, 8)), [1, -2, 127, -127, 1, 0, 0, 0]);
  assert.deepEqual(Array.from(bytes.subarray(8, 16)), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(m.packed[0], 0x817f_fe01);
});

Deno.test("quantizeInt8 error is at most half a step, per channel and per 128 features", () => {
  for (const [N, K] of [[7, 3], [5, 130], [3, 300]]) {
    const w = testWeights(N, K, N * K);
    for (const group of [0, 128]) {
      const m = quantizeInt8(w, N, K, group);
      const G = int8Groups(K, group);
      assert.equal(m.scales.length, N * G);
      const d = dequantizeInt8(m, N, K, group);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) {
          const g = group === 0 ? 0 : Math.floor(k / group);
          const s = m.scales[n * G + g];
          // the last group of a row is shorter: its scale is its own absmax / 127
          const k0 = group === 0 ? 0 : g * group;
          const k1 = group === 0 ? K : Math.min(K, k0 + group);
          let absmax = 0;
          for (let j = k0; j < k1; j++) absmax = Math.max(absmax, Math.abs(w[n * K + j]));
          assert.equal(s, Math.fround(absmax / 127));
          assert.ok(Math.abs(d[n * K + k] - w[n * K + k]) <= s / 2 + 1e-12, `${N}x${K} g${group}`);
        }
      }
    }
  }
  assert.throws(() => quantizeInt8(new Float32Array(4), 1, 4, 6), NeoxError);
  assert.throws(() => quantizeInt8(new Float32Array(3), 1, 4), NeoxError);
});

Deno.test("concatInt8: [a | b] dequantizes to the two parts side by side", () => {
  for (const [N, Ka, Kb, group] of [[5, 16, 48, 0], [3, 256, 300, 128], [2, 8, 24, 4]]) {
    const a = quantizeInt8(testWeights(N, Ka, 1), N, Ka, group);
    const b = quantizeInt8(testWeights(N, Kb, 2), N, Kb, group);
    const c = concatInt8(a, Ka, b, Kb, N, group)!;
    assert.equal(c.group, group === 0 ? Ka : group);
    const [da, db] = [dequantizeInt8(a, N, Ka, group), dequantizeInt8(b, N, Kb, group)];
    const dc = dequantizeInt8(c.m, N, Ka + Kb, c.group);
    for (let n = 0; n < N; n++) {
      const row = dc.subarray(n * (Ka + Kb), (n + 1) * (Ka + Kb));
      assert.deepEqual(row.subarray(0, Ka), da.subarray(n * Ka, (n + 1) * Ka));
      assert.deepEqual(row.subarray(Ka), db.subarray(n * Kb, (n + 1) * Kb));
    }
  }
  // one scale per row needs Kb a multiple of Ka; group scales need Ka a multiple of the group
  const q = (K: number, g: number) => quantizeInt8(testWeights(2, K, 3), 2, K, g);
  assert.equal(concatInt8(q(16, 0), 16, q(40, 0), 40, 2, 0), null);
  assert.equal(concatInt8(q(136, 128), 136, q(128, 128), 128, 2, 128), null);
});

Deno.test("compareLogits: identical rows agree, a swapped argmax does not", () => {
  const a = new Float32Array([1, 2, 3, 0, 0, 0]);
  const same = compareLogits(a, a, 3);
  assert.deepEqual(same, { positions: 2, maxAbsLogitError: 0, meanKlNats: 0, top1Agreement: 1 });
  const b = new Float32Array([1, 3, 2, 0, 0, 0]);
  const r = compareLogits(a, b, 3);
  assert.equal(r.top1Agreement, 0.5);
  assert.equal(r.maxAbsLogitError, 1);
  // KL(p || q) for p = softmax(1,2,3), q = softmax(1,3,2), halved over two positions
  const p = [1, 2, 3].map((v) => Math.exp(v));
  const z = p.reduce((s, v) => s + v);
  const kl = (p[1] / z) * (2 - 3) + (p[2] / z) * (3 - 2);
  assert.ok(Math.abs(r.meanKlNats - kl / 2) < 1e-12);
});

// ---- the int8 kernels on the GPU ----

/** Uploads `q` as an int8 Linear split into chunks starting at `splits` (plus row 0). */
function int8Linear(
  gpu: Gpu,
  q: Int8Matrix,
  shape: {
    N: number;
    K: number;
    group: number;
    bias: Float32Array | null;
    splits?: number[];
    inter?: boolean;
    tex?: boolean;
  },
): Linear {
  const { N, K, group } = shape;
  const words = int8RowWords(K);
  const G = int8Groups(K, group);
  const starts = [0, ...(shape.splits ?? []), N];
  const chunks: Linear["chunks"] = [];
  for (let i = 0; i + 1 < starts.length; i++) {
    const [r0, r1] = [starts[i], starts[i + 1]];
    const packed = q.packed.subarray(r0 * words, r1 * words);
    chunks.push({
      buf: storageBuffer(gpu, 0, "w", packed),
      scales: storageBuffer(gpu, 0, "scales", q.scales.subarray(r0 * G, r1 * G)),
      rowStart: r0,
      rows: r1 - r0,
      // matmul_int8_rows' k16-interleaved copy, as engine/load.ts makes it
      inter: shape.inter
        ? storageBuffer(gpu, 0, "w k16", interleaveInt8(packed, r1 - r0, K))
        : undefined,
    });
  }
  if (shape.tex) {
    // its weight texture, as engine/autotune.ts makes them
    const enc = gpu.device.createCommandEncoder();
    for (const c of chunks) c.tex = weightTexture(gpu.device, enc, c.inter!);
    gpu.device.queue.submit([enc.finish()]);
  }
  const bias = shape.bias ? storageBuffer(gpu, 0, "bias", shape.bias) : null;
  return { N, K, wt: "int8", group, chunks, bias };
}

interface Case {
  N: number;
  K: number;
  group: number;
  T: number;
  xRow: number;
  bias: boolean;
  accumulate: boolean;
  splits?: number[];
}

// K % 16 == 0 (256, 384) takes matmul_int8x16 (16 weights per load); the others the general
// matmul_int8.
const SHAPES: [number, number][] = [[7, 3], [100, 65], [7, 130], [100, 130], [7, 256], [100, 384]];
// T = 1 runs the TOK=1 GEMV, T = 5 the TOK=4 GEMM (a partial tile), T = 11 the TOK=8 GEMM
const TOKENS = [1, 5, 11];

function cases(group: number): Case[] {
  const out: Case[] = [];
  let i = 0;
  for (const [N, K] of SHAPES) {
    for (const T of TOKENS) {
      i++;
      out.push({ N, K, group, T, xRow: i % 3, bias: i % 2 === 0, accumulate: i % 4 < 2 });
    }
  }
  // two row chunks, as a matrix larger than one binding is split (no bias there)
  out.push({ N: 100, K: 130, group, T: 5, xRow: 1, bias: false, accumulate: true, splits: [37] });
  return out;
}

/**
 * Runs one case and returns its worst error in units of the f32 rounding scale
 * sum_k |x w| + |bias| + |y0| (1 = as large as that whole scale).
 */
async function runCase(
  gpu: Gpu,
  o: { lib: KernelLibrary; naive?: boolean; variant?: MatmulChoice },
  c: Case,
  seed: number,
): Promise<number> {
  const { N, K, T, group } = c;
  const rnd = random(seed);
  const w = testWeights(N, K, seed);
  const q = quantizeInt8(w, N, K, group);
  const wd = dequantizeInt8(q, N, K, group);
  const x = Float32Array.from({ length: (c.xRow + T) * K }, () => rnd());
  const y0 = Float32Array.from({ length: T * N }, () => rnd());
  const bias = c.bias ? Float32Array.from({ length: N }, () => rnd()) : null;
  const v = o.variant?.variant;
  const inter = v !== undefined && isInt8RowsVariant(v);
  const tex = readsWeightTexture(v);
  const lin = int8Linear(gpu, q, { N, K, group, bias, splits: c.splits, inter, tex });
  const xb = storageBuffer(gpu, 0, "x", x);
  const yb = storageBuffer(gpu, 0, "y", y0);
  const out = linear(o.lib, lin, {
    x: xb,
    y: yb,
    T,
    xRow: c.xRow,
    accumulate: c.accumulate,
    variant: o.naive ? "naive" : o.variant,
  });
  if (v) {
    // the uniform-x kernel runs where x fits a uniform binding, its storage-x twin elsewhere
    const ubo = v === "int8_rows_ubo" && !uniformXFits(gpu.device.limits, K, T, c.xRow);
    assert.equal(out[0].meta.kernel, `matmul_${ubo ? "int8_rows_tex" : v}`);
  }
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatches(pass, out);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const y = new Float32Array(await readBuffer(gpu, yb));
  let worst = 0;
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let ref = c.accumulate ? y0[t * N + n] : 0;
      let mag = Math.abs(ref);
      if (bias) {
        ref += bias[n];
        mag += Math.abs(bias[n]);
      }
      for (let k = 0; k < K; k++) {
        const p = x[(c.xRow + t) * K + k] * wd[n * K + k];
        ref += p;
        mag += Math.abs(p);
      }
      worst = Math.max(worst, Math.abs(y[t * N + n] - ref) / (mag || 1));
    }
  }
  for (
    const b of [xb, yb, lin.bias, ...lin.chunks.flatMap((ch) => [ch.buf, ch.scales!, ch.inter])]
  ) {
    b?.destroy();
  }
  lin.chunks.forEach((ch) => ch.tex?.destroy());
  return worst;
}

for (const naive of [false, true]) {
  for (const group of [0, 128]) {
    const kernel = naive ? "matmul_int8_naive" : "matmul_int8 (TOK 1/5/6; int8x16 KL 16/64)";
    const scales = group === 0 ? "per channel" : "g128";
    Deno.test(
      `${kernel}, ${scales}: matches float64 on the dequantized weights`,
      gpuTest,
      async () => {
        const gpu = await getGpu();
        const lib = new KernelLibrary(gpu.device);
        let seed = 100;
        for (const c of cases(group)) {
          const err = await runCase(gpu, { lib, naive }, c, seed++);
          assert.ok(err <= 1e-5, `${JSON.stringify(c)}: relative error ${err}`);
          if (naive || c.K % 16 !== 0) continue;
          // matmul_int8x16 in the wide workgroup the tuner offers (KL 64), RPT 1 and 4.
          for (const rpt of [1, 4]) {
            const variant = { ...matmulTuning("int8x16", c.T), rpt, lanes: WIDE_LANES };
            const e = await runCase(gpu, { lib, variant }, c, seed++);
            assert.ok(e <= 1e-5, `${JSON.stringify({ ...c, rpt })} KL 64: relative error ${e}`);
          }
        }
      },
    );
  }
}

// matmul_int8_rows (K and group multiples of 16) at every row count and loop order the tuner
// times (engine/autotune.ts), over passes of 1-17 tokens (17: two token groups), against the
// same float64 reference; a chunk split and an xRow offset among them.
const ROWS_SHAPES: [number, number][] = [[7, 16], [100, 48], [13, 256], [100, 384]];

function rowsCases(group: number): Case[] {
  const out: Case[] = [];
  let i = 0;
  for (const [N, K] of ROWS_SHAPES) {
    for (const T of [1, 5, 17]) {
      i++;
      out.push({ N, K, group, T, xRow: i % 3, bias: i % 2 === 0, accumulate: i % 4 < 2 });
    }
  }
  out.push({ N: 100, K: 384, group, T: 4, xRow: 1, bias: false, accumulate: true, splits: [37] });
  // The fused [dense | dense_4h_to_h] of a per-channel model: groups of 384 (engine/load.ts).
  if (group !== 0) {
    out.push({ N: 20, K: 1920, group: 384, T: 2, xRow: 0, bias: true, accumulate: true });
    out.push({ N: 9, K: 96, group: 32, T: 17, xRow: 1, bias: false, accumulate: false });
  }
  return out;
}

for (const group of [0, 128]) {
  const scales = group === 0 ? "per channel" : "g128";
  Deno.test(
    `matmul_int8_rows (RPT 1/4/8/16, both loop orders; _tex, _ubo), ${scales}: matches float64 on the dequantized weights`,
    gpuTest,
    async () => {
      const gpu = await getGpu();
      const lib = new KernelLibrary(gpu.device);
      let seed = 500;
      // Half of the (RPT, order) pairs per case, alternating, so each pair meets every shape.
      for (const [i, c] of rowsCases(group).entries()) {
        const tok = rowsTok(c.T);
        for (const rpt of [1, 4, 8, 16].filter((r) => r * tok <= MAX_ACCUMULATORS)) {
          for (const xRegs of [true, false]) {
            if ((rpt + Number(xRegs) + i) % 2 === 0) continue;
            const variant: MatmulChoice = { variant: "int8_rows", tok, rpt, xRegs };
            const err = await runCase(gpu, { lib, variant }, c, seed++);
            assert.ok(
              err <= 1e-5,
              `${JSON.stringify({ ...c, rpt, xRegs })}: relative error ${err}`,
            );
          }
        }
        // The weight-texture and uniform-x forms at a row count the tuner tries.
        for (const v of ["int8_rows_tex", "int8_rows_ubo"] as const) {
          const rpt = tok <= 8 ? 16 : 8;
          const err = await runCase(gpu, { lib, variant: { variant: v, tok, rpt } }, c, seed++);
          assert.ok(err <= 1e-5, `${JSON.stringify({ ...c, v, rpt })}: relative error ${err}`);
        }
      }
    },
  );
}

Deno.test("interleaveInt8 puts word j of row n at ((n >> 3) * K16 + j) * 8 + (n & 7)", () => {
  const [R, K] = [11, 32];
  const packed = Uint32Array.from({ length: (R * K) / 4 }, (_, i) => i + 1);
  const out = interleaveInt8(packed, R, K);
  assert.equal(out.length, 16 * (K / 16) * 4);
  for (let n = 0; n < 16; n++) {
    for (let j = 0; j < K / 16; j++) {
      const at = (((n >> 3) * (K / 16) + j) * 8 + (n & 7)) * 4;
      for (let w = 0; w < 4; w++) {
        assert.equal(out[at + w], n < R ? packed[n * (K / 4) + 4 * j + w] : 0);
      }
    }
  }
  assert.throws(() => interleaveInt8(packed, R, 24), RangeError);
});

Deno.test("embedding_int8 gathers dequantized rows of its chunk only", gpuTest, async () => {
  const gpu = await getGpu();
  const lib = new KernelLibrary(gpu.device);
  for (const [d, group] of [[65, 0], [130, 128]]) {
    const V = 12;
    const q = quantizeInt8(testWeights(V, d, d), V, d, group);
    const table = dequantizeInt8(q, V, d, group);
    // this chunk holds rows 5..11; token 2 lies outside it and leaves its row untouched
    const [rowStart, rows] = [5, 7];
    const words = int8RowWords(d);
    const G = int8Groups(d, group);
    const ids = [9, 2, 5, 11];
    const tokenPos = 1;
    const state = storageBuffer(gpu, 0, "state", new Uint32Array([0, tokenPos, 0, 0]));
    const tokens = storageBuffer(gpu, 0, "tokens", new Uint32Array([0, ...ids]));
    const x = storageBuffer(gpu, ids.length * d * 4, "x");
    const buf = storageBuffer(gpu, 0, "table", q.packed.subarray(rowStart * words));
    const scales = storageBuffer(gpu, 0, "scales", q.scales.subarray(rowStart * G));
    const embedIn: Linear = {
      N: rowStart + rows,
      K: d,
      wt: "int8",
      group,
      chunks: [{ buf, scales, rowStart, rows }],
      bias: null,
    };
    const dispatches = embedding(lib, embedIn, { state, tokens, x, T: ids.length });
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, dispatches);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const got = new Float32Array(await readBuffer(gpu, x));
    ids.forEach((id, t) => {
      const want = id >= rowStart ? table.subarray(id * d, (id + 1) * d) : new Float32Array(d);
      assert.deepEqual(got.subarray(t * d, (t + 1) * d), want, `d ${d} group ${group} id ${id}`);
    });
  }
});

// ---- whole models ----

interface TargetGolden {
  entries: { ids: number[]; all_logits_b64: string; greedy_128: number[] }[];
}

let modelsPromise: Promise<{ fp: NeoxModel; q: NeoxModel; qg: NeoxModel }> | null = null;

/** pydoc-neox-20m loaded once as fp16, int8 and int8-g128. */
function targetModels() {
  modelsPromise ??= (async () => {
    const gpu = await getGpu();
    return {
      fp: await loadModel(gpu, TARGET),
      q: await loadModel(gpu, TARGET, { quant: "int8" }),
      // Untuned (the engine's rule picks its kernels): tuning int8-g128's own pipelines would
      // add about a minute of shader compilation to CI.
      qg: await loadModel(gpu, TARGET, { quant: "int8-g128", tune: false }),
    };
  })();
  return modelsPromise;
}

Deno.test("int8 pydoc-neox-20m weighs at most 0.55x its fp16 weights", gpuTest, async () => {
  const gpu = await getGpu();
  const { fp, q, qg } = await targetModels();
  assert.equal(fp.weights.embedOut.wt, gpu.hasF16 ? "f16" : "f32");
  const fp16Bytes = gpu.hasF16 ? fp.weightBytes : fp.weightBytes / 2;
  console.log(
    `weightBytes fp16 ${fp16Bytes}, int8 ${q.weightBytes} (${
      (q.weightBytes / fp16Bytes).toFixed(4)
    }x), ` +
      `int8-g128 ${qg.weightBytes} (${(qg.weightBytes / fp16Bytes).toFixed(4)}x)`,
  );
  assert.ok(q.weightBytes <= 0.55 * fp16Bytes);
  assert.ok(qg.weightBytes <= 0.55 * fp16Bytes);
  for (const m of [q, qg]) {
    const w = m.weights;
    const layers = w.layers.flatMap((l) => [l.queryKeyValue, l.dense, l.denseHTo4h, l.dense4hToH]);
    for (const lin of [w.embedIn, w.embedOut, ...layers]) assert.equal(lin.wt, "int8");
  }
});

Deno.test("int8 pydoc-neox-20m agrees with the fp16 golden all-logits", gpuTest, async () => {
  const golden = await readGolden<TargetGolden>("target.json");
  const { ids, all_logits_b64 } = golden.entries[0];
  const ref = decodeF32Base64(all_logits_b64);
  const { fp, q, qg } = await targetModels();
  const V = fp.cfg.vocabSize;
  for (const [name, m] of [["int8", q], ["int8-g128", qg]] as const) {
    const r = compareLogits(ref, await allLogits(m, ids), V);
    console.log(
      `${name} vs golden: top1 ${r.top1Agreement}, max|dlogit| ${r.maxAbsLogitError.toFixed(4)}, ` +
        `mean KL ${r.meanKlNats.toExponential(3)} nats over ${r.positions} positions`,
    );
    assert.ok(r.top1Agreement >= 0.9);
  }
  // the tool's own figures: fp16 model against its int8 twin
  const qq = await quantQuality(fp, q, ids);
  console.log(`quantQuality(fp16, int8): ${JSON.stringify(qq)}`);
  assert.equal(qq.fpWeightBytes, fp.weightBytes);
  assert.equal(qq.quantWeightBytes, q.weightBytes);
  assert.equal(qq.positions, ids.length);
  assert.ok(qq.top1Agreement >= 0.9 && qq.meanKlNats < 0.01 && qq.maxAbsLogitError < 1);
});

Deno.test(
  "synthetic int8 model: half the bytes, matmul_int8_rows logits equal the oracle's",
  gpuTest,
  async () => {
    const gpu = await getGpu();
    const q = syntheticModel(gpu, "pythia-70m", { quant: "int8-g128" });
    const lin = q.weights.layers[0].denseHTo4h;
    assert.equal(lin.wt, "int8");
    assert.equal(lin.group, 128);
    const words = new Uint32Array(await readBuffer(gpu, lin.chunks[0].buf, 0, 4096));
    const bytes = new Int8Array(words.buffer);
    assert.ok(
      bytes.every((b) => b >= -127) && bytes.some((b) => b > 100) && bytes.some((b) => b < -100),
    );
    const scales = new Float32Array(await readBuffer(gpu, lin.chunks[0].scales!, 0, 1024));
    const s0 = (0.02 * Math.sqrt(3)) / 127;
    assert.ok(scales.every((s) => s >= 0.89 * s0 && s <= 1.11 * s0));
    // 70m params ~ 70.4M; int8 ~ 1 byte each plus f32 scales, biases and norms
    assert.ok(q.weightBytes < 1.1 * q.params, `${q.weightBytes} bytes for ${q.params} params`);
    const logits = await allLogits(q, [1, 2, 3]);
    assert.ok(logits.every(Number.isFinite));
    await assertRowKernels(q, logits);
    // One scale per row: the fused [dense | dense_4h_to_h] gets groups of d (concatInt8).
    const pc = syntheticModel(gpu, "pythia-14m", { quant: "int8" });
    assert.equal(pc.weights.layers[0].denseOut?.group, pc.cfg.hiddenSize);
    await assertRowKernels(pc, await allLogits(pc, [1, 2, 3]));
  },
);

/**
 * A synthetic int8 model's k16-interleaved copies (made by the interleave kernel) and its
 * fused [dense | dense_4h_to_h] run matmul_int8_rows, and `logits` are the naive oracle's.
 */
async function assertRowKernels(q: NeoxModel, logits: Float32Array): Promise<void> {
  const L = q.weights.layers[0];
  assert.equal(L.denseOut?.wt, "int8");
  assert.ok([L.queryKeyValue, L.denseOut!].every((m) => m.chunks.every((c) => c.inter)));
  const seq = q.newSequence({ capacity: 8, maxTokens: 8, maxT: 3 });
  const kernels = q.buildPass(seq, 3, { logits: "all", argmax: false, advance: false })
    .map((d) => `${d.label} ${d.meta.kernel}`);
  seq.destroy();
  assert.ok(kernels.includes("dense+dense_4h_to_h matmul_int8_rows"), kernels.join());
  assert.ok(!kernels.some((k) => k.endsWith("matmul_int8x16")), kernels.join());
  q.naive = true;
  const want = await allLogits(q, [1, 2, 3]);
  q.naive = false;
  let worst = 0;
  let scale = 0;
  want.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(logits[i] - v));
    scale = Math.max(scale, Math.abs(v));
  });
  assert.ok(worst <= 1e-4 * scale, `max |error| ${worst} at logit scale ${scale}`);
}

Deno.test(
  "an int8 draft (bench --draft-quant int8) leaves speculative output the target's greedy",
  gpuTest,
  async () => {
    const golden = await readGolden<TargetGolden>("target.json");
    const { fp } = await targetModels();
    // Untuned: the rule's kernels (tests/bench_test.ts's run of --draft-quant int8 times the
    // draft's own choices; compiled cold, that is about a minute and a half in CI).
    const draft = await loadModel(await getGpu(), `${modelsDir}pydoc-neox-2.5m`, {
      quant: "int8",
      tune: false,
    });
    try {
      assert.equal(draft.weights.embedOut.wt, "int8");
      for (const e of golden.entries.slice(0, 2)) {
        for (const k of [2, 4]) {
          const r = await speculativeGenerate(fp, draft, e.ids, { k, maxNewTokens: 24 });
          assert.deepEqual(r.tokens, e.greedy_128.slice(0, 24), `K=${k}`);
          assert.ok(r.rounds.some((a) => a > 0), `K=${k}: the int8 draft's tokens are accepted`);
        }
      }
    } finally {
      draft.destroy();
    }
  },
);
