/**
 * `mod.ts bench` in a short mode (8 new tokens, one K, one sample) as a subprocess: the
 * JSON's shape and sanity (positive finite rates, fractions in (0, 1.5], kernels listed,
 * the PyTorch peer's tokens equal ours or a note says why there is no peer), not its
 * speed. And profileKernels / withFloors rows on the embedded draft model.
 */

import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import { GpuTimer } from "../profiler/gpu_timer.ts";
import {
  type AdapterRates,
  type KernelProfileRow,
  profileKernels,
  withFloors,
} from "../profiler/kernel_profile.ts";
import { type BenchResult, benchTable } from "../profiler/bench.ts";
import { roundAccounts } from "../profiler/bench_extra.ts";
import { modelsDir, repoDir } from "./goldens.ts";
import { lavapipeThreads } from "../engine/device_deno.ts";

const positive = (x: unknown, what: string) =>
  assert(typeof x === "number" && Number.isFinite(x) && x > 0, `${what} = ${x}`);

const fraction = (x: unknown, what: string) =>
  assert(typeof x === "number" && x > 0 && x <= 1.5, `${what} = ${x} is outside (0, 1.5]`);

/** Runs `mod.ts bench ARGS` in a child process: exit code, stdout and stderr. */
async function bench(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repoDir}mod.ts`, "bench", ...args],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: o.code, out: text(o.stdout), err: text(o.stderr) };
}

/** Short mode: 8 new tokens, K = 2, one sample. */
const SHORT = ["--max-new-tokens", "8", "--k-values", "2", "--samples", "1"];

/** The embedded pair. */
const PAIR = ["--model", `${modelsDir}pydoc-neox-20m`, "--draft", `${modelsDir}pydoc-neox-2.5m`];

Deno.test("bench --json: short mode, shape and sanity", async () => {
  const out = await bench(
    ...PAIR,
    ...SHORT,
    "--kernel-reps",
    "2",
    "--json",
  );
  assert.equal(out.code, 0, `bench failed:\n${out.err}`);
  const r = JSON.parse(out.out) as BenchResult;

  assert.equal(r.schema, "neox-spec/bench@1");
  // The worker threads lavapipe runs with, as LP_NUM_THREADS set them for the child (else null).
  assert.equal(
    r.machine.workerThreads,
    /llvmpipe/i.test(r.machine.adapter) ? lavapipeThreads() : null,
  );
  assert.equal(r.maxNewTokens, 8);
  assert.deepEqual(r.kValues, [2]);
  assert.equal(r.prompt.name, "medium-json", "the built-in default prompt");
  assert(r.prompt.ids.length > 0);
  positive(r.decodeTokS, "decodeTokS");
  positive(r.bestSpeculativeTokS, "bestSpeculativeTokS");
  assert.equal(r.bestK, 2);
  // One round of samples: its plain / speculative pair is the ratio of the medians.
  assert.equal(r.speculativeSpeedupRounds.length, 1);
  assert(Math.abs(r.speculativeSpeedupRounds[0] - r.speculativeSpeedup) < 1e-9);
  assert(
    Math.abs(r.speculativeSpeedup - r.bestSpeculativeTokS / r.decodeTokS) < 1e-9,
    "speculativeSpeedup = best speculative / plain decode tok/s",
  );
  positive(r.gpuWaitsPerToken.plain, "gpuWaitsPerToken.plain");
  positive(r.gpuWaitsPerToken.speculative, "gpuWaitsPerToken.speculative");
  assert(r.gpuWaitsPerToken.plain <= 1, "plain decoding must not wait once per token");
  assert.equal(r.speculative.length, 1);
  assert.equal(r.speculative[0].tokensMatchPlain, true, "speculative output = greedy output");
  const acc = r.speculative[0].draftAcceptanceRate;
  assert(acc >= 0 && acc <= 1, `acceptance ${acc}`);

  assert(r.adapter, "adapter rates (lavapipe has timestamp queries)");
  positive(r.adapter.copyGBs, "copyGBs");
  positive(r.adapter.computeReadGBs, "computeReadGBs");
  positive(r.adapter.computeGflops, "computeGflops");
  positive(r.adapter.nsPerTick, "nsPerTick");
  positive(r.adapter.dispatchUs, "dispatchUs");

  // Attention's row is "attention", or "rotary+kv_append+attention" in passes whose kernel
  // appends to the cache itself (attention_rows, attention_split at one token).
  const rowName = (n: string) => (n === "rotary+kv_append+attention" ? "attention" : n);
  const names = new Set(r.kernels.map((k) => rowName(k.name)));
  for (const n of ["query_key_value", "attention", "dense_h_to_4h", "embed_out"]) {
    assert(names.has(n), `kernel ${n} listed`);
  }
  assert.deepEqual([...new Set(r.kernels.map((k) => k.pass))].sort(), [
    "draft",
    "target",
    "verify",
  ]);
  for (const k of r.kernels) {
    const at = `${k.pass}/${k.name}`;
    positive(k.ms, `${at} ms`);
    assert(k.shape.length > 0, `${at} shape`);
    if (k.bytes === null) continue; // a kernel this bench does not know the cost of
    positive(k.bytes, `${at} bytes`);
    positive(k.gbs, `${at} GB/s`);
    positive(k.floorMs, `${at} floor`);
    fraction(k.fraction, `${at} fraction`);
  }
  for (const name of ["query_key_value", "attention", "embed_out"]) {
    for (const k of r.kernels.filter((x) => rowName(x.name) === name)) {
      assert(k.fraction !== null, `${k.pass}/${name} has a floor`);
      positive(k.flops, `${k.pass}/${name} flops`);
    }
  }
  assert.equal(r.kernelPasses.length, 3);
  for (const p of r.kernelPasses) fraction(p.fraction, `${p.pass} pass fraction`);

  // profiler/bench_extra.ts: dispatch counts, the verify curve over T = 1..17, ratios.
  assert(r.extra, "bench extras");
  // Parallel residual: 6 dispatches a layer, 5 where the tuned attention kernel appends to the
  // cache itself (attention_rows, attention_split at one token), or 1 where it chose decode_layer.
  for (const m of ["target", "draft"] as const) {
    const n = r.extra.dispatches[m].perLayer;
    assert(n === 6 || n === 5 || n === 1, `${m}: ${n} dispatches a layer`);
  }
  assert.deepEqual(
    r.extra.verifyCurve.map((c) => c.T),
    Array.from({ length: 17 }, (_, i) => i + 1),
  );
  for (const c of r.extra.verifyCurve) positive(c.ms, `verify T=${c.T} ms`);
  // The ratios are medians of per-round ratios of passes timed in the same rounds.
  const pm = r.extra.passMs;
  assert(pm, "pass times");
  for (const [name, v] of Object.entries(pm)) positive(v, `${name} pass ms`);
  for (
    const [name, mid, range] of [
      ["verify(4) / target", r.extra.verify4OverTarget, r.extra.verify4OverTargetRange],
      ["c", r.extra.draftOverTarget, r.extra.draftOverTargetRange],
    ] as const
  ) {
    assert(mid !== null && range !== null, name);
    positive(mid, name);
    assert(range[0] <= mid && mid <= range[1], `${name}: ${mid} outside ${range}`);
  }
  const floor = r.kernelPasses.find((p) => p.pass === "target")!.floorMs;
  assert.ok(Math.abs(r.extra.targetFloorFraction! - floor / pm.target) < 1e-12);
  // A pass costs at least its dispatches times the probe's cost of one: a probe that timed
  // more than a dispatch (its pass, its wait) would claim more than the passes took.
  const fl = r.extra.dispatchFloorMs;
  assert(fl, "dispatch floors");
  for (const p of ["target", "draft", "verify4"] as const) {
    const want = r.extra.dispatches[p].pass * r.adapter.dispatchUs / 1e3;
    assert.ok(Math.abs(fl[p] - want) < 1e-12, `${p} dispatch floor`);
    assert(fl[p] < pm[p], `${p}: dispatches x cost ${fl[p]} ms, the pass ${pm[p]} ms`);
  }
  // The one K's round, accounted from the run's own passes and tokens a round.
  assert.equal(r.extra.roundAccounts.length, 1);
  const ra = r.extra.roundAccounts[0];
  assert.equal(ra.k, 2);
  assert.equal(ra.tokensPerRound, r.speculative[0].meanTokensPerRound);
  assert.ok(Math.abs(ra.measured - r.speculativeSpeedup) < 1e-9);
  assert.ok(Math.abs(ra.speedup * ra.roundPasses - ra.tokensPerRound) < 1e-9);

  // Only a draft quantized at load (--draft-quant, below) is named so in the table.
  assert.doesNotMatch(benchTable(r), /quantized/);

  if (r.peer) {
    positive(r.peer.decodeTokS, "peer decodeTokS");
    assert.equal(r.peer.threads, 1);
    assert.equal(r.peer.dtype, "float32");
    assert.equal(r.peer.tokens.length, 8);
    assert.equal(r.peer.tokensMatch, true, `peer tokens differ: ${r.peerNote}`);
    assert(r.ratio);
    positive(r.ratio.plain, "ratio.plain");
    positive(r.ratio.bestSpeculative, "ratio.bestSpeculative");
  } else {
    assert(r.peerNote && r.peerNote.length > 0, "no peer: a note says why");
    assert.equal(r.ratio, null);
  }
});

Deno.test("bench: bad flags are usage errors", async () => {
  const noDraft = await bench("--model", `${modelsDir}pydoc-neox-20m`);
  assert.equal(noDraft.code, 2);
  assert.match(noDraft.err, /--draft is required/);
  const badK = await bench(...PAIR, "--k-values", "0");
  assert.equal(badK.code, 2);
  assert.match(badK.err, /--k-values/);
  const badQuant = await bench(...PAIR, "--draft-quant", "int4");
  assert.equal(badQuant.code, 2);
  assert.match(badQuant.err, /--draft-quant must be fp16, int8 or int8-g128, got "int4"/);
});

// The flag end to end (the int8 draft's own kernel choices are timed at load: about 1.5 min in
// CI with Mesa's shader cache cold); tests/int8_test.ts checks the int8 draft's speculative
// output against the goldens in process.
Deno.test("bench --draft-quant int8: the draft quantized at load, output still the target's", async () => {
  const out = await bench(
    ...PAIR,
    "--draft-quant",
    "int8",
    ...SHORT,
    "--kernel-reps",
    "1",
    "--no-peer",
    "--json",
  );
  assert.equal(out.code, 0, `bench failed:\n${out.err}`);
  const r = JSON.parse(out.out) as BenchResult;
  assert.equal(r.models.draft.weightType, "int8");
  assert.notEqual(r.models.target.weightType, "int8");
  assert.equal(r.speculative[0].tokensMatchPlain, true, "speculative output = greedy output");
  assert.match(benchTable(r), /\(draft \S*pydoc-neox-2\.5m, quantized int8 at load\)/);
});

Deno.test("profileKernels: one row per kernel, costs from the model's shapes", async () => {
  const gpu = await getGpu();
  if (!gpu.hasTimestamps) {
    console.log("skipped: the adapter has no timestamp queries");
    return;
  }
  // The layer-by-layer pass: untuned (a tuned draft may run each layer as one decode_layer).
  const model = await loadModel(gpu, `${modelsDir}pydoc-neox-2.5m`, { tune: false });
  const cfg = model.cfg;
  const seq = model.newSequence({ capacity: 32, maxTokens: 33, maxT: 4, logitsRows: 4 });
  const timer = new GpuTimer(gpu, 256);
  try {
    const decode = await profileKernels(seq, 1, timer, 1, { cacheLen: 10, reps: 2 });
    const byName = new Map(decode.map((r) => [r.name, r]));
    assert.equal(byName.size, decode.length, "one row per kernel name");
    for (const r of decode) {
      assert.equal(r.pass, "target");
      positive(r.ms, `${r.name} ms`);
    }
    const plan = seq.plan(1, { logits: "last", argmax: true, advance: true });
    assert.equal(decode.reduce((s, r) => s + r.count, 0), plan.length, "every dispatch timed");
    const d = cfg.hiddenSize;
    const qkv = byName.get("query_key_value")!;
    assert.equal(qkv.count, cfg.numLayers);
    assert.match(qkv.kernel, /^matmul/, "the WGSL kernel behind the label");
    const wBytes = model.weights.layers[0].queryKeyValue.chunks[0].buf.size;
    assert.equal(qkv.bytes, cfg.numLayers * (wBytes + 3 * d * 4 + d * 4 + 3 * d * 4));
    assert.equal(qkv.flops, cfg.numLayers * (2 * 3 * d * d + 3 * d));
    const att = byName.get("attention")!;
    assert.equal(att.count, cfg.numLayers);
    assert.match(att.shape, /^1q x 11k/);
    const out = byName.get("embed_out")!;
    assert.equal(out.count, 1);
    assert.equal(out.flops, 2 * cfg.vocabSize * d);
    for (const n of ["embed_in", "final_layer_norm", "argmax+advance"]) {
      assert(byName.has(n), `${n} in the decode step`);
    }

    const verify = await profileKernels(seq, 3, timer, 1, { cacheLen: 10, reps: 1 });
    assert(verify.every((r) => r.pass === "verify"));
    const vOut = verify.find((r) => r.name === "embed_out")!;
    assert.equal(vOut.flops, 3 * 2 * cfg.vocabSize * d, "verify scores every position");
    assert(!verify.some((r) => r.name === "argmax" || r.name === "advance"));
    await assert.rejects(profileKernels(seq, 4, timer, 1, { cacheLen: 30 }), /capacity/);
  } finally {
    timer.destroy();
    seq.destroy();
  }
});

Deno.test("roundAccounts: tokens a round over K c + verify(K+1) / target", () => {
  const runs = [
    { k: 1, meanTokensPerRound: 1.6, decodeTokS: 120 },
    { k: 3, meanTokensPerRound: 2.2, decodeTokS: 90 },
    { k: 20, meanTokensPerRound: 3, decodeTokS: 50 }, // no verify of 21 timed: left out
  ];
  const verifyMs = new Map([[2, 6], [4, 8]]);
  const [a, b, ...rest] = roundAccounts(runs, 100, { target: 5, draft: 0.5, verifyMs });
  assert.equal(rest.length, 0);
  assert.equal(a.k, 1);
  assert.ok(Math.abs(a.roundPasses - 1.3) < 1e-12); // (0.5 + 6) / 5
  assert.ok(Math.abs(a.speedup - 1.6 / 1.3) < 1e-12);
  assert.ok(Math.abs(a.measured - 1.2) < 1e-12);
  assert.equal(b.k, 3);
  assert.ok(Math.abs(b.roundPasses - 1.9) < 1e-12); // (3 x 0.5 + 8) / 5
  assert.ok(Math.abs(b.speedup - 2.2 / 1.9) < 1e-12);
  assert.ok(Math.abs(b.measured - 0.9) < 1e-12);
});

Deno.test("withFloors: floor, bound and fraction arithmetic", () => {
  const rates: AdapterRates = {
    copyGBs: 10,
    copyBytes: 1,
    computeReadGBs: 2,
    readBytes: 1,
    readLaunch: "",
    computeGflops: 4,
    dispatchUs: 30,
    nsPerTick: 1,
  };
  const rows: KernelProfileRow[] = [
    { name: "a", kernel: "a", pass: "target", shape: "", count: 1, ms: 2, bytes: 2e6, flops: 1e6 },
    { name: "b", kernel: "b", pass: "target", shape: "", count: 1, ms: 1, bytes: 1e3, flops: 8e6 },
    {
      name: "c",
      kernel: "c",
      pass: "target",
      shape: "",
      count: 1,
      ms: 1,
      bytes: null,
      flops: null,
    },
  ];
  const [a, b, c] = withFloors(rows, rates);
  assert.equal(a.floorMs, 1); // 2e6 B / 2 GB/s = 1 ms > 1e6 / 4 GFLOP/s = 0.25 ms
  assert.equal(a.boundBy, "bytes");
  assert.equal(a.fraction, 0.5);
  assert.equal(a.gbs, 1);
  assert.equal(a.gflops, 0.5);
  assert.equal(b.floorMs, 2); // 8e6 FLOP / 4 GFLOP/s = 2 ms
  assert.equal(b.boundBy, "flops");
  assert.equal(b.fraction, 2);
  assert.equal(c.floorMs, null);
  assert.equal(c.fraction, null);
});
