/**
 * The transformers goldens through the GPU engine: all-position and last-position logits
 * and greedy continuations of the embedded target and draft models, the oddball-b model
 * (rotary_pct 1.0, classic config), and the naive-kernel (oracle) path. Each check prints
 * its max|diff| against its tolerance.
 */

import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import type { NeoxModel } from "../engine/model.ts";
import { allLogits, greedyGenerate } from "../engine/generate.ts";
import { decodeF32Base64, goldensDir, modelsDir, readGolden } from "./goldens.ts";

/** All-position logits tolerance. */
const TOL_ALL = 1e-3;
/** Last-position logits tolerance. */
const TOL_LAST = 2e-3;

interface ModelGolden {
  model: string;
  entries: {
    prompt: string;
    ids: number[];
    last_logits_b64: string;
    greedy_128: number[];
    min_top2_margin_prefill: number;
    all_logits_b64?: string;
  }[];
}

interface OddballGolden {
  ids: number[];
  all_logits_b64: string;
  greedy_40: number[];
}

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, "logits length");
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function report(what: string, diff: number, tol: number): void {
  console.log(
    `${what.padEnd(52)} max|diff| ${diff.toExponential(2)} (tol ${tol.toExponential(0)})`,
  );
  assert(diff <= tol, `${what}: max|diff| ${diff} exceeds ${tol}`);
}

function firstMismatch(got: number[], want: number[]): string {
  const i = want.findIndex((t, j) => got[j] !== t);
  return i < 0 ? "identical" : `first mismatch at new token ${i}: got ${got[i]}, want ${want[i]}`;
}

/** Logits, greedy tokens and (for the first entry) all logits of one model's golden file. */
async function checkModelGolden(model: NeoxModel, golden: ModelGolden, tag: string) {
  const V = model.cfg.vocabSize;
  for (const [i, e] of golden.entries.entries()) {
    const logits = await allLogits(model, e.ids); // [T, V]
    const T = e.ids.length;
    if (e.all_logits_b64 !== undefined) {
      report(
        `${tag} ${e.prompt} all logits [${T}x${V}]`,
        maxAbsDiff(logits, decodeF32Base64(e.all_logits_b64)),
        TOL_ALL,
      );
    }
    report(
      `${tag} ${e.prompt} last logits (entry ${i})`,
      maxAbsDiff(logits.subarray((T - 1) * V), decodeF32Base64(e.last_logits_b64)),
      TOL_LAST,
    );
    const { tokens } = await greedyGenerate(model, e.ids, e.greedy_128.length);
    console.log(
      `${tag} ${e.prompt} greedy ${e.greedy_128.length}: ${firstMismatch(tokens, e.greedy_128)}`,
    );
    assert.deepEqual(tokens, e.greedy_128, `${tag} ${e.prompt} greedy_128`);
  }
}

Deno.test("golden: target pydoc-neox-20m logits and greedy_128", async () => {
  const model = await loadModel(await getGpu(), `${modelsDir}pydoc-neox-20m`);
  await checkModelGolden(model, await readGolden<ModelGolden>("target.json"), "target");
});

Deno.test("golden: draft pydoc-neox-2.5m logits and greedy_128", async () => {
  const model = await loadModel(await getGpu(), `${modelsDir}pydoc-neox-2.5m`);
  await checkModelGolden(model, await readGolden<ModelGolden>("draft.json"), "draft");
});

Deno.test("golden: oddball-b (rotary_pct 1.0) logits and greedy_40", async () => {
  const model = await loadModel(await getGpu(), `${goldensDir}oddball-b`);
  const g = await readGolden<OddballGolden>("oddball-b/expected.json");
  const logits = await allLogits(model, g.ids);
  report(
    `oddball-b all logits [${g.ids.length}x${model.cfg.vocabSize}]`,
    maxAbsDiff(logits, decodeF32Base64(g.all_logits_b64)),
    TOL_ALL,
  );
  const { tokens } = await greedyGenerate(model, g.ids, g.greedy_40.length);
  console.log(`oddball-b greedy 40: ${firstMismatch(tokens, g.greedy_40)}`);
  assert.deepEqual(tokens, g.greedy_40, "oddball-b greedy_40");
});

Deno.test("golden: target through the naive matmul oracle and with f32 weights", async () => {
  const gpu = await getGpu();
  const golden = await readGolden<ModelGolden>("target.json");
  const e = golden.entries[0];
  const want = decodeF32Base64(e.all_logits_b64!);
  const model = await loadModel(gpu, `${modelsDir}pydoc-neox-20m`);
  model.naive = true;
  report(
    `target ${e.prompt} all logits, naive matmul (${model.weights.embedOut.wt})`,
    maxAbsDiff(await allLogits(model, e.ids), want),
    TOL_ALL,
  );
  const f32 = await loadModel(gpu, `${modelsDir}pydoc-neox-20m`, { forceF32: true });
  report(
    `target ${e.prompt} all logits, f32 weights (tiled)`,
    maxAbsDiff(await allLogits(f32, e.ids), want),
    TOL_ALL,
  );
});
