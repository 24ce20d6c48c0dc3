/**
 * The one measurement harness: every command that times generation (profile's sweep,
 * calibrate's overhead loops, bench) runs a configuration through here, so a "sample",
 * its warm-up, its TTFT/TPOT rule and its pass times mean the same thing everywhere.
 *
 * A configuration is plain greedy decoding (baseline), speculative decoding at one K, or
 * token-tree speculation with one tree (static or dynamic), with given models, cache policy
 * and prompts. One sample runs every prompt once with N new
 * tokens; its throughput is all new tokens over all wall time.
 */
import type { NeoxModel } from "../engine/model.ts";
import type { CachePolicy } from "../engine/cache_policy.ts";
import { type GenerationStats, greedyGenerate } from "../engine/generate.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import { type TokenTree, treeGenerate } from "../engine/tree_speculative.ts";
import type { PassName } from "../engine/hooks.ts";
import type { GpuTimer } from "./gpu_timer.ts";
import { firstRoundTokens, timingMetrics } from "./metrics.ts";

/** New tokens of the warm-up run before a configuration's samples. */
export const WARMUP_TOKENS = 8;

/** One configuration to run. */
export interface RunConfig {
  mode: "baseline" | "speculative" | "tree";
  target: NeoxModel;
  /** The draft (speculative only). */
  draft?: NeoxModel;
  /** Draft length K (speculative only). */
  k?: number;
  cache: CachePolicy;
  /** Acceptance replay: accept counts per round (speculative only). */
  replay?: number[];
  /** The token tree (tree only). */
  tree?: TokenTree;
}

/** One generation of one prompt. */
export interface GenerationRun {
  /** New token ids. */
  tokens: number[];
  ttftMs: number;
  decodeMs: number;
  /** Tokens out by the end of TTFT (1, or the first round's a0 + 1). */
  firstTokens: number;
  gpuWaits: number;
  /** Accepted drafts per round (speculative and tree). */
  rounds?: number[];
  /** Sibling rank of each accepted node per round (tree only). */
  ranks?: number[][];
  kvBytes: number;
  peakBytes: number;
  compressionEvents: number;
  /** GPU time of every timed pass by name, ms (empty without a timer). */
  passMs: Partial<Record<PassName, number[]>>;
  /** Timed passes in encode order, ms from the first pass (for traces). */
  spans: { name: PassName; beginMs: number; durationMs: number }[];
  /** Wall clock (performance.now) at the start and end of the call. */
  wallStartMs: number;
  wallEndMs: number;
}

const PASS_NAMES: PassName[] = ["draft", "verify", "target", "prefill"];

/** Runs one generation of `ids` with `n` new tokens, timing its passes on `timer`. */
export async function runGeneration(
  c: RunConfig,
  ids: number[],
  n: number,
  timer?: GpuTimer | null,
): Promise<GenerationRun> {
  timer?.reset();
  const hook = timer ?? undefined;
  const wallStartMs = performance.now();
  let r: GenerationStats & { tokens: number[] };
  let rounds: number[] | undefined;
  let ranks: number[][] | undefined;
  if (c.mode === "baseline") {
    r = await greedyGenerate(c.target, ids, n, { hook, cache: c.cache });
  } else if (c.mode === "tree") {
    const t = await treeGenerate(c.target, c.draft!, ids, {
      tree: c.tree!,
      maxNewTokens: n,
      hook,
      cache: c.cache,
    });
    r = t;
    rounds = t.rounds;
    ranks = t.ranks;
  } else {
    const s = await speculativeGenerate(c.target, c.draft!, ids, {
      k: c.k!,
      maxNewTokens: n,
      replay: c.replay,
      hook,
      cache: c.cache,
    });
    r = s;
    rounds = s.rounds;
  }
  const wallEndMs = performance.now();
  const passMs: GenerationRun["passMs"] = {};
  let spans: GenerationRun["spans"] = [];
  if (timer) {
    await timer.resolve();
    for (const name of PASS_NAMES) passMs[name] = timer.ms(name);
    spans = timer.spansMs();
  }
  return {
    tokens: r.tokens,
    ttftMs: r.ttftMs,
    decodeMs: r.decodeMs,
    firstTokens: firstRoundTokens(rounds, n),
    gpuWaits: r.gpuWaits,
    rounds,
    ...(ranks ? { ranks } : {}),
    kvBytes: r.kvBytes,
    peakBytes: r.peakBytes,
    compressionEvents: r.compressionEvents,
    passMs,
    spans,
    wallStartMs,
    wallEndMs,
  };
}

/** One sample: every prompt once. */
export interface Sample {
  /** All new tokens / all wall time (TTFT + decode), tokens/s. */
  throughputTokS: number;
  /** Mean over prompts. */
  ttftMs: number;
  /** Mean over prompts of decode time / tokens after the first round. */
  tpotMs: number;
  runs: GenerationRun[];
}

/** Runs one sample of configuration `c`: each prompt once with `n` new tokens. */
export async function runSample(
  c: RunConfig,
  prompts: { ids: number[] }[],
  n: number,
  timer?: GpuTimer | null,
): Promise<Sample> {
  const runs: GenerationRun[] = [];
  let time = 0, first = 0, tpot = 0;
  for (const p of prompts) {
    const r = await runGeneration(c, p.ids, n, timer);
    const t = timingMetrics({
      ttftMs: r.ttftMs,
      decodeMs: r.decodeMs,
      newTokens: n,
      firstTokens: r.firstTokens,
    });
    time += r.ttftMs + r.decodeMs;
    first += r.ttftMs;
    tpot += t.tpotMs;
    runs.push(r);
  }
  return {
    throughputTokS: (prompts.length * n) / (time / 1000),
    ttftMs: first / prompts.length,
    tpotMs: tpot / prompts.length,
    runs,
  };
}

/** The short untimed run (pipelines compile, caches fill) before a configuration's samples. */
export async function warmUp(
  c: RunConfig,
  prompts: { ids: number[] }[],
  n: number,
): Promise<void> {
  for (const p of prompts) await runGeneration(c, p.ids, Math.min(n, WARMUP_TOKENS), null);
}
