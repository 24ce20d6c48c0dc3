import assert from "node:assert/strict";
import { replayCounts } from "../profiler/sweep.ts";
import { leviathanTokensPerRound } from "../profiler/analytic.ts";
import { speculativeMetrics } from "../profiler/metrics.ts";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import { modelsDir } from "./goldens.ts";

Deno.test("replayCounts: tokens per round match Leviathan's E at the chosen alpha", () => {
  for (const alpha of [0.3, 0.6, 0.8, 0.95]) {
    for (const k of [1, 3, 7]) {
      const counts = replayCounts(alpha, k, 20000, 7);
      assert.ok(counts.every((a) => Number.isInteger(a) && a >= 0 && a <= k));
      const emitted = counts.reduce((s, a) => s + a + 1, 0);
      const tau = speculativeMetrics(counts, k, emitted).meanTokensPerRound;
      const want = leviathanTokensPerRound(alpha, k);
      assert.ok(Math.abs(tau - want) < 0.03 * want, `alpha ${alpha} K ${k}: tau ${tau} vs ${want}`);
    }
  }
  assert.deepEqual(replayCounts(0.8, 3, 50, 1), replayCounts(0.8, 3, 50, 1));
  assert.notDeepEqual(replayCounts(0.8, 3, 50, 1), replayCounts(0.8, 3, 50, 2));
});

Deno.test("acceptance replay: the GPU accept kernel follows the trace, capped at K", async () => {
  const gpu = await getGpu();
  const target = await loadModel(gpu, `${modelsDir}pydoc-neox-20m`);
  const draft = await loadModel(gpu, `${modelsDir}pydoc-neox-2.5m`);
  const ids = [631, 7222, 64, 2594, 626, 9, 275, 78];
  const trace = [0, 2, 5, 1, 3];
  const k = 3;
  const r = await speculativeGenerate(target, draft, ids, { k, maxNewTokens: 24, replay: trace });
  const want = r.rounds.map((_, i) => Math.min(k, trace[i % trace.length]));
  assert.deepEqual(r.rounds, want);
  assert.equal(r.rounds.reduce((s, a) => s + a + 1, 0) >= 24, true);
  assert.equal(r.tokens.length, 24);
});
