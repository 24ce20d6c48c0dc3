/**
 * engine/ops.ts: the variant rules and the metadata every dispatch of a pass carries (what
 * profiler/kernel_profile.ts reads instead of pipeline labels), on synthetic Pythia-14m.
 */
import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { readBuffer, storageBuffer } from "../engine/device.ts";
import { syntheticModel } from "../engine/load.ts";
import { greedyGenerate, sequenceFor } from "../engine/generate.ts";
import {
  ARGMAX_WG,
  attentionChoice,
  attentionName,
  fill,
  type Linear,
  linear,
  type MatmulChoice,
  matmulChoice,
  NORM_WG,
  TILE_LANES,
  tileFits,
  WIDE_LANES,
} from "../engine/ops.ts";
import {
  argmaxKey,
  ATTENTION_TUNE_LENGTHS,
  attentionKey,
  attentionLengthKey,
  emptyProfile,
  fusedKey,
  fusedLengthKey,
  matmulName,
  nearestTuneLength,
  normKey,
  oneTokenMatmulT,
  TUNE_BUCKETS,
  tuneArgmax,
  tuneAttention,
  tunedArgmaxWg,
  tunedChoice,
  tunedNorm,
  tuneKey,
  tuneMatmuls,
  tuneNorms,
  WIDE_REDUCTION_WG,
} from "../engine/autotune.ts";
import { encodeDispatches, KernelLibrary } from "../kernels/kernel.ts";

Deno.test("matmulChoice: the engine's kernel per weight type and K", () => {
  const v = (wt: "f16" | "f32" | "int8", K: number, group = 0) =>
    matmulChoice({ wt, K, group }, 1).variant;
  assert.equal(v("f16", 512), "f16x8");
  assert.equal(v("f16", 12), "vec4");
  assert.equal(v("f32", 512), "vec4");
  assert.equal(v("f32", 65), "tiled");
  assert.equal(v("int8", 512), "int8x16");
  assert.equal(v("int8", 512, 128), "int8x16");
  assert.equal(v("int8", 520), "int8");
  // With interleaved copies (engine/load.ts): the matmul_rows family, int8 where K and the
  // group are multiples of 16.
  const inter = (wt: "f16" | "int8", K: number, group = 0, N = 512) =>
    matmulChoice({ wt, K, group, N, chunks: [{ inter: true }] as unknown as Linear["chunks"] }, 5);
  assert.deepEqual(inter("f16", 384), { variant: "rows", tok: 5, rpt: 4 });
  assert.deepEqual(inter("int8", 384), { variant: "int8_rows", tok: 5, rpt: 4 });
  assert.deepEqual(inter("int8", 384, 128, 100), { variant: "int8_rows", tok: 5, rpt: 1 });
  assert.equal(inter("int8", 384, 8).variant, "int8");
  assert.equal(inter("int8", 392).variant, "int8");
  // TOK: every token up to 8, else even groups (9 = 2 x 5, 17 = 3 x 6).
  assert.deepEqual(matmulChoice({ wt: "f32", K: 65 }, 9), { variant: "tiled", tok: 5 });
  assert.deepEqual(matmulChoice({ wt: "f32", K: 64 }, 5), { variant: "vec4", tok: 5, rpt: 4 });
  assert.deepEqual(matmulChoice({ wt: "f16", K: 64 }, 17), { variant: "f16x8", tok: 6, rpt: 4 });
  assert.deepEqual(matmulChoice({ wt: "f16", K: 64 }, 16), { variant: "f16x8", tok: 8, rpt: 4 });
});

Deno.test("tunedChoice: a pass runs the matmul_rows loop order its token bucket was timed with", () => {
  // Shape fields only: tunedChoice reads the weight type, shape and interleaved chunks.
  const m = { wt: "f16", N: 1152, K: 384, chunks: [{ inter: true }] } as unknown as Linear;
  const p = emptyProfile("test");
  const order = (T: number) => tunedChoice(p, m, T).xRegs;
  // Every bucket b is timed at T = b (TOK = b) with the default order there, TOK <= RPT: each
  // pass of the bucket runs that order, whatever its own T (RPT 5-7 at T = 5-7 of the bucket
  // of 8, say, would take the other order by the default rule).
  for (let rpt = 1; rpt <= 16; rpt++) {
    let from = 1;
    for (const b of TUNE_BUCKETS) {
      p.matmul.set(tuneKey(m, b), { variant: "rows_ubo", rpt, ticks: {} });
      for (let T = from; T <= b; T++) {
        assert.deepEqual(tunedChoice(p, m, T), {
          variant: "rows_ubo",
          tok: T,
          rpt,
          xRegs: b <= rpt,
        }, `RPT ${rpt}, T = ${T} in the bucket of ${b}`);
      }
      from = b + 1;
    }
  }
  // 17 tokens: two groups of 9, the last bucket's choice and order.
  assert.equal(tunedChoice(p, m, 17).tok, 9);
  // A choice timed with the other order keeps it.
  p.matmul.set(tuneKey(m, 4), { variant: "rows", rpt: 16, xRegs: false, ticks: {} });
  assert.deepEqual([2, 3, 4].map(order), [false, false, false]);
  // Without a measured choice, the engine's rule (its own default order).
  p.matmul.clear();
  assert.equal(order(5), undefined);
  // matmul_int8_rows keeps its timed order too, and int8 keys name their scale group.
  const q = {
    wt: "int8",
    group: 128,
    N: 1152,
    K: 384,
    chunks: [{ inter: true }],
  } as unknown as Linear;
  assert.equal(tuneKey(q, 3), "int8-g128 1152x384 T<=4");
  assert.equal(tuneKey({ ...q, group: 0 }, 3), "int8 1152x384 T<=4");
  p.matmul.set(tuneKey(q, 4), { variant: "int8_rows", rpt: 8, ticks: {} });
  assert.deepEqual(tunedChoice(p, q, 3), { variant: "int8_rows", tok: 3, rpt: 8, xRegs: true });
  assert.equal(tunedChoice(p, { ...q, group: 0 } as Linear, 3).xRegs, undefined);
  // A tiled winner in the wide workgroup keeps its lanes and rows; TOK follows T.
  const big = { wt: "f16", N: 2560, K: 10240, chunks: [{}] } as unknown as Linear;
  p.matmul.set(tuneKey(big, 8), { variant: "f16x8", rpt: 1, lanes: WIDE_LANES, ticks: {} });
  assert.deepEqual(tunedChoice(p, big, 6), { variant: "f16x8", tok: 6, rpt: 1, lanes: 64 });
  assert.deepEqual(tunedChoice(p, big, 1), matmulChoice(big, 1));
});

Deno.test("tuneMatmuls: weights without interleaved copies time f16x8 in 64 and 256 lanes", async () => {
  // A matrix as Pythia-2.8B's are loaded (over INTERLEAVE_MAX_BYTES: no interleaved copy, so
  // no matmul_rows candidates): before the wide workgroup it had no candidates and no entry.
  const gpu = await getGpu();
  const lib = new KernelLibrary(gpu.device);
  const [N, K] = [96, 1040];
  const buf = storageBuffer(gpu, N * K * 2, "W");
  const m: Linear = { N, K, wt: "f16", chunks: [{ buf, rowStart: 0, rows: N }], bias: null };
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatches(pass, [
    fill(lib, { out: buf, count: N * K, type: "f16", seed: 7, scale: 0.05, offset: 0 }),
  ]);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const profile = await tuneMatmuls(gpu, lib, [{ m }], { rounds: 1 });
  const x = storageBuffer(
    gpu,
    16 * K * 4,
    "x",
    Float32Array.from({ length: 16 * K }, (_v, i) => Math.sin(i)),
  );
  for (const T of TUNE_BUCKETS) {
    const t = profile.matmul.get(tuneKey(m, T));
    assert(t, `an entry for T <= ${T}`);
    const cands: MatmulChoice[] = [
      { variant: "f16x8", rpt: 4 },
      { variant: "f16x8", rpt: 1, lanes: WIDE_LANES },
      { variant: "f16x8", rpt: 4, lanes: WIDE_LANES },
    ];
    const names = cands.filter((c) =>
      tileFits(gpu.device.limits, { ...c, tok: matmulChoice(m, T).tok })
    ).map(matmulName);
    assert.deepEqual(Object.keys(t.ticks).sort(), names.sort());
    // The kept one is the fastest timed, and a pass of T tokens runs it with its lanes.
    const best = Object.entries(t.ticks).reduce((b, e) => e[1] < b[1] ? e : b)[0];
    assert.equal(matmulName(t), best);
    const c = tunedChoice(profile, m, T);
    assert.equal(c.lanes ?? TILE_LANES, t.lanes ?? TILE_LANES);
    // It computes what the naive oracle does.
    const ys = [c, "naive" as const].map((variant) => {
      const y = storageBuffer(gpu, T * N * 4, "y");
      const e = gpu.device.createCommandEncoder();
      const p = e.beginComputePass();
      encodeDispatches(p, linear(lib, m, { x, y, T, variant }));
      p.end();
      gpu.device.queue.submit([e.finish()]);
      return readBuffer(gpu, y).then((b) => new Float32Array(b));
    });
    const [got, want] = await Promise.all(ys);
    want.forEach((v, i) =>
      assert(Math.abs(got[i] - v) <= 1e-4 * (1 + Math.abs(v)), `T=${T} y[${i}]`)
    );
  }
});

Deno.test("tuneNorms and tuneArgmax: each workgroup size timed, the fastest kept", async () => {
  const gpu = await getGpu();
  const lib = new KernelLibrary(gpu.device);
  const d = 104, V = 3001;
  const profile = await tuneArgmax(gpu, lib, V, { rounds: 1 });
  await tuneNorms(gpu, lib, d, { rounds: 1 });
  const fastest = (t: Record<string, number>) =>
    Object.entries(t).reduce((b, e) => e[1] < b[1] ? e : b)[0];
  const a = profile.norm.get(argmaxKey(V))!;
  assert.deepEqual(Object.keys(a.ticks), [
    `argmax WG=${ARGMAX_WG}`,
    `argmax WG=${WIDE_REDUCTION_WG}`,
  ]);
  assert.equal(`argmax WG=${a.wg ?? ARGMAX_WG}`, fastest(a.ticks));
  assert.equal(tunedArgmaxWg(profile, V), a.wg);
  for (const T of TUNE_BUCKETS) {
    const n = profile.norm.get(normKey(d, T))!;
    const names = [
      `layernorm_pair WG=${NORM_WG}`,
      "layernorm_pair_rows",
      `layernorm_pair WG=${WIDE_REDUCTION_WG}`,
    ];
    assert.deepEqual(Object.keys(n.ticks), names);
    const kept = n.rows ? names[1] : `layernorm_pair WG=${n.wg ?? NORM_WG}`;
    assert.equal(kept, fastest(n.ticks), `T <= ${T}`);
    assert.deepEqual(tunedNorm(profile, d, T), { rows: n.rows, wg: n.wg });
  }
});

Deno.test("a pass told its cache length runs the attention measured nearest to it", async () => {
  assert.deepEqual([1, 52, 90, 128, 129, 256, 4000].map(nearestTuneLength), [
    64,
    64,
    64,
    64,
    256,
    256,
    256,
  ]);
  const gpu = await getGpu();
  const model = syntheticModel(gpu, "pythia-14m");
  const s = { H: model.cfg.numHeads, hd: model.cfg.headDim, rot: model.cfg.rotaryDims };
  const p = emptyProfile("test");
  p.attention.set(attentionKey(s, 1), { variant: { variant: "split", lanes: 8 }, ticks: {} });
  p.attention.set(attentionLengthKey(s, 64), { variant: { variant: "rows" }, ticks: {} });
  p.attention.set(attentionLengthKey(s, 256), {
    variant: { variant: "split", lanes: 32 },
    ticks: {},
  });
  model.profile = p;
  const seq = sequenceFor(model, 3, 300, 0);
  try {
    const kernel = (cacheLen?: number) =>
      seq.plan(1, { logits: "last", argmax: true, advance: true, cacheLen })
        .find((d) => d.meta.op === "attention")!.meta.kernel;
    assert.equal(kernel(52), "attention_rows");
    assert.equal(kernel(300), "attention_split");
    assert.equal(kernel(undefined), "attention_split");
    assert.notEqual(
      seq.plan(1, { logits: "last", argmax: true, advance: true, cacheLen: 300 }),
      seq.plan(1, { logits: "last", argmax: true, advance: true, cacheLen: 52 }),
    );
    // Plain decoding tells each step the keys it attends: prompt + k at step k.
    const told: (number | undefined)[] = [];
    const plan = seq.plan.bind(seq);
    seq.plan = (T, o) => {
      if (T === 1) told.push(o.cacheLen);
      return plan(T, o);
    };
    await greedyGenerate(model, [5, 6, 7], 6, { sequence: seq });
    assert.deepEqual(told, [4, 5, 6, 7, 8]);
  } finally {
    seq.destroy();
  }
  // A verify pass alike, by its own bucket's per-length entries.
  p.attention.set(attentionLengthKey(s, 64, 4), { variant: { variant: "rows" }, ticks: {} });
  p.attention.set(attentionLengthKey(s, 256, 4), {
    variant: { variant: "multi", lanes: 8, tq: 4 },
    ticks: {},
  });
  const verify = model.newSequence({ capacity: 320, maxTokens: 320, maxT: 4, logitsRows: 4 });
  try {
    const kernel = (cacheLen?: number) =>
      verify.plan(4, { logits: "all", argmax: false, advance: false, cacheLen })
        .find((d) => d.meta.op === "attention")!.meta.kernel;
    assert.equal(kernel(300), "attention_multi");
    assert.equal(kernel(56), "attention_rows");
    // No hint, no summed entry for 4 tokens: the device's default.
    assert.equal(
      kernel(undefined),
      attentionName(attentionChoice(gpu.device.limits.maxComputeWorkgroupStorageSize)).split(
        " ",
      )[0],
    );
  } finally {
    verify.destroy();
    model.destroy();
  }
});

Deno.test("a one-token pass runs the matmul choices of the bucket tuneFused kept", async () => {
  const gpu = await getGpu();
  const model = syntheticModel(gpu, "pythia-14m");
  const p = emptyProfile("test");
  const qkv = model.weights.layers[0].queryKeyValue;
  p.matmul.set(tuneKey(qkv, 1), { variant: "rows", rpt: 4, ticks: {} });
  p.matmul.set(tuneKey(qkv, 4), { variant: "rows", rpt: 16, ticks: {} });
  model.profile = p;
  const seq = model.newSequence({ capacity: 8, maxTokens: 8, maxT: 1 });
  try {
    const rpt = (matmulT?: number) => {
      const plan = model.buildPass(seq, 1, {
        logits: "last",
        argmax: true,
        advance: true,
        matmulT,
      });
      const d = plan.find((d) => d.label === "query_key_value")!;
      return JSON.parse(d.pipeline.label.split("|")[2]).RPT;
    };
    assert.equal(rpt(), 4);
    assert.equal(rpt(4), 16);
    p.fused.set(fusedKey(model.cfg), { fused: false, matmulT: 4, ticks: {} });
    assert.equal(rpt(), 16);
    assert.equal(rpt(1), 4);
    assert.equal(oneTokenMatmulT(p, model.cfg), 4);
  } finally {
    seq.destroy();
    model.destroy();
  }
});

Deno.test("a one-token pass told its cache length runs the layer form measured nearest to it", async () => {
  const gpu = await getGpu();
  const model = syntheticModel(gpu, "pythia-14m");
  const p = emptyProfile("test");
  model.profile = p;
  const seq = model.newSequence({ capacity: 300, maxTokens: 300, maxT: 1 });
  try {
    // Dispatches of a one-token pass told `cacheLen` (a fresh plan each time).
    const count = (cacheLen?: number) =>
      model.buildPass(seq, 1, { logits: "last", argmax: true, advance: true, cacheLen }).length;
    const layers = count();
    const layerCount = model.cfg.numLayers;
    // Over the lengths summed: layer by layer; at 64 alone: split over 2 workgroups; at 256
    // alone: one workgroup a layer.
    p.fused.set(fusedKey(model.cfg), { fused: false, groups: 2, ticks: {} });
    p.fused.set(fusedLengthKey(model.cfg, 64), { fused: true, groups: 2, ticks: {} });
    p.fused.set(fusedLengthKey(model.cfg, 256), { fused: true, groups: 1, ticks: {} });
    assert.equal(count(), layers, "no hint: the sum's choice");
    const split = count(52);
    assert(split < layers, `split: ${split} dispatches, layer by layer ${layers}`);
    const labels = (cacheLen: number) =>
      model.buildPass(seq, 1, { logits: "last", argmax: true, advance: true, cacheLen })
        .map((d) => d.pipeline.label.split("|")[0]);
    assert.equal(labels(52).filter((l) => l === "decode_layer_split").length, layerCount + 1);
    assert.equal(labels(100).filter((l) => l === "decode_layer_split").length, layerCount + 1);
    assert.equal(labels(200).filter((l) => l === "decode_layer").length, layerCount);
    assert.equal(labels(200).filter((l) => l === "decode_layer_split").length, 0);
    // A length without its own entry (a file from before per-length timing): the sum's.
    p.fused.delete(fusedLengthKey(model.cfg, 256));
    assert.equal(count(200), layers);
  } finally {
    seq.destroy();
    model.destroy();
  }
});

Deno.test("tuneAttention: every bucket is timed at each cache length alone too", async () => {
  const gpu = await getGpu();
  const lib = new KernelLibrary(gpu.device);
  const s = { H: 3, hd: 16, rot: 8 };
  const profile = await tuneAttention(gpu, lib, s, { rounds: 1, reps: 1 });
  for (const T of TUNE_BUCKETS) {
    const names = Object.keys(profile.attention.get(attentionKey(s, T))!.ticks);
    // Passes of several tokens also time the kernel that shares each key among its queries.
    assert.equal(names.some((n) => n.startsWith("attention_multi")), T > 1, `T <= ${T}`);
    for (const L of ATTENTION_TUNE_LENGTHS) {
      const t = profile.attention.get(attentionLengthKey(s, L, T));
      assert(t, `an entry at ${L} cached, T <= ${T}`);
      assert.deepEqual(Object.keys(t.ticks), names);
      const best = Object.entries(t.ticks).reduce((b, e) => e[1] < b[1] ? e : b)[0];
      assert.equal(attentionName(t.variant), best);
    }
  }
  assert.equal(
    [...profile.attention.keys()].filter((k) => k.includes(" L=")).length,
    TUNE_BUCKETS.length * ATTENTION_TUNE_LENGTHS.length,
  );
});

Deno.test("attentionChoice: all scores when 17 KiB fit, tiles under 16 KiB", () => {
  assert.deepEqual(attentionChoice(32768), { variant: "full" });
  assert.deepEqual(attentionChoice(16384), { variant: "tiled", tile: 1024 });
  assert.deepEqual(attentionChoice(4096), { variant: "tiled", tile: 512 });
});

Deno.test("synthetic:pythia-14m: every dispatch of a pass carries its op metadata", async () => {
  const gpu = await getGpu();
  const model = syntheticModel(gpu, "pythia-14m");
  assert.equal(model.cfg.hiddenSize, 128);
  assert.equal(model.cfg.numLayers, 6);
  assert.equal(model.cfg.rotaryDims, 8);
  const seq = model.newSequence({ capacity: 16, maxTokens: 16, maxT: 4, logitsRows: 4 });
  try {
    const plan = seq.plan(4, { logits: "all", argmax: true, advance: true });
    const perLayer = new Map<number, string[]>();
    for (const d of plan) {
      assert.ok(d.meta.bytes > 0 && d.meta.flops >= 0, `${d.label}: bytes and flops`);
      const ops = perLayer.get(d.meta.layer) ?? [];
      ops.push(d.meta.op);
      perLayer.set(d.meta.layer, ops);
    }
    assert.deepEqual([...perLayer.keys()].sort(), [-1, 0, 1, 2, 3, 4, 5]);
    // Parallel residual: both norms in one dispatch; rotary and kv_append in one; f16 weights
    // as a small checkpoint loads them: [dense | dense_4h_to_h] as one matmul (f32: two).
    assert.deepEqual(perLayer.get(3), [
      "layer_norm",
      "linear",
      "rotary_append",
      "attention",
      "linear",
      "linear",
      ...(gpu.hasF16 ? [] : ["linear"]),
    ]);
    if (gpu.hasF16) {
      assert.ok(
        plan.every((d) => d.meta.op !== "linear" || d.meta.kernel.startsWith("matmul_rows")),
      );
    }
    // The argmax commits the pass itself (no advance dispatch).
    assert.deepEqual(perLayer.get(-1), ["embedding", "layer_norm", "linear", "argmax"]);
    const qkv = plan.find((d) => d.label === "query_key_value")!;
    assert.equal(qkv.meta.flops, 2 * 4 * 384 * 128 + 4 * 384);
    assert.ok(plan.find((d) => d.label === "attention")!.meta.perCachedEntry!.bytes > 0);
    seq.setState(0, 0);
    seq.writeTokens([1, 2, 3, 4]);
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, plan);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const logits = new Float32Array(await readBuffer(gpu, seq.logits));
    assert.equal(logits.length, 4 * 50304);
    assert.ok(logits.every(Number.isFinite), "finite logits");
  } finally {
    seq.destroy();
    model.destroy();
  }
});
