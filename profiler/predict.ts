/**
 * Out-of-sample predictions (`mod.ts predict`, and `deno task profile` before it measures).
 *
 * A prediction of a configuration uses only what was measured without running it
 * (DESIGN.md "What counts as a prediction"): acceptance from an acceptance file (target-only
 * greedy + teacher-forced draft, no speculation) and costs from a device profile
 * (calibrate). This module reads no GPU timer and no sweep measurement: it is a pure
 * function of those two files and the grid.
 *
 * Per speculative configuration (K, N, cache, quant, prompt type), with c = T_draft(1 token) /
 * T_target(1 token) from the device profile at the configuration's mid-generation cache
 * length (prompt + N / 2, capped by a sink cache):
 *
 * - seed = (1 + K a) / (1 + K c), the seed's published formula, where its "acceptance rate"
 *   a is the predicted draft acceptance rate (accepted / proposed drafts) of the exact greedy
 *   rounds at this K and N (acceptanceForK on the file's agreement sequences);
 * - leviathan = E[tau] / (K c + 1), E[tau] = (1 - alpha^(K+1)) / (1 - alpha), alpha = the
 *   file's i.i.d. per-token acceptance of the prompt type;
 * - costAware = predicted speculative throughput / predicted baseline throughput, each
 *   N x prompts / the predicted wall time of every prompt's generation: the exact greedy
 *   rounds (so tokens/round is exact, not E[tau]) laid out as the engine runs them
 *   (cost_model.ts speculativeSchedule: prefills, K draft passes and one verify of K + 1
 *   tokens per round at their cache lengths, waits per batch) and priced by the device
 *   profile's T_pass(T, L) plus per-wait and per-pass overheads. In steady state this is
 *   tau T_target(1) / (K T_draft(1) + T_verify(K + 1) + overheads per round), plus prefill.
 */
import { NeoxError } from "../engine/errors.ts";
import type { CachePolicy } from "../engine/cache_policy.ts";
import { FULL_CACHE, sinkWindowCache } from "../engine/cache_policy.ts";
import { leviathanSpeedup, seedSpeedup } from "./analytic.ts";
import { type AcceptanceFile, acceptanceForK, greedyRoundsFromAgreement } from "./acceptance.ts";
import {
  baselineSchedule,
  type DeviceCosts,
  passKey,
  passMs,
  scheduleWallMs,
  speculativeSchedule,
  treeSchedule,
} from "./cost_model.ts";
import { treeRoundsFromRanks } from "./tree_predict.ts";
import { type TokenTree, treeName, treeNodes } from "../engine/tree_speculative.ts";
import { speculativeMetrics } from "./metrics.ts";
import { configId } from "./prompts.ts";
import type { ConfigPrediction, ConfigResult, ResultsFile } from "./results.ts";
import { mean } from "./stats.ts";

/** The grid to predict (profile's grid flags). */
export interface PredictGrid {
  kValues: number[];
  maxNewTokens: number[];
  /** null: full cache. */
  cacheLens: (number | null)[];
  promptTypes: string[];
  quant: ("fp16" | "int8")[];
  /**
   * Token trees measured beside the chain (profile --trees). Static trees are predicted from
   * the acceptance file's per-position draft ranks; dynamic ones (auto:N) are not: which
   * candidates fill a level depends on draft probabilities off the target's path, which a
   * teacher-forced measurement does not see.
   */
  trees?: TokenTree[];
}

/** One predicted configuration. */
export interface PredictionRow extends ConfigPrediction {
  id: string;
  mode: "baseline" | "speculative" | "tree";
  /** K, or a tree's depth. */
  k: number | null;
  maxNewTokens: number;
  cacheSize: number | null;
  quant: "fp16" | "int8";
  promptType: string;
  /** Predicted accepted / proposed drafts (the seed's a); null for baselines. */
  draftAcceptanceRate: number | null;
  /** The file's i.i.d. per-token acceptance (Leviathan's alpha); null for baselines. */
  alpha: number | null;
  /** T_draft(1) / T_target(1) from the device profile; null for baselines. */
  c: number | null;
  /** Predicted wall ms of one sample (every prompt of the type once). */
  sampleMs: number;
}

function sameCache(f: AcceptanceFile, cacheSize: number | null): boolean {
  return cacheSize === null
    ? f.cache.kind === "full"
    : f.cache.kind === "sink" && f.cache.size === cacheSize;
}

/**
 * The acceptance file for a quant and cache: the exact match, else one of the same cache
 * with another quant (acceptance of the fp16 pair stands in; the row says which was used).
 *
 * @throws RangeError when no file has this cache.
 */
export function acceptanceFor(
  files: AcceptanceFile[],
  quant: "fp16" | "int8",
  cacheSize: number | null,
): AcceptanceFile {
  const f = files.find((f) => f.quant === quant && sameCache(f, cacheSize)) ??
    files.find((f) => sameCache(f, cacheSize));
  if (!f) {
    throw new RangeError(
      `no acceptance file for cache ${
        cacheSize ?? "full"
      } (measure one: mod.ts acceptance ... --cache ...)`,
    );
  }
  return f;
}

/** One prediction per configuration id the sweep would produce, in the sweep's order. */
export function predictGrid(
  device: DeviceCosts,
  acceptance: AcceptanceFile[],
  grid: PredictGrid,
): PredictionRow[] {
  const rows: PredictionRow[] = [];
  for (const quant of grid.quant) {
    for (const cacheSize of grid.cacheLens) {
      const acc = acceptanceFor(acceptance, quant, cacheSize);
      const policy: CachePolicy = cacheSize === null ? FULL_CACHE : sinkWindowCache(cacheSize);
      for (const n of grid.maxNewTokens) {
        for (const kind of grid.promptTypes) {
          const prompts = acc.prompts.filter((p) => p.kind === kind);
          if (prompts.length === 0) {
            throw new NeoxError(
              `acceptance file has no prompts of type ${kind} (measure it with the same --prompt-types)`,
            );
          }
          for (const p of prompts) {
            if (p.agreement.length < n - 1) {
              throw new RangeError(
                `acceptance prompt ${p.name} has ${p.agreement.length} agreement positions, fewer than N - 1 = ${
                  n - 1
                }`,
              );
            }
          }
          const base = { maxNewTokens: n, cacheSize, quant, promptType: kind };
          const baseMs = prompts.reduce(
            (s, p) =>
              s + scheduleWallMs(device, quant, baselineSchedule(p.promptTokens, n, policy)),
            0,
          );
          const baseTokS = (prompts.length * n) / (baseMs / 1000);
          rows.push({
            id: configId({ k: null, ...base }),
            mode: "baseline",
            k: null,
            ...base,
            tokensPerRound: null,
            throughputTokS: baseTokS,
            speedup: { seed: 1, leviathan: 1, costAware: 1 },
            draftAcceptanceRate: null,
            alpha: null,
            c: null,
            sampleMs: baseMs,
          });
          const midL = (p: { promptTokens: number }) => {
            const len = p.promptTokens + n / 2;
            return cacheSize === null ? len : Math.min(len, cacheSize);
          };
          const L = mean(prompts.map(midL));
          const c = passMs(device, passKey("draft", "fp16"), 1, L) /
            passMs(device, passKey("target", quant), 1, L);
          const alpha = acc.byKind[kind]?.alpha;
          for (const k of grid.kValues) {
            const chain = acceptanceForK(prompts, k, n);
            const specMs = prompts.reduce((s, p) => {
              const rounds = greedyRoundsFromAgreement(p.agreement, k, n);
              const sched = speculativeSchedule(
                p.promptTokens,
                n,
                k,
                rounds,
                policy,
                device.overheads.perWaitMs,
              );
              return s + scheduleWallMs(device, quant, sched);
            }, 0);
            const specTokS = (prompts.length * n) / (specMs / 1000);
            rows.push({
              id: configId({ k, ...base }),
              mode: "speculative",
              k,
              ...base,
              tokensPerRound: chain.tokensPerRound,
              throughputTokS: specTokS,
              speedup: {
                seed: seedSpeedup(k, chain.draftAcceptanceRate, c),
                leviathan: alpha === undefined ? null : leviathanSpeedup(k, alpha, c),
                costAware: specTokS / baseTokS,
              },
              draftAcceptanceRate: chain.draftAcceptanceRate,
              alpha: alpha ?? null,
              c,
              sampleMs: specMs,
            });
          }
          for (const tree of (grid.trees ?? []).filter((t) => t.budget === undefined)) {
            const D = tree.widths.length;
            const perPrompt = prompts.map((p) => {
              if (!p.ranks || p.ranks.length < n + D - 1) {
                throw new RangeError(
                  `acceptance prompt ${p.name} has no draft ranks for ${
                    n + D - 1
                  } positions: re-measure it (mod.ts acceptance, with the tree's depth)`,
                );
              }
              return treeRoundsFromRanks(tree.widths, p.ranks.slice(0, n + D - 1), n);
            });
            const treeMs = prompts.reduce(
              (s, p, i) =>
                s +
                scheduleWallMs(
                  device,
                  quant,
                  treeSchedule(p.promptTokens, n, tree, perPrompt[i], policy),
                ),
              0,
            );
            const m = speculativeMetrics(perPrompt.flat(), D, n * prompts.length);
            const treeTokS = (prompts.length * n) / (treeMs / 1000);
            rows.push({
              id: configId({ k: D, treeName: treeName(tree), ...base }),
              mode: "tree",
              k: D,
              ...base,
              tokensPerRound: m.meanTokensPerRound,
              throughputTokS: treeTokS,
              // The chain's formulas do not describe a tree's rounds.
              speedup: { seed: null, leviathan: null, costAware: treeTokS / baseTokS },
              draftAcceptanceRate: m.draftAcceptanceRate * D / treeNodes(tree),
              alpha: alpha ?? null,
              c,
              sampleMs: treeMs,
            });
          }
        }
      }
    }
  }
  return rows;
}

const pct = (predicted: number, measured: number) => (100 * (predicted - measured)) / measured;

/**
 * Puts each configuration's prediction (made before it ran) into `configs[i].predicted` with
 * its errors against the measurement, and returns the results' `predictions` summary: mean
 * absolute % error of throughput and speedup per model (seed, leviathan, costAware; seed
 * and leviathan predict only a speedup, their throughput is the predicted baseline x it).
 * Measured values are read only to compute errors; the predicted numbers are copied as is.
 */
export function scorePredictions(
  rows: PredictionRow[],
  configs: ConfigResult[],
  sources: { device: string; acceptance: string[] },
): NonNullable<ResultsFile["predictions"]> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const errs = {
    seed: { s: [] as number[], t: [] as number[] },
    leviathan: { s: [] as number[], t: [] as number[] },
    costAware: { s: [] as number[], t: [] as number[] },
  };
  const tauErr: number[] = [];
  const tree = { s: [] as number[], t: [] as number[], tau: [] as number[] };
  for (const cfg of configs) {
    const r = byId.get(cfg.id);
    if (!r) continue;
    const measuredSpeedup = cfg.measuredSpeedup;
    const baseRow = byId.get(configId({ ...cfg, k: null }));
    const tput = cfg.throughputTokS.mean;
    const speedupErr = (x: number | null) =>
      x === null || measuredSpeedup === null || !(measuredSpeedup > 0)
        ? null
        : pct(x, measuredSpeedup);
    const tputOf = (
      x: number | null,
    ) => (x === null || !baseRow ? null : baseRow.throughputTokS * x);
    const e = {
      throughputTokS: pct(r.throughputTokS, tput),
      tokensPerRound: r.tokensPerRound === null || cfg.meanTokensPerRound === null
        ? null
        : pct(r.tokensPerRound, cfg.meanTokensPerRound),
      speedup: {
        seed: speedupErr(r.speedup.seed),
        leviathan: speedupErr(r.speedup.leviathan),
        costAware: speedupErr(r.speedup.costAware) ?? 0,
      },
    };
    cfg.predicted = {
      tokensPerRound: r.tokensPerRound,
      throughputTokS: r.throughputTokS,
      speedup: { ...r.speedup },
      errorPct: e,
    };
    if (cfg.mode === "baseline") {
      errs.costAware.t.push(Math.abs(e.throughputTokS));
      continue;
    }
    if (cfg.mode === "tree") {
      tree.t.push(Math.abs(e.throughputTokS));
      tree.s.push(Math.abs(e.speedup.costAware));
      if (e.tokensPerRound !== null) tree.tau.push(Math.abs(e.tokensPerRound));
      continue;
    }
    if (e.tokensPerRound !== null) tauErr.push(Math.abs(e.tokensPerRound));
    for (const m of ["seed", "leviathan", "costAware"] as const) {
      const se = e.speedup[m];
      if (se !== null) errs[m].s.push(Math.abs(se));
      const t = m === "costAware" ? r.throughputTokS : tputOf(r.speedup[m]);
      if (t !== null) errs[m].t.push(Math.abs(pct(t, tput)));
    }
  }
  const avg = (xs: number[]) => (xs.length ? mean(xs) : null);
  return {
    ...sources,
    rows: rows.map((r) => ({
      id: r.id,
      tokensPerRound: r.tokensPerRound,
      throughputTokS: r.throughputTokS,
      speedup: r.speedup,
    })),
    summary: (["seed", "leviathan", "costAware"] as const).map((model) => ({
      model,
      speedupMeanAbsPctError: avg(errs[model].s),
      throughputMeanAbsPctError: avg(errs[model].t),
      n: errs[model].s.length,
    })),
    tokensPerRoundMeanAbsPctError: avg(tauErr),
    ...(tree.s.length
      ? {
        trees: {
          speedupMeanAbsPctError: avg(tree.s)!,
          throughputMeanAbsPctError: avg(tree.t)!,
          tokensPerRoundMeanAbsPctError: avg(tree.tau),
          n: tree.s.length,
        },
      }
      : {}),
  };
}
