import assert from "node:assert/strict";
import {
  accountConfig,
  ALPHA_NOTE,
  alphaFromTau,
  leviathanSpeedup,
  leviathanTokensPerRound,
  optimalK,
  predictSpeedups,
  refinedSpeedup,
  seedSpeedup,
  summarizeAccounting,
} from "../profiler/analytic.ts";
import type { ConfigResult } from "../profiler/results.ts";

const close = (actual: number, expected: number, tol = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} != ${expected}`);

Deno.test("Leviathan E[tokens/round] on hand-computed values", () => {
  close(leviathanTokensPerRound(0.8, 4), (1 - 0.8 ** 5) / 0.2);
  close(leviathanTokensPerRound(0.8, 4), 3.3616);
  assert.equal(leviathanTokensPerRound(1, 4), 5);
  assert.equal(leviathanTokensPerRound(0, 4), 1);
  close(leviathanSpeedup(4, 0.8, 0.1), 3.3616 / 1.4);
  close(refinedSpeedup(4, 0.8, 0.1, 1.2), 3.3616 / 1.6);
});

Deno.test("seed formula as published", () => {
  close(seedSpeedup(4, 0.8, 0.1), (1 + 3.2) / (1 + 0.4));
  close(seedSpeedup(4, 0.8, 0.05), 4.2 / 1.2);
});

Deno.test("alphaFromTau round trip and clamping", () => {
  for (const k of [1, 3, 5, 9]) {
    for (const a of [0.05, 0.3, 0.5, 0.8, 0.99]) {
      close(alphaFromTau(leviathanTokensPerRound(a, k), k), a, 1e-9);
    }
  }
  close(alphaFromTau(3.3616, 4), 0.8);
  assert.equal(alphaFromTau(0.5, 4), 0);
  assert.equal(alphaFromTau(1, 4), 0);
  assert.equal(alphaFromTau(5, 4), 1);
  assert.equal(alphaFromTau(7, 4), 1);
});

Deno.test("predictSpeedups: errors against the measured speedup", () => {
  const p = predictSpeedups({
    k: 4,
    alpha: 0.8,
    draftAcceptanceRate: 0.7,
    c: 0.1,
    verifyRatio: 1.2,
    measuredSpeedup: 2,
  });
  close(p.seed.speedup, (1 + 2.8) / 1.4);
  close(p.leviathan.speedup, 3.3616 / 1.4);
  close(p.refined.speedup, 3.3616 / 1.6);
  close(p.refined.errorPct, (100 * (3.3616 / 1.6 - 2)) / 2);
  // Without a separate rate the seed formula uses alpha.
  const q = predictSpeedups({ k: 4, alpha: 0.8, c: 0.1, verifyRatio: 1, measuredSpeedup: 3 });
  close(q.seed.speedup, 4.2 / 1.4);
  close(q.seed.errorPct, 0);
  assert.throws(
    () => predictSpeedups({ k: 4, alpha: 0.8, c: 0.1, verifyRatio: 1, measuredSpeedup: 0 }),
    RangeError,
  );
});

function config(overrides: Partial<ConfigResult>): ConfigResult {
  const s = { mean: 1, std: 0, min: 1, max: 1, n: 1 };
  return {
    id: "x",
    mode: "speculative",
    k: 4,
    maxNewTokens: 64,
    cache: "full",
    cacheSize: null,
    quant: "fp16",
    promptType: "medium",
    throughputTokS: s,
    ttftMs: s,
    tpotMs: s,
    draftAcceptanceRate: 0.7,
    meanTokensPerRound: 3.3616,
    perPositionAcceptance: null,
    tDraftMs: 1,
    tTargetMs: 10,
    tVerifyMs: 12,
    c: 0.1,
    compressionEvents: 0,
    kvBytes: 0,
    peakBytes: 0,
    weightBytes: 0,
    gpuWaitsPerToken: 1,
    measuredSpeedup: 2,
    alphaPerToken: null,
    accounting: null,
    ...overrides,
  };
}

Deno.test("accountConfig uses alphaFromTau and the measured verify ratio", () => {
  const r = accountConfig(config({}));
  assert.ok(r !== null);
  close(r.alphaPerToken, 0.8);
  close(r.accounting.refined.speedup, 3.3616 / 1.6);
  close(r.accounting.seed.speedup, 3.8 / 1.4);
  assert.equal(accountConfig(config({ mode: "baseline", k: null })), null);
  assert.equal(accountConfig(config({ measuredSpeedup: null })), null);
});

Deno.test("summarizeAccounting: mean absolute error and best model", () => {
  const pred = (seed: number, lev: number, ref: number) => ({
    seed: { speedup: 1, errorPct: seed },
    leviathan: { speedup: 1, errorPct: lev },
    refined: { speedup: 1, errorPct: ref },
  });
  const a = summarizeAccounting([
    config({ accounting: pred(10, -20, 4) }),
    config({ accounting: pred(-30, 10, -2) }),
    config({ mode: "baseline", k: null, accounting: null }),
  ]);
  assert.deepEqual(a.summary, [
    { model: "seed", meanAbsPctError: 20 },
    { model: "leviathan", meanAbsPctError: 15 },
    { model: "refined", meanAbsPctError: 3 },
  ]);
  assert.equal(a.best, "refined");
  assert.equal(a.alphaNote, ALPHA_NOTE);
  assert.match(a.alphaNote, /draft acceptance rate/);
  const none = summarizeAccounting([config({ accounting: null })]);
  assert.deepEqual(none.summary, []);
  assert.equal(none.best, "none");
});

Deno.test("optimalK sanity", () => {
  // Perfect acceptance and a free draft: longest K wins.
  assert.equal(optimalK(1, 0, () => 1, 16), 16);
  // Useless draft: the shortest K.
  assert.equal(optimalK(0, 0.1), 1);
  // Brute force against the Leviathan model.
  let best = 1;
  for (let k = 1; k <= 16; k++) {
    if (leviathanSpeedup(k, 0.8, 0.05) > leviathanSpeedup(best, 0.8, 0.05)) best = k;
  }
  assert.equal(optimalK(0.8, 0.05), best);
  // A verify cost growing with K makes K shorter.
  assert.ok(optimalK(0.8, 0.05, (k) => 1 + 0.1 * k) < best);
  // Higher acceptance never asks for a shorter K.
  assert.ok(optimalK(0.9, 0.05) >= optimalK(0.7, 0.05));
});
