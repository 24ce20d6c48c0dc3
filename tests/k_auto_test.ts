/**
 * `--k auto` policies (engine/k_policy.ts): the acceptance estimate, transformers' heuristic,
 * and a simulation that compares the "optimal" policy, the heuristic and fixed K against the
 * best fixed K under Leviathan's model (i.i.d. per-token acceptance a, cost K c + 1 per
 * round), driving the policies exactly as engine/speculative.ts does (first round K = 5,
 * batches of roundsPerDecision rounds).
 */

import assert from "node:assert/strict";
import {
  alphaFromRounds,
  DEFAULT_PRIOR,
  type KAutoOptions,
  nextK,
  roundsPerDecision,
} from "../engine/k_policy.ts";
import { alphaFromTau, leviathanSpeedup, optimalK } from "../profiler/analytic.ts";
import { seededRandom } from "./seeded_random.ts";

Deno.test("alphaFromRounds is alphaFromTau for one K, and handles mixed K", () => {
  const cases: [number[], number][] = [[[0, 1, 3, 3], 3], [[2, 2, 0, 5, 1], 5], [[1, 0, 1], 1]];
  for (const [accepted, k] of cases) {
    const tau = accepted.reduce((s, a) => s + a + 1, 0) / accepted.length;
    const ks = accepted.map(() => k);
    assert.ok(Math.abs(alphaFromRounds(accepted, ks) - alphaFromTau(tau, k)) < 1e-9);
  }
  assert.equal(alphaFromRounds([], []), 0);
  assert.equal(alphaFromRounds([0, 0], [3, 1]), 0);
  assert.equal(alphaFromRounds([3, 1], [3, 1]), 1);
  // Mixed K: the estimate lies between the per-K estimates.
  const mixed = alphaFromRounds([1, 1, 4, 2], [2, 2, 6, 6]);
  const a2 = alphaFromTau(2, 2);
  const a6 = alphaFromTau(4, 6);
  assert.ok(mixed > Math.min(a2, a6) && mixed < Math.max(a2, a6), `${mixed} ${a2} ${a6}`);
  // The prior pulls a single round toward its alpha, less so as rounds accumulate.
  const one = alphaFromRounds([0], [5], DEFAULT_PRIOR);
  const many = alphaFromRounds(new Array(40).fill(0), new Array(40).fill(5), DEFAULT_PRIOR);
  assert.ok(one > 0.3 && many < 0.1 && many > 0, `${one} ${many}`);
  assert.throws(() => alphaFromRounds([1], [1, 2]), RangeError);
});

Deno.test("heuristic: K + 2 after a fully accepted round, K - 1 otherwise, within 1..kMax", () => {
  const h: KAutoOptions = { policy: "heuristic", kMax: 8 };
  assert.equal(nextK(h, [5], [5], 0.1), 7);
  assert.equal(nextK(h, [4], [5], 0.1), 4);
  assert.equal(nextK(h, [0], [1], 0.1), 1);
  assert.equal(nextK(h, [7], [7], 0.1), 8);
  assert.equal(roundsPerDecision(h), 1);
  const o: KAutoOptions = { policy: "optimal", prior: { alpha: 0, rounds: 0, k: 1 } };
  assert.equal(nextK(o, [2, 3], [4, 4], 0.05), optimalK(alphaFromTau(3.5, 4), 0.05));
  assert.equal(roundsPerDecision(o), 4);
});

/** Speedup of one simulated generation of n tokens under policy (or a fixed K). */
function simulate(
  alpha: number,
  c: number,
  n: number,
  policy: KAutoOptions | number,
  seed: number,
): number {
  const rnd = seededRandom(seed);
  const accepted: number[] = [];
  const ks: number[] = [];
  let produced = 0;
  let cost = 0;
  let k = typeof policy === "number" ? policy : 5;
  let untilDecision = 1;
  while (produced < n) {
    if (typeof policy !== "number" && ks.length > 0 && --untilDecision === 0) {
      k = nextK(policy, accepted, ks, c);
      untilDecision = roundsPerDecision(policy);
    }
    let a = 0;
    while (a < k && rnd.uniform() < alpha) a++;
    accepted.push(a);
    ks.push(k);
    produced += a + 1;
    cost += k * c + 1;
  }
  return produced / cost;
}

Deno.test("simulation: the optimal policy tracks the best fixed K and beats the heuristic", () => {
  const policies: Record<string, KAutoOptions | number> = {
    "K=5": 5,
    "heuristic": { policy: "heuristic" },
    "optimal, no prior": { policy: "optimal", prior: { alpha: 0, rounds: 0, k: 1 } },
    "optimal": { policy: "optimal" },
  };
  const names = Object.keys(policies);
  const sums = names.map(() => 0);
  let settings = 0;
  console.log(`N    c     a    best K  ${names.map((s) => s.padStart(19)).join("")}`);
  for (const n of [32, 64, 256]) {
    for (const c of [0.05, 0.2]) {
      for (const alpha of [0.2, 0.4, 0.6, 0.8, 0.9]) {
        let best = 1;
        for (let k = 2; k <= 16; k++) {
          if (leviathanSpeedup(k, alpha, c) > leviathanSpeedup(best, alpha, c)) best = k;
        }
        const bestSpeedup = leviathanSpeedup(best, alpha, c);
        const ratios = names.map((name, i) => {
          let s = 0;
          for (let seed = 0; seed < 100; seed++) s += simulate(alpha, c, n, policies[name], seed);
          const r = s / 100 / bestSpeedup;
          sums[i] += r;
          return r;
        });
        settings++;
        console.log(
          `${String(n).padEnd(4)} ${c.toFixed(2)}  ${alpha.toFixed(1)}  ${
            String(best).padStart(6)
          }  ` +
            ratios.map((r) => r.toFixed(3).padStart(19)).join(""),
        );
      }
    }
  }
  const mean = Object.fromEntries(names.map((name, i) => [name, sums[i] / settings]));
  console.log(
    "mean speedup / best fixed K's:",
    names.map((name) => `${name} ${mean[name].toFixed(3)}`).join(", "),
  );
  assert.ok(mean["optimal"] > 0.98, `optimal ${mean["optimal"]}`);
  assert.ok(mean["optimal"] > mean["heuristic"], "optimal beats the heuristic on average");
  assert.ok(mean["optimal"] > mean["optimal, no prior"], "the prior helps");
  assert.ok(mean["optimal"] > mean["K=5"], "adapting beats a fixed K = 5");
});
