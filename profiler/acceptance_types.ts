/**
 * Shim until profiler/acceptance.ts (branch `accept`) is merged: the acceptance file's TYPES
 * as that branch defines them, and a minimal `acceptanceForK`. The integrator replaces this
 * file's body with re-exports from ./acceptance.ts (same names and signatures).
 */
import { speculativeMetrics } from "./metrics.ts";

/** Acceptance measured without speculation (target-only greedy + teacher-forced draft). */
export interface AcceptanceFile {
  schema: "neox-spec/acceptance/1";
  target: string;
  draft: string;
  quant: "fp16" | "int8";
  cache: { kind: "full" } | { kind: "sink"; size: number; sinks: number };
  temperature: number;
  maxNewTokens: number;
  prompts: {
    name: string;
    kind: string;
    promptTokens: number;
    agreement: number[];
    beta?: number[];
  }[];
  byKind: Record<string, {
    alpha: number;
    positions: number;
    iid: {
      meanRunLength: number;
      expectedRunLength: number;
      lag1Autocorrelation: number;
      runsTestZ: number;
    };
    perPositionAcceptance: number[];
    perK: Record<string, {
      rounds: number[];
      tokensPerRound: number;
      draftAcceptanceRate: number;
      perPositionAcceptance: number[];
    }>;
  }>;
}

/**
 * REPLACE with profiler/acceptance.ts. Greedy chain rounds of one prompt from its agreement
 * sequence (agreement[i] = 1 when the teacher-forced draft's argmax equals the target's
 * greedy token i): the first round drafts from the prompt; a round at position p accepts the
 * leading 1s of agreement[p..p+K-1], then p += accepted + 1, until p >= n.
 */
export function greedyRoundsFromAgreement(agreement: readonly number[], k: number, n: number) {
  const rounds: number[] = [];
  for (let p = 0; p < n;) {
    let a = 0;
    while (a < k && agreement[p + a] === 1) a++;
    rounds.push(a);
    p += a + 1;
  }
  return rounds;
}

/**
 * REPLACE with profiler/acceptance.ts. Exact greedy rounds of every prompt at draft length
 * K and N new tokens, and their metrics (profiler/metrics.ts speculativeMetrics).
 */
export function acceptanceForK(
  prompts: { agreement: number[] }[],
  k: number,
  n: number,
): {
  rounds: number[];
  tokensPerRound: number;
  draftAcceptanceRate: number;
  perPositionAcceptance: number[];
} {
  const rounds = prompts.flatMap((p) => greedyRoundsFromAgreement(p.agreement, k, n));
  const m = speculativeMetrics(rounds, k, n * prompts.length);
  return {
    rounds,
    tokensPerRound: m.meanTokensPerRound,
    draftAcceptanceRate: m.draftAcceptanceRate,
    perPositionAcceptance: m.perPositionAcceptance,
  };
}
