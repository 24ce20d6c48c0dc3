/**
 * Greedy speculative decoding against the goldens: every run of speculative.json (rounds
 * and tokens exactly, the first round drafting from the prompt), and for the remaining
 * K in 1..9 the output equals the target's golden greedy continuation on every prompt.
 */
import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import { type PassOptions, Sequence } from "../engine/model.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import { readbackCost } from "../engine/device.ts";
import type { PassName } from "../engine/hooks.ts";
import { FULL_CACHE } from "../engine/cache_policy.ts";
import { speculativeSchedule } from "../profiler/cost_model.ts";
import { modelsDir, readGolden } from "./goldens.ts";

interface SpecRun {
  prompt: string;
  K: number;
  n_new: number;
  tokens: number[];
  accepted_per_round: number[];
}
interface TargetGolden {
  prompts: { name: string; ids: number[] }[];
  entries: { prompt: string; greedy_128: number[] }[];
}

const gpu = await getGpu();
const target = await loadModel(gpu, `${modelsDir}pydoc-neox-20m`);
const draft = await loadModel(gpu, `${modelsDir}pydoc-neox-2.5m`);
const golden = await readGolden<TargetGolden>("target.json");
const spec = await readGolden<{ runs: SpecRun[] }>("speculative.json");
const idsOf = (name: string) => golden.prompts.find((p) => p.name === name)!.ids;
const greedyOf = (name: string) => golden.entries.find((e) => e.prompt === name)!.greedy_128;

Deno.test("speculative.json: every golden run's rounds and tokens reproduced", async () => {
  for (const run of spec.runs) {
    const r = await speculativeGenerate(target, draft, idsOf(run.prompt), {
      k: run.K,
      maxNewTokens: run.n_new,
    });
    const what = `${run.prompt} K=${run.K}`;
    assert.deepEqual(r.rounds, run.accepted_per_round, `${what}: accepted per round`);
    assert.deepEqual(r.tokens, run.tokens, `${what}: tokens`);
    assert.deepEqual(r.tokens, greedyOf(run.prompt).slice(0, run.n_new), `${what}: = greedy`);
  }
});

Deno.test("greedy speculative output equals target greedy for K = 1..9 on every prompt", async () => {
  const covered = new Set(spec.runs.map((r) => `${r.prompt}/${r.K}`));
  const n = 48;
  for (const p of golden.prompts) {
    for (let k = 1; k <= 9; k++) {
      if (covered.has(`${p.name}/${k}`)) continue;
      const r = await speculativeGenerate(target, draft, p.ids, { k, maxNewTokens: n });
      assert.deepEqual(r.tokens, greedyOf(p.name).slice(0, n), `${p.name} K=${k}`);
      assert.ok(r.rounds.every((a) => a >= 0 && a <= k), `${p.name} K=${k}: rounds`);
    }
  }
});

Deno.test("the loop runs the passes and waits the cost model schedules, past the goal too", async () => {
  // Batches may pass the goal (engine/speculative.ts nextBatch): those rounds run their passes
  // and commit nothing. profiler/cost_model.ts prices the same rounds from the real ones.
  let overshot = 0;
  // The engine passes the goal only where a readback wait costs enough (Deno: ~11 ms).
  const waitMs = await readbackCost(gpu);
  for (const p of golden.prompts) {
    for (const k of [1, 3, 6]) {
      const names: PassName[] = [];
      const hook = { pass: (name: PassName) => (names.push(name), { label: name }) };
      const n = 40;
      const r = await speculativeGenerate(target, draft, p.ids, { k, maxNewTokens: n, hook });
      assert.deepEqual(r.tokens, greedyOf(p.name).slice(0, n), `${p.name} K=${k}`);
      assert.equal(r.rounds.length, r.kPerRound.length);
      assert(r.rounds.reduce((s, a) => s + a + 1, 0) >= n, "the rounds reach the goal");
      const s = speculativeSchedule(p.ids.length, n, k, r.rounds, FULL_CACHE, waitMs);
      const timed = s.passes.filter((x) => x.timed !== false);
      const what = `${p.name} K=${k}`;
      assert.equal(
        names.filter((x) => x === "verify").length,
        timed.filter((x) => x.verify).length,
        what,
      );
      assert.equal(
        names.filter((x) => x === "draft").length,
        timed.filter((x) => !x.verify).length,
        what,
      );
      assert.equal(r.gpuWaits, s.waits, `${what}: waits`);
      overshot += names.filter((x) => x === "verify").length - r.rounds.length;
    }
  }
  console.log(`rounds encoded past the goal, all runs: ${overshot}`);
});

Deno.test("each batch of rounds tells its passes about the keys they attend", async () => {
  // The attention kernel is chosen per cache length (engine/autotune.ts tunedAttention): the
  // loop tells the draft and verify passes the prompt plus what was produced before the batch.
  const ids = idsOf(golden.prompts[0].name);
  const told: { T: number; cacheLen?: number }[] = [];
  const plan = Sequence.prototype.plan;
  Sequence.prototype.plan = function (this: Sequence, T: number, o: PassOptions) {
    if (!o.tree) told.push({ T, cacheLen: o.cacheLen });
    return plan.call(this, T, o);
  };
  try {
    const r = await speculativeGenerate(target, draft, ids, { k: 3, maxNewTokens: 160 });
    assert.equal(r.tokens.length, 160);
  } finally {
    Sequence.prototype.plan = plan;
  }
  const verify = told.filter((t) => t.T === 4);
  assert(verify.length >= 160 / 4, `${verify.length} verify passes`);
  // The first round (prefill and the prompt's drafts) runs before any is produced.
  const later = verify.slice(1).map((t) => t.cacheLen);
  assert(
    later.every((c) => c !== undefined && c > ids.length),
    `${later}`,
  );
  // Rounds later in a batch are told more keys: a batch of 160 tokens crosses from the
  // kernels measured at 64 keys to those at 256 (nearestTuneLength).
  assert(
    later.every((c) => c! <= ids.length + 160 + 3) && later.some((c) => c! > 128),
    `hints ${later}`,
  );
  assert(later.every((c, i) => i === 0 || c! >= later[i - 1]!), "and never shrinks");
});
