/**
 * Analytic models of the speculative-decoding speedup, checked against measurement.
 *
 * Notation: K = draft length, a = acceptance probability, c = T_draft / T_target (one token
 * each), verifyRatio = T_verify(K + 1 tokens) / T_target(1 token).
 *
 * - Seed formula (as published): (1 + K a) / (1 + K c).
 * - Leviathan et al.: E[tokens/round] = (1 - a^(K+1)) / (1 - a); speedup = E / (K c + 1).
 * - Refined: E / (K c + verifyRatio), i.e. Leviathan with the measured verify cost.
 *
 * In a results file these are an ACCOUNTING of a measured run, not predictions: every input
 * (alpha solved from the run's tau, the run's own pass times) comes from the run itself, so
 * no formula can fail here. Out-of-sample predictions are profiler/predict.ts.
 *
 * Which "a" each model uses (see {@link ALPHA_NOTE}): the seed formula is evaluated as
 * published with a = the measured draft acceptance rate (accepted / proposed draft tokens);
 * Leviathan and refined use the per-token acceptance {@link alphaFromTau} that makes
 * Leviathan's E[tokens/round] equal the measured mean tokens per round tau.
 */

import type { ConfigResult, Prediction, ResultsFile } from "./results.ts";
import {
  alphaFromTau,
  checkProbability,
  leviathanSpeedup,
  refinedSpeedup,
  seedSpeedup,
} from "../engine/speculative_math.ts";
import { mean } from "./stats.ts";

export {
  alphaFromTau,
  leviathanSpeedup,
  leviathanTokensPerRound,
  optimalK,
  refinedSpeedup,
  seedSpeedup,
} from "../engine/speculative_math.ts";

/** Inputs of {@link predictSpeedups} for one speculative configuration. */
export interface PredictionInput {
  /** Draft length K. */
  k: number;
  /** Per-token acceptance for Leviathan and refined (normally {@link alphaFromTau}). */
  alpha: number;
  /** Measured draft acceptance rate for the seed formula; defaults to `alpha`. */
  draftAcceptanceRate?: number;
  /** T_draft / T_target, one token each. */
  c: number;
  /** T_verify(K + 1 tokens) / T_target(1 token). */
  verifyRatio: number;
  /** Measured throughput / baseline throughput (must be > 0). */
  measuredSpeedup: number;
}

/** The three analytic predictions of one configuration (the `predictions` of ConfigResult). */
export interface SpeedupPredictions {
  /** Seed formula with a = measured draft acceptance rate. */
  seed: Prediction;
  /** Leviathan with a = alphaFromTau(tau, K). */
  leviathan: Prediction;
  /** Leviathan with the measured verify cost, a = alphaFromTau(tau, K). */
  refined: Prediction;
}

/**
 * Predicts the speedup with each analytic model and its error against the measured one,
 * errorPct = 100 * (predicted - measured) / measured.
 */
export function predictSpeedups(input: PredictionInput): SpeedupPredictions {
  const { k, alpha, c, verifyRatio, measuredSpeedup } = input;
  const draftAcceptanceRate = input.draftAcceptanceRate ?? alpha;
  checkProbability(draftAcceptanceRate, "draft acceptance rate");
  if (!(measuredSpeedup > 0) || !Number.isFinite(measuredSpeedup)) {
    throw new RangeError(`measured speedup must be finite and > 0, got ${measuredSpeedup}`);
  }
  const predict = (speedup: number): Prediction => ({
    speedup,
    errorPct: (100 * (speedup - measuredSpeedup)) / measuredSpeedup,
  });
  return {
    seed: predict(seedSpeedup(k, draftAcceptanceRate, c)),
    leviathan: predict(leviathanSpeedup(k, alpha, c)),
    refined: predict(refinedSpeedup(k, alpha, c, verifyRatio)),
  };
}

/**
 * alphaPerToken and the in-sample accounting of one measured configuration, or null when it is a baseline
 * or lacks a needed measurement (K, tau, acceptance rate, c, tVerifyMs, tTargetMs, speedup).
 */
export function accountConfig(
  config: ConfigResult,
): { alphaPerToken: number; accounting: SpeedupPredictions } | null {
  const { k, meanTokensPerRound, draftAcceptanceRate, c, tVerifyMs, tTargetMs, measuredSpeedup } =
    config;
  if (
    config.mode !== "speculative" || k === null || meanTokensPerRound === null ||
    draftAcceptanceRate === null || c === null || tVerifyMs === null || tTargetMs === null ||
    !(tTargetMs > 0) || measuredSpeedup === null || !(measuredSpeedup > 0)
  ) {
    return null;
  }
  const alphaPerToken = alphaFromTau(meanTokensPerRound, k);
  const accounting = predictSpeedups({
    k,
    alpha: alphaPerToken,
    draftAcceptanceRate,
    c,
    verifyRatio: tVerifyMs / tTargetMs,
    measuredSpeedup,
  });
  return { alphaPerToken, accounting };
}

/** How alphaPerToken is estimated and which "a" each model uses (the results' alphaNote). */
export const ALPHA_NOTE: string =
  "alphaPerToken is the per-token acceptance a that makes Leviathan's " +
  "E[tokens/round] = (1 - a^(K+1)) / (1 - a) equal the measured mean tokens per round tau " +
  "(emitted tokens / rounds, bonus included, clamped to [1, K+1]), solved by bisection. " +
  "Leviathan (E / (K c + 1)) and refined (E / (K c + T_verify(K+1) / T_target(1))) use it. " +
  "The seed formula (1 + K a) / (1 + K c) is evaluated as published, with a = the measured " +
  "draft acceptance rate (accepted / proposed draft tokens); with a fixed K and no " +
  "truncation its numerator 1 + K a equals tau, so it equals the Leviathan prediction up " +
  "to the tokens dropped by truncation to N; only the refined model adds the verify cost.";

/**
 * The `analytic` object of a results file (the in-sample accounting view): mean absolute %
 * error of each formula over the configurations that carry an accounting, the best (lowest error) model, and the alpha note.
 * With no accounting at all, summary is empty and best is "none".
 */
export function summarizeAccounting(configs: readonly ConfigResult[]): ResultsFile["analytic"] {
  const models = ["seed", "leviathan", "refined"] as const;
  const summary: ResultsFile["analytic"]["summary"] = [];
  for (const model of models) {
    const errors = configs
      .filter((cfg) => cfg.accounting !== null)
      .map((cfg) => Math.abs(cfg.accounting![model].errorPct))
      .filter((e) => Number.isFinite(e));
    if (errors.length === 0) continue;
    const meanAbsPctError = mean(errors);
    summary.push({ model, meanAbsPctError });
  }
  let best = "none";
  let bestError = Infinity;
  for (const entry of summary) {
    if (entry.meanAbsPctError < bestError) {
      bestError = entry.meanAbsPctError;
      best = entry.model;
    }
  }
  return { summary, best, alphaNote: ALPHA_NOTE };
}
