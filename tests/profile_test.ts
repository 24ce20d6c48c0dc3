/**
 * The profiler end to end, as a user runs it: the short sweep of the profiler issue on the
 * embedded pair writes a valid results file, a report and a Chrome trace, and every
 * speculative configuration carries its measurements and the three predictions.
 */
import assert from "node:assert/strict";
import { validateResults } from "../report/mod.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("profile: a short real sweep writes results, report and trace", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "neox-profile-" });
  try {
    const [json, html, trace] = ["r.json", "r.html", "t.json"].map((f) => `${tmp}/${f}`);
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "mod.ts",
        "profile",
        ...["--k-values", "3", "5", "--max-new-tokens", "32", "--max-cache-lens", "64"],
        ...["--prompt-types", "medium", "--num-samples", "1", "--trees", "2,1"],
        ...["--output-json", json, "--output-html", html, "--trace", trace],
      ],
      cwd: root,
      env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(600_000),
    }).output();
    const out = new TextDecoder().decode(r.stdout);
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    assert.match(
      out,
      /in-sample accounting \(not predictions\), mean \|error\|: seed .*%, leviathan .*%, refined .*%; best: /,
    );

    const results = validateResults(await Deno.readTextFile(json), json);
    // fp16 and int8 (the default), one sink cache, one prompt type: 2 x (baseline + 2 K +
    // the tree 2,1).
    assert.equal(results.configs.length, 8);
    for (const c of results.configs) {
      assert.equal(c.cache, "sink");
      assert.equal(c.cacheSize, 64);
      assert.ok(c.throughputTokS.mean > 0 && c.tpotMs.mean > 0 && c.ttftMs.mean > 0, c.id);
      assert.ok(c.kvBytes > 0 && c.peakBytes >= c.kvBytes + c.weightBytes, c.id);
      if (c.mode === "baseline") {
        assert.equal(c.measuredSpeedup, 1);
        continue;
      }
      if (c.mode === "tree") {
        assert.equal(c.tree!.nodesPerVerify, 4);
        // The tree's greedy rounds were predicted from the draft's ranks, before it ran.
        assert.equal(c.predicted!.tokensPerRound, c.meanTokensPerRound, c.id);
        continue;
      }
      assert.ok(c.draftAcceptanceRate! >= 0 && c.draftAcceptanceRate! <= 1, c.id);
      assert.ok(c.meanTokensPerRound! >= 1 && c.meanTokensPerRound! <= c.k! + 1, c.id);
      assert.equal(c.perPositionAcceptance!.length, c.k);
      assert.ok(c.tDraftMs! > 0 && c.tVerifyMs! > 0 && c.tTargetMs! > 0, c.id);
      assert.ok(Math.abs(c.c! - c.tDraftMs! / c.tTargetMs!) < 1e-9, c.id);
      assert.ok(c.accounting !== null, c.id);
      // The refined model divides by the measured verify cost instead of one target pass.
      const { seed, leviathan, refined } = c.accounting!;
      for (const p of [seed, leviathan, refined]) {
        assert.ok(Math.abs(p.errorPct - 100 * (p.speedup / c.measuredSpeedup! - 1)) < 1e-6, c.id);
      }
      assert.ok(refined.speedup < leviathan.speedup || c.tVerifyMs! <= c.tTargetMs!, c.id);
    }
    // 64-entry sink cache, prompts of about 20 tokens + 32 new: no eviction yet; the memory
    // series is derived from the policy and levels off at the capacity.
    const sink = results.memory.find((m) => m.cache === "sink")!;
    const entry = sink.points.at(-1)!.kvBytes / 64;
    assert.ok(sink.points.every((p) => p.kvBytes <= 64 * entry));
    assert.equal(results.analytic.summary.length, 3);
    // Predicted before measuring: every configuration, tokens/round exact for greedy.
    const pred = results.predictions!;
    assert.equal(pred.rows.length, results.configs.length);
    assert.ok(results.configs.every((c) => c.predicted && c.predicted.throughputTokS > 0));
    assert.equal(pred.tokensPerRoundMeanAbsPctError, 0);
    assert.equal(pred.trees!.n, 2);
    assert.equal(pred.trees!.tokensPerRoundMeanAbsPctError, 0);
    assert.deepEqual(pred.summary.map((s) => s.model), ["seed", "leviathan", "costAware"]);
    assert.ok(results.timing && results.timing.timerOverflowPasses === 0);
    assert.ok(results.simulator && results.simulator.rows.length === 4);
    // The device profile inside the results (and so inside a shared report) names the models
    // by folder, never by this machine's path.
    assert.ok(!JSON.stringify(results.simulator).includes(root), "a local path in the profile");
    const page0 = await Deno.readTextFile(html);
    assert.ok(!page0.includes(root), "a local path in the report");

    const page = await Deno.readTextFile(html);
    assert.match(page, /^<!doctype html>/i);
    const events = JSON.parse(await Deno.readTextFile(trace)).traceEvents as {
      ph: string;
      ts: number;
      dur?: number;
      args?: { name?: string };
    }[];
    const spans = events.filter((e) => e.ph === "X");
    assert.ok(spans.length > 0 && spans.every((e) => e.ts >= 0 && e.dur! >= 0));
    const names = events.filter((e) => e.ph === "M").map((e) => e.args?.name);
    for (const track of ["cpu-encode", "gpu-draft", "gpu-verify", "gpu-target"]) {
      assert.ok(names.includes(track), `trace track ${track}`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
