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

/**
 * REPLACE with measureAcceptance of profiler/acceptance.ts. A minimal greedy acceptance
 * measurement without speculation, so `deno task profile` can predict before the merge:
 * target-only greedy decoding of n + kMax tokens, then the draft teacher-forced on prompt +
 * those tokens in one all-logits pass; agreement[i] = 1 when the draft's argmax before new
 * token i equals it. Full-cache draft logits: exact for a sink cache only while prompt +
 * n + kMax stays within its size (the default sweep's 128 does).
 */
export async function measureAgreementShim(
  target: import("../engine/model.ts").NeoxModel,
  draft: import("../engine/model.ts").NeoxModel,
  o: {
    prompts: { name: string; kind: string; ids: number[] }[];
    maxNewTokens: number;
    kMax: number;
    quant: "fp16" | "int8";
    cache: AcceptanceFile["cache"];
  },
): Promise<AcceptanceFile> {
  const { greedyGenerate, allLogits } = await import("../engine/generate.ts");
  const n = o.maxNewTokens + o.kMax;
  const prompts: AcceptanceFile["prompts"] = [];
  for (const p of o.prompts) {
    const { tokens } = await greedyGenerate(target, p.ids, n);
    const ids = [...p.ids, ...tokens];
    const logits = await allLogits(draft, ids.slice(0, -1));
    const V = draft.cfg.vocabSize;
    const agreement = tokens.map((t, i) => {
      const row = p.ids.length - 1 + i;
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[row * V + v] > logits[row * V + best]) best = v;
      return best === t ? 1 : 0;
    });
    prompts.push({ name: p.name, kind: p.kind, promptTokens: p.ids.length, agreement });
  }
  const byKind: AcceptanceFile["byKind"] = {};
  for (const kind of new Set(prompts.map((p) => p.kind))) {
    const ag = prompts.filter((p) => p.kind === kind).flatMap((p) => p.agreement);
    byKind[kind] = {
      alpha: ag.reduce((s, x) => s + x, 0) / ag.length,
      positions: ag.length,
      iid: { meanRunLength: 0, expectedRunLength: 0, lag1Autocorrelation: 0, runsTestZ: 0 },
      perPositionAcceptance: [],
      perK: {},
    };
  }
  return {
    schema: "neox-spec/acceptance/1",
    target: target.source,
    draft: draft.source,
    quant: o.quant,
    cache: o.cache,
    temperature: 0,
    maxNewTokens: o.maxNewTokens,
    prompts,
    byKind,
  };
}
