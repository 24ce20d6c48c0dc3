import assert from "node:assert/strict";
import { firstRoundTokens, speculativeMetrics, timingMetrics } from "../profiler/metrics.ts";
import { mean, meanInterval, median, percentile, stat, std } from "../profiler/stats.ts";

const close = (actual: number, expected: number, tol = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} != ${expected}`);

Deno.test("speculativeMetrics: accepted [0,1,3,3], K=3", () => {
  // Rounds produce 1 + 2 + 4 + 4 = 11 tokens; N = 10 truncates the last round by one.
  const m = speculativeMetrics([0, 1, 3, 3], 3, 10);
  assert.equal(m.rounds, 4);
  assert.equal(m.proposedDraftTokens, 12);
  assert.equal(m.acceptedDraftTokens, 7);
  close(m.draftAcceptanceRate, 7 / 12);
  close(m.meanTokensPerRound, 10 / 4);
  assert.equal(m.perPositionAcceptance.length, 3);
  close(m.perPositionAcceptance[0], 3 / 4);
  close(m.perPositionAcceptance[1], 2 / 3);
  close(m.perPositionAcceptance[2], 1);
});

Deno.test("speculativeMetrics: tau at most K+1, rate at most 1", () => {
  const m = speculativeMetrics([4, 4, 4], 4, 15);
  assert.equal(m.draftAcceptanceRate, 1);
  assert.equal(m.meanTokensPerRound, 5);
  assert.deepEqual(m.perPositionAcceptance, [1, 1, 1, 1]);
});

Deno.test("speculativeMetrics: accepted > K throws (acceptance above 1 is impossible)", () => {
  assert.throws(() => speculativeMetrics([0, 4, 1], 3, 5), RangeError);
  assert.throws(() => speculativeMetrics([2, 3], [3, 2], 5), RangeError);
  assert.throws(() => speculativeMetrics([-1], 3, 1), RangeError);
});

Deno.test("speculativeMetrics: emitted beyond what rounds produce throws", () => {
  assert.throws(() => speculativeMetrics([0, 1], 3, 4), RangeError);
  assert.equal(speculativeMetrics([0, 1], 3, 3).meanTokensPerRound, 1.5);
});

Deno.test("speculativeMetrics: per-round K (--k auto)", () => {
  // Round K: 2, 4, 4; accepted 2, 1, 4.
  const m = speculativeMetrics([2, 1, 4], [2, 4, 4], 10);
  assert.equal(m.proposedDraftTokens, 10);
  close(m.draftAcceptanceRate, 7 / 10);
  assert.equal(m.perPositionAcceptance.length, 4);
  // Position 0: reached 3, accepted 3. Position 1: reached 3, accepted 2 (round 1 stops at 1).
  // Position 2: reached only in round 2 (round 0 has K = 2, round 1 rejected at 1): 1/1.
  close(m.perPositionAcceptance[0], 1);
  close(m.perPositionAcceptance[1], 2 / 3);
  close(m.perPositionAcceptance[2], 1);
  close(m.perPositionAcceptance[3], 1);
  assert.throws(() => speculativeMetrics([1, 1], [2], 3), RangeError);
});

Deno.test("speculativeMetrics: unreached positions and no rounds", () => {
  const m = speculativeMetrics([0, 0], 3, 2);
  assert.deepEqual(m.perPositionAcceptance, [0, 0, 0]);
  assert.equal(m.meanTokensPerRound, 1);
  const empty = speculativeMetrics([], 5, 0);
  assert.equal(empty.rounds, 0);
  assert.equal(empty.draftAcceptanceRate, 0);
  assert.equal(empty.meanTokensPerRound, 0);
  assert.equal(empty.perPositionAcceptance.length, 5);
});

Deno.test("timingMetrics: TPOT excludes the prefill token", () => {
  const t = timingMetrics({ ttftMs: 50, decodeMs: 630, newTokens: 64, firstTokens: 1 });
  close(t.tpotMs, 10);
  close(t.throughputTokS, 64 / 0.68);
  assert.equal(t.ttftMs, 50);
});

Deno.test("timingMetrics: one new token", () => {
  const t = timingMetrics({ ttftMs: 20, decodeMs: 0, newTokens: 1, firstTokens: 1 });
  assert.equal(t.tpotMs, 0);
  close(t.throughputTokS, 50);
  assert.throws(
    () => timingMetrics({ ttftMs: -1, decodeMs: 0, newTokens: 1, firstTokens: 1 }),
    RangeError,
  );
});

Deno.test("stat: mean, sample std, min, max, n", () => {
  const s = stat([2, 4, 4, 4, 5, 5, 7, 9]);
  assert.equal(s.mean, 5);
  close(s.std, Math.sqrt(32 / 7));
  assert.equal(s.min, 2);
  assert.equal(s.max, 9);
  assert.equal(s.n, 8);
  assert.deepEqual(stat([3]), { mean: 3, std: 0, min: 3, max: 3, n: 1 });
  assert.deepEqual(stat([]), { mean: 0, std: 0, min: 0, max: 0, n: 0 });
  assert.throws(() => stat([1, NaN]), RangeError);
});

Deno.test("timingMetrics: speculative TPOT divides by the tokens after the first round", () => {
  // Rounds [3, 1, 2], K=3, N=9: the first round (prefill verify) emits 4 tokens, so the 5
  // tokens after it took the decode time, not N - 1 = 8.
  const first = firstRoundTokens([3, 1, 2, 3], 9);
  assert.equal(first, 4);
  const t = timingMetrics({ ttftMs: 40, decodeMs: 100, newTokens: 9, firstTokens: first });
  close(t.tpotMs, 20);
  close(t.throughputTokS, 9 / 0.14);
  assert.equal(firstRoundTokens(undefined, 9), 1);
  assert.equal(firstRoundTokens([12], 9), 9);
  assert.equal(timingMetrics({ ttftMs: 5, decodeMs: 0, newTokens: 9, firstTokens: 9 }).tpotMs, 0);
  assert.throws(
    () => timingMetrics({ ttftMs: 5, decodeMs: 1, newTokens: 9, firstTokens: 10 }),
    RangeError,
  );
});

Deno.test("stats: mean, std, median, percentile, t interval", () => {
  const xs = [4, 1, 3, 2];
  close(mean(xs), 2.5);
  close(std(xs), Math.sqrt(5 / 3));
  close(median(xs), 2.5);
  close(median([3, 1, 2]), 2);
  close(percentile(xs, 0), 1);
  close(percentile(xs, 100), 4);
  close(percentile(xs, 25), 1.75);
  assert.ok(Number.isNaN(mean([])));
  const ci = meanInterval(xs);
  // t(0.975, 3) = 3.182; s / sqrt(4) = sqrt(5/3) / 2.
  close(ci.halfWidth, 3.182 * Math.sqrt(5 / 3) / 2, 1e-9);
  close(ci.relHalfWidth, ci.halfWidth / 2.5, 1e-12);
  assert.equal(meanInterval([1]).halfWidth, Infinity);
});
