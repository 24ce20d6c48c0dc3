/**
 * The speculative-decoding math the engine itself needs (`--k auto` picks K with it) and the
 * profiler's analytic models build on (profiler/analytic.ts re-exports it).
 *
 * Notation: K = draft length, a = acceptance probability, c = T_draft / T_target (one token
 * each), verifyRatio = T_verify(K + 1 tokens) / T_target(1 token).
 */

/** Throws unless K is an integer >= 0. */
export function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`K must be an integer >= 0, got ${k}`);
}

/** Throws unless `a` is a probability. */
export function checkProbability(a: number, what: string): void {
  if (!(a >= 0 && a <= 1)) throw new RangeError(`${what} must be in [0, 1], got ${a}`);
}

/** The seed's published formula: (1 + K a) / (1 + K c). */
export function seedSpeedup(k: number, alpha: number, c: number): number {
  checkK(k);
  return (1 + k * alpha) / (1 + k * c);
}

/**
 * Leviathan's expected tokens per round, (1 - a^(K+1)) / (1 - a), computed as the sum
 * 1 + a + ... + a^K so that it is exact at a = 1 (where it equals K + 1).
 */
export function leviathanTokensPerRound(alpha: number, k: number): number {
  checkK(k);
  checkProbability(alpha, "alpha");
  let sum = 0;
  let power = 1;
  for (let i = 0; i <= k; i++) {
    sum += power;
    power *= alpha;
  }
  return sum;
}

/** Leviathan's speedup: E[tokens/round] / (K c + 1). */
export function leviathanSpeedup(k: number, alpha: number, c: number): number {
  return leviathanTokensPerRound(alpha, k) / (k * c + 1);
}

/** Refined speedup: E[tokens/round] / (K c + T_verify(K+1 tokens) / T_target(1 token)). */
export function refinedSpeedup(k: number, alpha: number, c: number, verifyRatio: number): number {
  return leviathanTokensPerRound(alpha, k) / (k * c + verifyRatio);
}

/**
 * The per-token acceptance estimate that makes Leviathan's E[tokens/round] match a measured
 * tau: solves (1 - a^(K+1)) / (1 - a) = tau for a in [0, 1] by bisection (E is monotone in a).
 * tau is clamped to [1, K + 1] first, so tau = 1 gives 0 and tau = K + 1 gives 1.
 */
export function alphaFromTau(tau: number, k: number): number {
  checkK(k);
  if (Number.isNaN(tau)) throw new RangeError("tau is NaN");
  const target = Math.min(Math.max(tau, 1), k + 1);
  if (k === 0 || target <= 1) return 0;
  if (target >= k + 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (leviathanTokensPerRound(mid, k) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The draft length K in 1..kMax that maximizes the expected speedup
 * E[tokens/round](alpha, K) / (K c + verifyCostRatio(K)), used by `--k auto`.
 *
 * @param verifyCostRatio K -> T_verify(K + 1 tokens) / T_target(1 token); the default
 *   (always 1) is Leviathan's model, a measured ratio gives the refined model.
 * @returns the smallest K among equally good ones.
 */
export function optimalK(
  alpha: number,
  c: number,
  verifyCostRatio: (k: number) => number = () => 1,
  kMax = 16,
): number {
  checkProbability(alpha, "alpha");
  if (!Number.isInteger(kMax) || kMax < 1) {
    throw new RangeError(`kMax must be an integer >= 1, got ${kMax}`);
  }
  let bestK = 1;
  let bestSpeedup = -Infinity;
  for (let k = 1; k <= kMax; k++) {
    const speedup = refinedSpeedup(k, alpha, c, verifyCostRatio(k));
    if (speedup > bestSpeedup * (1 + 1e-12)) {
      bestSpeedup = speedup;
      bestK = k;
    }
  }
  return bestK;
}
