/**
 * Acceptance measured apart from speculation (DESIGN.md, "What counts as a prediction"):
 * the target alone generates N tokens, then ONE teacher-forced draft pass over prompt +
 * those tokens gives the draft's prediction at every new position. Greedy: agreement[j] = 1
 * when the draft's argmax, given the target's tokens before j, is the target's token j;
 * the exact rounds of a greedy speculative run of any K follow from agreement alone,
 * because a greedy run's draft always sees the target's own tokens. Sampling: beta[j] =
 * sum_x min(p_j(x), q_j(x)), Leviathan's acceptance probability at that position.
 *
 * No file I/O here (cli/acceptance.ts writes the file), so the library runs in a browser.
 */
import type { Gpu } from "../engine/device.ts";
import { readBuffer } from "../engine/device.ts";
import { NeoxError } from "../engine/errors.ts";
import { greedyGenerate, PREFILL_CHUNK, SINK_PREFILL_CHUNK } from "../engine/generate.ts";
import { type CachePolicy, checkCachePolicy, sinkCacheSlots } from "../engine/cache_policy.ts";
import { type AcceptanceSummary, modelName } from "./results.ts";
import type { NeoxModel } from "../engine/model.ts";
import { samplingProbs } from "../engine/sampling.ts";
import { checkPair } from "../engine/speculative.ts";
import type { TextCodec } from "../engine/tokenizer.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { speculativeMetrics } from "./metrics.ts";
import { argmax } from "./quality.ts";

/** Schema tag of an acceptance file. */
export const ACCEPTANCE_SCHEMA = "neox-spec/acceptance/1";

/** What a greedy chain of one K makes of the agreement (rounds of every prompt of a kind). */
export interface KAcceptance {
  /** Accepted drafts per round, concatenated over the kind's prompts in prompt order. */
  rounds: number[];
  /** Emitted tokens / rounds (bonus or correction included), at most K + 1. */
  tokensPerRound: number;
  /** Accepted / proposed draft tokens. */
  draftAcceptanceRate: number;
  /** P(draft token i accepted | position i reached) over these rounds, i < K. */
  perPositionAcceptance: number[];
}

/**
 * How far agreement is from Leviathan's i.i.d. assumption (each position agrees with
 * probability alpha, independently of the others). All three are computed within prompts,
 * never across a prompt boundary.
 */
export interface IidCheck {
  /**
   * Observed tokens per round of a chain with unbounded K: positions / segments, where each
   * disagreement ends a segment and a trailing run of agreements is one more segment.
   */
  meanRunLength: number;
  /** The i.i.d. expectation of meanRunLength: 1 / (1 - alpha) (Infinity when alpha = 1). */
  expectedRunLength: number;
  /**
   * Lag-1 autocorrelation of agreement (pairs of neighbouring positions, kind mean): about 0
   * when i.i.d., positive when agreements cluster (easy stretches), negative when they
   * alternate; 0 when agreement is constant.
   */
  lag1Autocorrelation: number;
  /**
   * Wald-Wolfowitz runs test: (R - E[R]) / sd(R), with R the number of maximal runs of
   * equal agreement values and E, Var summed over prompts given each prompt's counts of 1s
   * and 0s. |z| > 1.96 rejects i.i.d. at 5%; z < 0 means fewer, longer runs than chance
   * (clustering). 0 when the variance is 0.
   */
  runsTestZ: number;
}

/** Acceptance of one prompt kind. */
export interface KindAcceptance {
  /**
   * Per-token acceptance: greedy, the fraction of the N output positions that agree;
   * sampling, the mean of beta over them (Leviathan's alpha).
   */
  alpha: number;
  /** Output positions measured (N per prompt). */
  positions: number;
  /** Distance from i.i.d., computed from agreement (the greedy event in both modes). */
  iid: IidCheck;
  /**
   * Entry i = P(draft token i accepted | reached) from agreement over every start position
   * s < N: reached when agreement[s..s+i-1] are all 1, accepted when agreement[s+i] is 1 too.
   * Sampling: the same quantity with beta as the acceptance probability. Length max K.
   */
  perPositionAcceptance: number[];
  /**
   * Per K (key: K as a string). Greedy: the exact rounds a speculative run would make.
   * Sampling: rounds is empty and the other fields are Leviathan's i.i.d. expectations for
   * this kind's alpha (the rounds of a sampled run are random).
   */
  perK: Record<string, KAcceptance>;
}

/** One measured prompt. */
export interface PromptAcceptance {
  name: string;
  kind: string;
  promptTokens: number;
  /**
   * agreement[j] = 1 when the draft's argmax after prompt + target tokens < j equals the
   * target's token j. Length N + max K - 1: the last round of a run of N tokens checks
   * drafts up to position N + K - 2 (their tokens are then dropped, but the accept count
   * of that round depends on them).
   */
  agreement: number[];
  /** Sampling only: beta[j] = sum_x min(p_j(x), q_j(x)), same positions as agreement. */
  beta?: number[];
  /**
   * ranks[j]: the rank of the target's token j among the draft's candidates at position j
   * (0 = the draft's argmax, ties to the lower token id), -1 past {@link MAX_RANK}; same
   * positions as agreement (agreement[j] = 1 iff ranks[j] = 0). A static token tree's greedy
   * rounds follow from them (profiler/tree_predict.ts).
   */
  ranks?: number[];
}

/** Ranks recorded per position: a tree node has at most this many children. */
export const MAX_RANK = 16;

/** Rank of token `t` in a logits row (ties to the lower id), -1 when >= MAX_RANK. */
export function rankOf(row: ArrayLike<number>, t: number): number {
  const v = row[t];
  let rank = 0;
  for (let x = 0; x < row.length && rank < MAX_RANK; x++) {
    if (row[x] > v || (row[x] === v && x < t)) rank++;
  }
  return rank < MAX_RANK ? rank : -1;
}

/** The file `acceptance` writes and `predict` reads. */
export interface AcceptanceFile {
  schema: typeof ACCEPTANCE_SCHEMA;
  /** Model names: a folder's last path component or "synthetic:..." (never a full path). */
  target: string;
  draft: string;
  quant: "fp16" | "int8";
  cache: { kind: "full" } | { kind: "sink"; size: number; sinks: number };
  temperature: number;
  maxNewTokens: number;
  prompts: PromptAcceptance[];
  byKind: Record<string, KindAcceptance>;
}

/** The part of an acceptance file a results file keeps (no sequences, no per-K rounds). */
export function acceptanceSummary(f: AcceptanceFile): AcceptanceSummary {
  const byKind: AcceptanceSummary["byKind"] = {};
  for (const [kind, a] of Object.entries(f.byKind)) {
    const e = a.iid.expectedRunLength;
    byKind[kind] = {
      alpha: a.alpha,
      positions: a.positions,
      iid: { ...a.iid, expectedRunLength: Number.isFinite(e) ? e : null },
      perPositionAcceptance: a.perPositionAcceptance,
    };
  }
  return {
    quant: f.quant,
    cache: f.cache.kind,
    cacheSize: f.cache.kind === "sink" ? f.cache.size : null,
    temperature: f.temperature,
    maxNewTokens: f.maxNewTokens,
    byKind,
  };
}

/** A prompt to measure: `ids`, or `text` encoded with the codec when ids is empty. */
export interface AcceptancePrompt {
  name: string;
  kind: string;
  text?: string;
  ids: number[];
}

/** Options of {@link measureAcceptance}. */
export interface AcceptanceOptions {
  target: NeoxModel;
  draft: NeoxModel;
  prompts: AcceptancePrompt[];
  maxNewTokens: number;
  cache: CachePolicy;
  /** Draft lengths whose rounds are derived (1..16). */
  kValues: number[];
  /** Deepest token tree to be predicted from the ranks (positions measured cover it). */
  depthMax?: number;
  /** 0 (default): greedy. */
  temperature?: number;
  seed?: number;
  /** Recorded as given: the caller loads the target with this quantization. */
  quant: "fp16" | "int8";
}

/**
 * Accepted drafts per round of a greedy speculative run with draft length `k` that stops
 * once `n` tokens exist, as engine/speculative.ts runs it: the first round drafts from the
 * prompt (p = 0); a round accepts the leading agreements of agreement[p..p+k-1], then
 * p += accepted + 1, until p >= n. Agreement past its end counts as unknown: a round that
 * reaches it stops there (exact when agreement has n + k - 1 entries).
 *
 * @throws RangeError when k < 1, n < 1 or agreement has fewer than n entries
 */
export function greedyRoundsFromAgreement(agreement: number[], k: number, n: number): number[] {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`K must be an integer >= 1, got ${k}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be an integer >= 1, got ${n}`);
  if (agreement.length < n) {
    throw new RangeError(`agreement has ${agreement.length} positions, fewer than n = ${n}`);
  }
  const rounds: number[] = [];
  for (let p = 0; p < n;) {
    let accepted = 0;
    while (accepted < k && p + accepted < agreement.length && agreement[p + accepted] === 1) {
      accepted++;
    }
    rounds.push(accepted);
    p += accepted + 1;
  }
  return rounds;
}

/**
 * Rounds and metrics of K over several prompts' agreement, as runs of `n` new tokens each:
 * agreement is cut to the n + k - 1 positions such a run can read, so one measurement of
 * length N serves every n <= N. Rounds are concatenated in prompt order.
 */
export function acceptanceForK(
  prompts: { agreement: number[] }[],
  k: number,
  n: number,
): KAcceptance {
  const rounds = prompts.flatMap((p) =>
    greedyRoundsFromAgreement(p.agreement.slice(0, n + k - 1), k, n)
  );
  const m = speculativeMetrics(rounds, k, n * prompts.length);
  return {
    rounds,
    tokensPerRound: m.meanTokensPerRound,
    draftAcceptanceRate: m.draftAcceptanceRate,
    perPositionAcceptance: m.perPositionAcceptance,
  };
}

/** Leviathan's i.i.d. expectations for K at per-token acceptance alpha (no rounds). */
function iidForK(alpha: number, k: number): KAcceptance {
  const tau = alpha === 1 ? k + 1 : (1 - alpha ** (k + 1)) / (1 - alpha);
  return {
    rounds: [],
    tokensPerRound: tau,
    draftAcceptanceRate: (tau - 1) / k,
    perPositionAcceptance: new Array<number>(k).fill(alpha),
  };
}

/** {@link IidCheck} of the first n positions of each sequence, alpha = their mean. */
export function iidCheck(sequences: number[][], n: number): IidCheck {
  const seqs = sequences.map((s) => s.slice(0, n));
  const all = seqs.flat();
  const alpha = all.reduce((a, b) => a + b, 0) / all.length;
  let segments = 0;
  let num = 0;
  let den = 0;
  let runs = 0;
  let runsMean = 0;
  let runsVar = 0;
  for (const s of seqs) {
    segments += s.filter((x) => x === 0).length + (s.at(-1) === 1 ? 1 : 0);
    for (let j = 0; j < s.length; j++) {
      den += (s[j] - alpha) ** 2;
      if (j + 1 < s.length) num += (s[j] - alpha) * (s[j + 1] - alpha);
      if (j === 0 || s[j] !== s[j - 1]) runs++;
    }
    const n1 = s.filter((x) => x === 1).length;
    const n0 = s.length - n1;
    const m = s.length;
    if (m > 1) {
      runsMean += (2 * n1 * n0) / m + 1;
      runsVar += (2 * n1 * n0 * (2 * n1 * n0 - m)) / (m * m * (m - 1));
    } else runsMean += m;
  }
  // Averaging pairs over their own count keeps r1 comparable across prompt counts.
  const pairs = seqs.reduce((a, s) => a + Math.max(0, s.length - 1), 0);
  return {
    meanRunLength: all.length / segments,
    expectedRunLength: 1 / (1 - alpha),
    lag1Autocorrelation: den > 0 && pairs > 0 ? (num / pairs) / (den / all.length) : 0,
    runsTestZ: runsVar > 0 ? (runs - runsMean) / Math.sqrt(runsVar) : 0,
  };
}

/**
 * P(draft token i accepted | reached), i < kMax, from every start position s < n of every
 * sequence; `accept` holds per-position acceptance probabilities (agreement or beta).
 */
export function perPositionFromAgreement(
  sequences: number[][],
  kMax: number,
  n: number,
): number[] {
  const reached = new Array<number>(kMax).fill(0);
  const accepted = new Array<number>(kMax).fill(0);
  for (const s of sequences) {
    for (let start = 0; start < n; start++) {
      let pReach = 1;
      for (let i = 0; i < kMax && start + i < s.length; i++) {
        reached[i] += pReach;
        accepted[i] += pReach * s[start + i];
        pReach *= s[start + i];
        if (pReach === 0) break;
      }
    }
  }
  return reached.map((r, i) => (r > 0 ? accepted[i] / r : 0));
}

/**
 * Logits rows [from, ids.length) of one teacher-forced pass over `ids` under `cache`, in
 * chunks; a sink cache shows each token the window single-token appends would (see
 * engine/cache_policy.ts), so rows equal those of generation under the same policy.
 */
export async function teacherForcedLogits(
  model: NeoxModel,
  ids: number[],
  cache: CachePolicy,
  from = 0,
): Promise<Float32Array> {
  const { gpu, cfg } = model;
  const chunk = cache.kind === "sink" ? SINK_PREFILL_CHUNK : PREFILL_CHUNK;
  const maxT = Math.min(chunk, ids.length);
  const seq = model.newSequence({
    capacity: cache.kind === "sink" ? sinkCacheSlots(cache, maxT) : ids.length,
    maxTokens: ids.length + 1,
    maxT,
    logitsRows: maxT,
    cache,
  });
  try {
    seq.writeTokens(ids);
    seq.setState(0, 0);
    const V = cfg.vocabSize;
    const out = new Float32Array((ids.length - from) * V);
    for (let s = 0; s < ids.length; s += maxT) {
      const T = Math.min(maxT, ids.length - s);
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeDispatches(pass, seq.plan(T, { logits: "all", argmax: false, advance: true }));
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      if (s + T <= from) continue;
      const first = Math.max(s, from);
      const rows = new Float32Array(
        await readBuffer(gpu, seq.logits, (first - s) * V * 4, (s + T - first) * V * 4),
      );
      out.set(rows, (first - from) * V);
    }
    return out;
  } finally {
    seq.destroy();
  }
}

/** Leviathan's beta = sum_x min(p(x), q(x)) of two logits rows at temperature T. */
export function acceptanceProbability(
  targetLogits: ArrayLike<number>,
  draftLogits: ArrayLike<number>,
  temperature: number,
): number {
  const p = samplingProbs(targetLogits, temperature);
  const q = samplingProbs(draftLogits, temperature);
  let beta = 0;
  for (let i = 0; i < p.length; i++) beta += Math.min(p[i], q[i]);
  return Math.min(1, beta);
}

/**
 * Measures acceptance of a draft against a target without speculation: per prompt, one
 * target-only generation of N + max K - 1 tokens (greedy, or sampled at `temperature`),
 * then teacher-forced passes (the draft's, and the target's too when sampling) under the
 * same cache policy.
 */
export async function measureAcceptance(
  gpu: Gpu,
  codec: TextCodec | null,
  o: AcceptanceOptions,
): Promise<AcceptanceFile> {
  const { target, draft, cache } = o;
  checkPair(target, draft);
  if (target.gpu !== gpu || draft.gpu !== gpu) {
    throw new NeoxError("target and draft must be loaded on the given GPU");
  }
  const n = o.maxNewTokens;
  if (!Number.isInteger(n) || n < 1) {
    throw new NeoxError(`max new tokens must be an integer >= 1, got ${n}`);
  }
  if (o.kValues.length === 0 || o.kValues.some((k) => !Number.isInteger(k) || k < 1 || k > 16)) {
    throw new NeoxError(`K values must be integers from 1 to 16, got ${o.kValues.join(",")}`);
  }
  if (o.prompts.length === 0) throw new NeoxError("no prompts to measure");
  const kMax = Math.max(...o.kValues);
  checkCachePolicy(cache, kMax);
  const temperature = o.temperature ?? 0;
  const sampling = temperature > 0 ? { temperature, seed: o.seed ?? 0 } : undefined;
  const V = target.cfg.vocabSize;
  // A run of N tokens reads agreement up to position N + K - 2 in its last round (a tree's
  // up to N + depth - 2).
  const measured = n + Math.max(kMax, o.depthMax ?? 0) - 1;

  const prompts: PromptAcceptance[] = [];
  for (const p of o.prompts) {
    let ids = p.ids;
    if (ids.length === 0 && p.text !== undefined) {
      if (!codec) throw new NeoxError(`prompt ${p.name}: text needs a tokenizer`);
      ids = codec.encode(p.text);
    }
    if (ids.length === 0) throw new NeoxError(`prompt ${p.name} is empty`);
    const gen = await greedyGenerate(target, ids, measured, { cache, sampling });
    const seq = [...ids, ...gen.tokens];
    // Row r is the prediction of position ids.length + r, made after its predecessors.
    const q = await teacherForcedLogits(draft, seq.slice(0, -1), cache, ids.length - 1);
    const agreement = gen.tokens.map((
      t,
      j,
    ) => (argmax(q.subarray(j * V, (j + 1) * V)) === t ? 1 : 0));
    const entry: PromptAcceptance = {
      name: p.name,
      kind: p.kind,
      promptTokens: ids.length,
      agreement,
      ranks: gen.tokens.map((t, j) => rankOf(q.subarray(j * V, (j + 1) * V), t)),
    };
    if (sampling) {
      const pl = await teacherForcedLogits(target, seq.slice(0, -1), cache, ids.length - 1);
      entry.beta = gen.tokens.map((_, j) =>
        acceptanceProbability(
          pl.subarray(j * V, (j + 1) * V),
          q.subarray(j * V, (j + 1) * V),
          temperature,
        )
      );
    }
    prompts.push(entry);
  }

  const byKind: Record<string, KindAcceptance> = {};
  for (const kind of [...new Set(prompts.map((p) => p.kind))]) {
    const of = prompts.filter((p) => p.kind === kind);
    const accept = of.map((p) => p.beta ?? p.agreement);
    const head = accept.flatMap((s) => s.slice(0, n));
    const alpha = head.reduce((a, b) => a + b, 0) / head.length;
    const perK: Record<string, KAcceptance> = {};
    for (const k of o.kValues) {
      perK[String(k)] = sampling ? iidForK(alpha, k) : acceptanceForK(of, k, n);
    }
    byKind[kind] = {
      alpha,
      positions: head.length,
      iid: iidCheck(of.map((p) => p.agreement), n),
      perPositionAcceptance: perPositionFromAgreement(accept, kMax, n),
      perK,
    };
  }

  return {
    schema: ACCEPTANCE_SCHEMA,
    target: modelName(target.source),
    draft: modelName(draft.source),
    quant: o.quant,
    cache: cache.kind === "sink"
      ? { kind: "sink", size: cache.size, sinks: cache.sinks }
      : { kind: "full" },
    temperature,
    maxNewTokens: n,
    prompts,
    byKind,
  };
}
