/**
 * engine/ops.ts: the variant rules and the metadata every dispatch of a pass carries (what
 * profiler/kernel_profile.ts reads instead of pipeline labels), on synthetic Pythia-14m.
 */
import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { readBuffer } from "../engine/device.ts";
import { syntheticModel } from "../engine/load.ts";
import { attentionChoice, type Linear, matmulChoice } from "../engine/ops.ts";
import { emptyProfile, tunedChoice, tuneKey } from "../engine/autotune.ts";
import { encodeDispatches } from "../kernels/kernel.ts";

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
  assert.deepEqual(matmulChoice({ wt: "f32", K: 65 }, 9), { variant: "tiled", tok: 8 });
  assert.deepEqual(matmulChoice({ wt: "f32", K: 64 }, 5), { variant: "vec4", tok: 8, rpt: 4 });
});

Deno.test("tunedChoice: a pass runs the matmul_rows loop order its token bucket was timed with", () => {
  // Shape fields only: tunedChoice reads the weight type, shape and interleaved chunks.
  const m = { wt: "f16", N: 1152, K: 384, chunks: [{ inter: true }] } as unknown as Linear;
  const p = emptyProfile("test");
  const order = (T: number) => tunedChoice(p, m, T).xRegs;
  p.matmul.set(tuneKey(m, 1), { variant: "rows", rpt: 8, ticks: {} });
  p.matmul.set(tuneKey(m, 4), { variant: "rows_ubo", rpt: 16, ticks: {} });
  p.matmul.set(tuneKey(m, 16), { variant: "rows_ubo", rpt: 8, ticks: {} });
  assert.equal(order(1), true);
  // Timed at 4 tokens with 16 rows (TOK <= RPT): x in registers for 2-4 tokens.
  assert.deepEqual([2, 3, 4].map(order), [true, true, true]);
  // Timed at 16 tokens with 8 rows: tokens streamed, also at 5-8 tokens where TOK <= RPT.
  for (let T = 5; T <= 16; T++) {
    assert.deepEqual(tunedChoice(p, m, T), { variant: "rows_ubo", tok: T, rpt: 8, xRegs: false });
  }
  p.matmul.set(tuneKey(m, 4), { variant: "rows", rpt: 16, xRegs: false, ticks: {} });
  assert.deepEqual([2, 3, 4].map(order), [false, false, false]);
  p.matmul.set(tuneKey(m, 4), { variant: "rows", rpt: 1, ticks: {} });
  assert.equal(order(2), false, "RPT 1 was timed at TOK 4 > RPT");
  // Without a measured choice, the engine's rule (its own default order).
  p.matmul.clear();
  assert.equal(order(5), undefined);
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
