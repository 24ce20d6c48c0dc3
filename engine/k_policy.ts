/**
 * `--k auto`: the draft length K chosen between batches of speculative rounds.
 *
 * - "optimal": estimate the per-token acceptance a from the rounds so far (the a that makes
 *   Leviathan's expected tokens per round match the measured ones, i.e. alphaFromTau,
 *   generalized to rounds of different K, with a weak prior: two pseudo-rounds of K = 4 at
 *   a = 0.7) and take the K that maximizes Leviathan's expected speedup
 *   E[tokens/round](a, K) / (K c + verify cost) (profiler/analytic.ts optimalK), with
 *   c = T_draft / T_target. In a simulation over 30 (a, c, N) settings the prior lifts the
 *   mean speedup from 0.98 to 1.00 of the best fixed K's (tests/k_auto_test.ts).
 * - "heuristic": transformers' assisted-generation schedule, K + 2 after a round that
 *   accepted every draft token, K - 1 (at least 1) otherwise; it reacts to every round,
 *   so each round is its own batch (one GPU wait per round).
 */
import { leviathanTokensPerRound, optimalK } from "./speculative_math.ts";

/** How `--k auto` picks K. */
export interface KAutoOptions {
  policy: "optimal" | "heuristic";
  /** T_draft / T_target for one token; default: draft parameters / target parameters. */
  c?: number;
  /** Largest K (default 16). */
  kMax?: number;
  /** "optimal" only: rounds encoded between two decisions (default 4). */
  roundsPerDecision?: number;
  /** "optimal" only: K -> T_verify(K + 1 tokens) / T_target(1 token); default 1 (Leviathan). */
  verifyCostRatio?: (k: number) => number;
  /** "optimal" only: pseudo-rounds added to the estimate (default {@link DEFAULT_PRIOR}). */
  prior?: AlphaPrior;
}

/** Pseudo-observations for the acceptance estimate: `rounds` rounds of K = k at acceptance a. */
export interface AlphaPrior {
  alpha: number;
  rounds: number;
  k: number;
}

/** The default prior of the "optimal" policy: two rounds of K = 4 at a = 0.7. */
export const DEFAULT_PRIOR: AlphaPrior = { alpha: 0.7, rounds: 2, k: 4 };

/**
 * Per-token acceptance a from rounds of possibly different K: the solution of
 * sum_r E[tokens/round](a, K_r) = sum_r (accepted_r + 1) (bisection; E is increasing in a).
 * With one K for all rounds this is alphaFromTau(tau, K); 0 with no rounds. A prior adds its
 * pseudo-rounds' expected tokens to both sides.
 */
export function alphaFromRounds(
  accepted: readonly number[],
  kPerRound: readonly number[],
  prior?: AlphaPrior,
): number {
  if (accepted.length !== kPerRound.length) {
    throw new RangeError(`${accepted.length} rounds but ${kPerRound.length} K values`);
  }
  const w = prior?.rounds ?? 0;
  const priorTokens = (a: number) => (prior && w > 0 ? w * leviathanTokensPerRound(a, prior.k) : 0);
  let emitted = priorTokens(prior?.alpha ?? 0);
  let least = w;
  let most = prior && w > 0 ? w * (prior.k + 1) : 0;
  for (let r = 0; r < accepted.length; r++) {
    emitted += Math.min(accepted[r], kPerRound[r]) + 1;
    least += 1;
    most += kPerRound[r] + 1;
  }
  if (least === 0 || emitted <= least) return 0;
  if (emitted >= most) return 1;
  const expected = (a: number) =>
    kPerRound.reduce((s, k) => s + leviathanTokensPerRound(a, k), priorTokens(a));
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 100 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (expected(mid) < emitted) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The K of the next batch of rounds given all rounds so far (at least one). */
export function nextK(
  o: KAutoOptions,
  accepted: readonly number[],
  kPerRound: readonly number[],
  c: number,
): number {
  const kMax = o.kMax ?? 16;
  const last = kPerRound[kPerRound.length - 1];
  if (o.policy === "heuristic") {
    const full = accepted[accepted.length - 1] >= last;
    return Math.min(kMax, full ? last + 2 : Math.max(1, last - 1));
  }
  const alpha = alphaFromRounds(accepted, kPerRound, o.prior ?? DEFAULT_PRIOR);
  return optimalK(alpha, c, o.verifyCostRatio, kMax);
}

/** Rounds encoded before the next K decision. */
export function roundsPerDecision(o: KAutoOptions): number {
  return o.policy === "heuristic" ? 1 : Math.max(1, o.roundsPerDecision ?? 4);
}
