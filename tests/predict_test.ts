/**
 * Out-of-sample predictions: the analytic values against hand-computed numbers on a tiny
 * device profile and acceptance file, exact greedy tokens/round, and predictions that do
 * not move when measurements do.
 */
import assert from "node:assert/strict";
import {
  DEVICE_SCHEMA,
  type DeviceCosts,
  fitPasses,
  passMs,
  speculativeSchedule,
  treeSchedule,
} from "../profiler/cost_model.ts";
import { dynamicTree, staticTree } from "../engine/tree_speculative.ts";
import type { AcceptanceFile } from "../profiler/acceptance.ts";
import { acceptanceForK, greedyRoundsFromAgreement } from "../profiler/acceptance.ts";
import { predictGrid, scorePredictions } from "../profiler/predict.ts";
import type { ConfigResult } from "../profiler/results.ts";
import { stat } from "../profiler/stats.ts";
import { FULL_CACHE } from "../engine/cache_policy.ts";

const close = (actual: number | null, expected: number, tol = 1e-9) =>
  assert.ok(actual !== null && Math.abs(actual - expected) <= tol, `${actual} != ${expected}`);

const fit = (ms: number) => ({
  knots: [{ T: 1, ms }, { T: 64, ms }],
  msPerKey: 0,
  msPerCachedKey: 0,
  fitError: { meanRelPct: 0, maxRelPct: 0, points: 0 },
  points: [],
});

/** Draft passes 1 ms, target passes 10 ms, verify passes 12 ms, whatever T and L; no overheads. */
function device(): DeviceCosts {
  return {
    schema: DEVICE_SCHEMA,
    form: "test",
    description: "test",
    gemvGBs: { f16: 1, f32: 1, int8: 1 },
    gemmGflops: { f16: 1, f32: 1, int8: 1 },
    dispatchMs: 0,
    waitMs: 0,
    models: { target: "t", draft: "d" },
    quant: ["fp16"],
    tickCalibration: null,
    passes: {
      "draft-fp16": fit(1),
      "target-fp16": fit(10),
      "target-fp16-verify": fit(12),
      "draft-fp16-tree": fit(2),
      "target-fp16-tree": fit(20),
    },
    overheads: {
      form: "test",
      passScale: 1,
      perWaitMs: 0,
      perPassMs: 0,
      fitError: { meanRelPct: 0, maxRelPct: 0, points: 0 },
      loops: [],
    },
    fitError: { meanRelPct: 0, maxRelPct: 0, points: 0 },
  };
}

function acceptance(): AcceptanceFile {
  return {
    schema: "neox-spec/acceptance/1",
    target: "t",
    draft: "d",
    quant: "fp16",
    cache: { kind: "full" },
    temperature: 0,
    maxNewTokens: 8,
    prompts: [{ name: "m", kind: "medium", promptTokens: 4, agreement: [1, 1, 0, 1, 1, 1, 0, 0] }],
    byKind: {
      medium: {
        alpha: 0.5,
        positions: 8,
        iid: { meanRunLength: 0, expectedRunLength: 0, lag1Autocorrelation: 0, runsTestZ: 0 },
        perPositionAcceptance: [],
        perK: {},
      },
    },
  };
}

const GRID = {
  kValues: [2],
  maxNewTokens: [6],
  cacheLens: [null],
  promptTypes: ["medium"],
  quant: ["fp16" as const],
};

Deno.test("greedy rounds from agreement: leading 1s, then p += accepted + 1", () => {
  // K=2, N=6: p=0 accepts [1,1] -> 2, p=3 accepts [1,1] -> 2, p=6 stops.
  assert.deepEqual(greedyRoundsFromAgreement([1, 1, 0, 1, 1, 1, 0, 0], 2, 6), [2, 2]);
  // K=3: p=0 accepts 2 (agreement[2] = 0), p=3 accepts 3, p=7 accepts 0.
  assert.deepEqual(greedyRoundsFromAgreement([1, 1, 0, 1, 1, 1, 0, 0], 3, 8), [2, 3, 0]);
  const a = acceptanceForK([{ agreement: [1, 1, 0, 1, 1, 1, 0, 0] }], 3, 8);
  close(a.tokensPerRound, 8 / 3);
  close(a.draftAcceptanceRate, 5 / 9);
});

Deno.test("predict: seed, Leviathan and cost-aware values by hand", () => {
  const rows = predictGrid(device(), [acceptance()], GRID);
  assert.deepEqual(rows.map((r) => r.id), [
    "base-n6-full-fp16-medium",
    "spec-k2-n6-full-fp16-medium",
  ]);
  const [base, spec] = rows;
  // Baseline: prefill of 4 (10 ms) + 5 one-token passes (50 ms) = 60 ms for 6 tokens.
  close(base.throughputTokS, 6 / 0.06);
  // Speculative, rounds [2, 2]: target prefill 3 (10) + draft prefill 4 (1) + 1 draft (1) +
  // verify (12); round 2: 2-token draft (1) + 1 draft (1) + verify (12) = 38 ms.
  close(spec.sampleMs, 38);
  close(spec.throughputTokS, 6 / 0.038);
  close(spec.tokensPerRound, 3);
  close(spec.draftAcceptanceRate, 1);
  close(spec.c, 0.1);
  // seed: (1 + 2 * 1) / (1 + 2 * 0.1) = 2.5.
  close(spec.speedup.seed, 2.5);
  // Leviathan: (1 + 0.5 + 0.25) / (2 * 0.1 + 1) = 1.75 / 1.2.
  close(spec.speedup.leviathan, 1.75 / 1.2);
  // cost-aware: 60 ms / 38 ms.
  close(spec.speedup.costAware, 60 / 38);
});

Deno.test("speculative schedule: passes and waits as the engine runs them", () => {
  // Readback waits of 11 ms (Deno's), so batches may pass the goal.
  const s = speculativeSchedule(4, 6, 2, [2, 2], FULL_CACHE, 11);
  assert.deepEqual(
    s.passes.map((p) =>
      `${p.role}${p.verify ? "-verify" : ""}:${p.T}@${p.L}${p.timed === false ? " untimed" : ""}`
    ),
    [
      "target:3@0 untimed",
      "draft:4@0 untimed",
      "draft:1@4",
      "target-verify:3@3",
      "draft:2@5",
      "draft:1@7",
      "target-verify:3@6",
    ],
  );
  // The first round's read (accept log and tokens), one batch's read.
  assert.equal(s.waits, 2);
  // After a first round of 1 token the batch is min(ceil(5 * 3 / (1 + 2 * 3)), 2 ceil(5 / 3))
  // = 3 rounds (engine/speculative.ts nextBatch); the goal is passed in its second, so its
  // third runs at the length the second left, committing nothing.
  const over = speculativeSchedule(4, 6, 2, [0, 2, 2, 2], FULL_CACHE, 11);
  assert.deepEqual(
    over.passes.filter((p) => p.verify).map((p) => p.L),
    [3, 4, 7, 10],
  );
  assert.equal(over.waits, 2);
  // Waits of 1 ms (a browser's): batches of ceil(remaining / 3) never pass the goal: one of
  // ceil(5 / 3) = 2 rounds reaches it.
  const safe = speculativeSchedule(4, 6, 2, [0, 2, 2, 2], FULL_CACHE, 1);
  assert.deepEqual(safe.passes.filter((p) => p.verify).map((p) => p.L), [3, 4, 7]);
  assert.equal(safe.waits, 2);
});

Deno.test("fitPasses: a staircase in T and a slope in L are fitted exactly", () => {
  const truth = (T: number, L: number) => (T === 1 ? 5 : T <= 4 ? 8 : 13) + (0.05 + 0.01 * T) * L;
  const points = [];
  for (const T of [1, 2, 4, 5, 8]) {
    for (const L of [16, 128]) points.push({ T, L, ms: truth(T, L) });
  }
  const f = fitPasses(points);
  close(f.msPerKey, 0.01);
  close(f.msPerCachedKey, 0.05);
  close(f.fitError.maxRelPct, 0, 1e-9);
  const d = device();
  d.passes["target-fp16"] = f;
  close(passMs(d, "target-fp16", 3, 64), 8 + (0.05 + 0.01 * 3) * 64);
  close(passMs(d, "target-fp16", 7, 0), 13);
  assert.throws(() => passMs(d, "target-int8", 1, 0), RangeError);
});

function measured(id: string, tokS: number, speedup: number, tau: number | null): ConfigResult {
  return {
    id,
    mode: tau === null ? "baseline" : "speculative",
    k: tau === null ? null : 2,
    maxNewTokens: 6,
    cache: "full",
    cacheSize: null,
    quant: "fp16",
    promptType: "medium",
    throughputTokS: stat([tokS]),
    ttftMs: stat([1]),
    tpotMs: stat([1]),
    draftAcceptanceRate: null,
    meanTokensPerRound: tau,
    perPositionAcceptance: null,
    tDraftMs: null,
    tTargetMs: null,
    tVerifyMs: null,
    c: null,
    compressionEvents: 0,
    kvBytes: 0,
    peakBytes: 0,
    weightBytes: 0,
    gpuWaitsPerToken: 0,
    measuredSpeedup: speedup,
    alphaPerToken: null,
    accounting: null,
  };
}

Deno.test("predictions do not read measurements: perturbed measurements leave them unchanged", () => {
  const dev = device();
  const acc = acceptance();
  const rows = predictGrid(dev, [acc], GRID);
  const snapshot = JSON.stringify(rows);
  const run = (scale: number) => {
    const configs = [
      measured("base-n6-full-fp16-medium", 90 * scale, 1, null),
      measured("spec-k2-n6-full-fp16-medium", 150 * scale * scale, 1.6 * scale, 3),
    ];
    return { configs, summary: scorePredictions(rows, configs, { device: "d", acceptance: [] }) };
  };
  const a = run(1);
  const b = run(2); // a "sweep" on a machine twice as fast, with a timer that reads 2x off
  assert.equal(JSON.stringify(rows), snapshot);
  assert.deepEqual(a.configs[1].predicted!.speedup, b.configs[1].predicted!.speedup);
  assert.equal(a.configs[1].predicted!.throughputTokS, b.configs[1].predicted!.throughputTokS);
  assert.notEqual(
    a.configs[1].predicted!.errorPct!.throughputTokS,
    b.configs[1].predicted!.errorPct!.throughputTokS,
  );
  // Predicting again from the same files after the "sweep" gives the same numbers.
  assert.equal(JSON.stringify(predictGrid(dev, [acc], GRID)), snapshot);
  // Exact greedy chain: tokens/round error 0.
  assert.equal(a.summary.tokensPerRoundMeanAbsPctError, 0);
  const cost = a.summary.summary.find((s) => s.model === "costAware")!;
  close(cost.speedupMeanAbsPctError, Math.abs(100 * ((60 / 38) / 1.6 - 1)));
  // The prediction module imports nothing that measures.
  const src = Deno.readTextFileSync(new URL("../profiler/predict.ts", import.meta.url));
  for (const m of ["gpu_timer", "measure", "sweep", "engine/device", "engine/generate"]) {
    assert.ok(!new RegExp(`from "[^"]*${m}`).test(src), `predict.ts imports ${m}`);
  }
});

Deno.test("k auto costs from a device profile: c and the verify ratio", async () => {
  const { kAutoCosts } = await import("../profiler/cost_model.ts");
  const { optimalK } = await import("../profiler/analytic.ts");
  const k = kAutoCosts(device(), "fp16", 32);
  close(k.c, 0.1);
  close(k.verifyCostRatio(3), 1.2);
  // A verify dearer than one target pass favours shorter drafts (or the same K).
  assert.ok(optimalK(0.8, k.c, k.verifyCostRatio, 16) <= optimalK(0.8, k.c, () => 1, 16));
});

Deno.test("fitOverheads: pass scale from in-loop GPU time, then waits and passes", async () => {
  const { fitOverheads } = await import("../profiler/cost_model.ts");
  // Truth: in-loop passes cost 0.5 x the model, 3 ms per wait, 0.2 ms per pass.
  const loop = (model: number, untimed: number, waits: number, passes: number) => ({
    what: "x",
    wallMs: 0.5 * (model + untimed) + 3 * waits + 0.2 * passes,
    timedGpuMs: 0.5 * model,
    timedModelMs: model,
    untimedModelMs: untimed,
    waits,
    passes,
  });
  const o = fitOverheads([loop(100, 0, 2, 24), loop(200, 10, 6, 60), loop(300, 10, 11, 133)]);
  close(o.passScale, 0.5);
  close(o.perWaitMs, 3, 1e-9);
  close(o.perPassMs, 0.2, 1e-9);
  close(o.fitError.maxRelPct, 0, 1e-9);
  // A loop run in a slow spell (everything 1.8x): the median scale and the fit ignore it.
  const slow = loop(150, 0, 4, 40);
  const spell = { ...slow, wallMs: 1.8 * slow.wallMs, timedGpuMs: 1.8 * slow.timedGpuMs };
  const p = fitOverheads([
    loop(100, 0, 2, 24),
    spell,
    loop(200, 10, 6, 60),
    loop(300, 10, 11, 133),
  ]);
  close(p.passScale, 0.5);
  close(p.perWaitMs, 3, 1e-9);
  close(p.perPassMs, 0.2, 1e-9);
  assert.deepEqual(p.loops.map((l) => l.spell ?? false), [false, true, false, false]);
});

Deno.test("fitPasses: a noisy dip in T is pooled away, never a negative slope in L", () => {
  const f = fitPasses([
    { T: 1, L: 16, ms: 10 },
    { T: 2, L: 16, ms: 6 }, // noise: a 2-token pass cannot cost less than a 1-token one
    { T: 4, L: 16, ms: 12 },
    { T: 1, L: 128, ms: 9 },
    { T: 2, L: 128, ms: 6 },
    { T: 4, L: 128, ms: 11 },
  ]);
  assert.equal(f.msPerKey, 0);
  assert.equal(f.msPerCachedKey, 0);
  close(f.knots[0].ms, 7.75);
  close(f.knots[1].ms, 7.75);
  close(f.knots[2].ms, 11.5);
});

Deno.test("predict: a static tree's rounds from draft ranks, priced by the tree pass kinds", () => {
  const acc = acceptance();
  // Ranks of the target's tokens among the draft's candidates; agreement = (rank == 0).
  const ranks = [0, 1, 3, 0, 0, -1, 0, 0];
  acc.prompts[0] = { ...acc.prompts[0], ranks, agreement: ranks.map((r) => (r === 0 ? 1 : 0)) };
  const tree = staticTree([2, 1]);
  // From 0: rank 0 < 2, then rank 1 >= 1: 1 accepted; from 2: rank 3 >= 2: 0; from 3: 0, 0: 2.
  const s = treeSchedule(4, 6, tree, [1, 0, 2], FULL_CACHE);
  assert.deepEqual(
    s.passes.map((p) =>
      `${p.role}${p.tree ? "-tree" : p.verify ? "-verify" : ""}:${p.T}@${p.L}${
        p.timed === false ? " untimed" : ""
      }`
    ),
    [
      "target:3@0 untimed",
      "draft:3@0 untimed",
      "draft:1@3",
      "draft-tree:2@4",
      "target-tree:5@3",
      "draft:2@4",
      "draft-tree:2@6",
      "target-tree:5@5",
      "draft:2@5",
      "draft-tree:2@7",
      "target-tree:5@6",
    ],
  );
  // First round's wait and log read, one batch of two rounds, the tokens and paths reads.
  assert.equal(s.waits, 5);
  const rows = predictGrid(device(), [acc], { ...GRID, trees: [tree, dynamicTree(4)] });
  // The dynamic tree is not predicted: no row.
  assert.deepEqual(rows.map((r) => r.id), [
    "base-n6-full-fp16-medium",
    "spec-k2-n6-full-fp16-medium",
    "tree-2x1-n6-full-fp16-medium",
  ]);
  const t = rows[2];
  // Prefills 10 + 1, then three rounds of root (1) + level (2) + verify (20) = 80 ms.
  close(t.sampleMs, 80);
  close(t.throughputTokS, 6 / 0.08);
  close(t.tokensPerRound, 2);
  close(t.speedup.costAware, 60 / 80);
  assert.equal(t.speedup.seed, null);
  assert.equal(t.mode, "tree");
  // Without ranks the tree cannot be predicted: one clear error.
  acc.prompts[0] = { ...acc.prompts[0], ranks: undefined };
  assert.throws(() => predictGrid(device(), [acc], { ...GRID, trees: [tree] }), /ranks/);
});
