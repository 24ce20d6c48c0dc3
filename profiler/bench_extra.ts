/**
 * Small additions to `mod.ts bench` (profiler/bench.ts): dispatches per pass and per layer
 * (from the dispatch metadata), the verify pass's GPU time for every T (it should grow
 * smoothly: monotone in T) with the target and draft steps timed in the same rounds, and the
 * measured matmul choices of engine/autotune.ts.
 */
import { ATTENTION_TUNE_LENGTHS, matmulName, reductionName } from "../engine/autotune.ts";
import type { PassName } from "../engine/hooks.ts";
import { attentionName } from "../engine/ops.ts";
import type { NeoxModel, Sequence } from "../engine/model.ts";
import type { GpuTimer } from "./gpu_timer.ts";
import { timePass } from "./kernel_profile.ts";

/**
 * Dispatches of one pass of T tokens after `cacheLen` cached entries (the kernels measured
 * nearest that length): in all, and in one transformer layer.
 */
export function dispatchCount(
  model: NeoxModel,
  T: number,
  cacheLen: number,
): { pass: number; perLayer: number } {
  const seq = model.newSequence({ capacity: T + 1, maxTokens: T + 2, maxT: T, logitsRows: T });
  try {
    const plan = seq.plan(
      T,
      T === 1
        ? { logits: "last", argmax: true, advance: true, cacheLen: cacheLen + T }
        : { logits: "all", argmax: false, advance: false, cacheLen: cacheLen + T },
    );
    return { pass: plan.length, perLayer: plan.filter((d) => d.meta.layer === 0).length };
  } finally {
    seq.destroy();
  }
}

/** Pass times of {@link passRounds}, ms. */
export interface PassRounds {
  /** Verify pass (all logits) for each T: the fastest round's median. */
  curve: { T: number; ms: number }[];
  /** Per round, the median of its back-to-back passes: target and draft decode steps. */
  targetMs: number[];
  draftMs: number[];
  /** Per round, by T: the verify pass. */
  verifyMs: Map<number, number[]>;
}

/**
 * Target decode step, draft decode step and the verify pass for every T, at `cacheLen`, in
 * `rounds` interleaved rounds (a burst of noise on a shared machine then touches every
 * figure of one round, not one part of the curve), each figure the median of 3 passes timed
 * back to back after a warm-up (kernel_profile.ts timePass): ratios of one round are of
 * passes timed within a second of each other.
 */
export async function passRounds(
  target: NeoxModel,
  draft: NeoxModel,
  Ts: number[],
  o: { timer: GpuTimer; nsPerTick: number; cacheLen: number; rounds?: number },
): Promise<PassRounds> {
  const maxT = Math.max(...Ts);
  const capacity = o.cacheLen + maxT + 1;
  const seqOf = (m: NeoxModel, T: number) =>
    m.newSequence({ capacity, maxTokens: capacity + 1, maxT: T, logitsRows: T });
  const t = seqOf(target, maxT);
  const d = seqOf(draft, 1);
  try {
    const time = (seq: Sequence, T: number, pass: PassName, verify: boolean) =>
      timePass(seq, T, o.timer, o.nsPerTick, {
        cacheLen: o.cacheLen,
        reps: 3,
        pass,
        passOptions: verify ? { logits: "all", argmax: false, advance: false } : undefined,
      });
    const out: PassRounds = {
      curve: [],
      targetMs: [],
      draftMs: [],
      verifyMs: new Map(Ts.map((T) => [T, []])),
    };
    for (let r = 0; r < (o.rounds ?? 3); r++) {
      out.targetMs.push(await time(t, 1, "target", false));
      out.draftMs.push(await time(d, 1, "draft", false));
      for (const T of Ts) out.verifyMs.get(T)!.push(await time(t, T, "verify", true));
    }
    out.curve = Ts.map((T) => ({ T, ms: Math.min(...out.verifyMs.get(T)!) }));
    return out;
  } finally {
    t.destroy();
    d.destroy();
  }
}

/** The measured matmul and attention choices of a model's adapter profile, one line each. */
export function tunedLines(model: NeoxModel): string[] {
  const p = model.profile;
  if (!p) return [];
  const ticks = (t: Record<string, number>) =>
    Object.entries(t).map(([n, v]) => `${n} ${(v / 1e3).toFixed(0)}k`).join(", ");
  return [
    ...[...p.matmul].map(([k, v]) => `${k}: ${matmulName(v)} (${ticks(v.ticks)} ticks)`),
    ...[...p.attention].map(([k, v]) =>
      `${k}${k.includes(" L=") ? "" : ` (${ATTENTION_TUNE_LENGTHS.join(" + ")} cached)`}: ${
        attentionName(v.variant)
      } (${ticks(v.ticks)} ticks)`
    ),
    ...[...p.norm].map(([k, v]) => `${k}: ${reductionName(k, v)} (${ticks(v.ticks)} ticks)`),
    ...[...p.fused].map(([k, v]) =>
      `one-token pass, ${k}${
        k.includes(" L=") ? "" : ` (${ATTENTION_TUNE_LENGTHS.join(" + ")} cached)`
      }: ${
        !v.fused
          ? `layer by layer${v.matmulT ? ` (T<=${v.matmulT} matmuls)` : ""}`
          : (v.groups ?? 1) > 1
          ? `split G=${v.groups}`
          : "decode_layer"
      } (${ticks(v.ticks)} ticks)`
    ),
  ];
}

/** One K's speculative round as this run's own pass times account for it. */
export interface RoundAccount {
  k: number;
  /** The run's mean tokens a round. */
  tokensPerRound: number;
  /** K draft passes and a verify of K + 1 tokens, in target passes: K c + verify(K+1) / target. */
  roundPasses: number;
  /** tokensPerRound / roundPasses: the speedup over plain decoding those passes allow. */
  speedup: number;
  /** The run's speculative / plain decode tokens/s. */
  measured: number;
}

/**
 * Where a speculative round's time went, from the run itself (an accounting, not a prediction:
 * the tokens a round and the pass times are the run's own; DESIGN.md): each round costs K draft
 * passes (the first of 2 tokens, counted as one: they cost alike, PERF.md) and a verify of K + 1
 * tokens, and yields its tokens; plain decoding costs one target pass a token. What it leaves
 * out (the accept dispatch, waits on the GPU, the first round) is the gap to `measured`.
 * `verifyMs` by tokens per pass; a K whose verify was not timed is left out.
 */
export function roundAccounts(
  runs: { k: number; meanTokensPerRound: number; decodeTokS: number }[],
  plainTokS: number,
  passMs: { target: number; draft: number; verifyMs: Map<number, number> },
): RoundAccount[] {
  return runs.flatMap((s) => {
    const verify = passMs.verifyMs.get(s.k + 1);
    if (verify === undefined) return [];
    const roundPasses = (s.k * passMs.draft + verify) / passMs.target;
    return [{
      k: s.k,
      tokensPerRound: s.meanTokensPerRound,
      roundPasses,
      speedup: s.meanTokensPerRound / roundPasses,
      measured: s.decodeTokS / plainTokS,
    }];
  });
}
