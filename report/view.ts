/// <reference lib="dom" />
/**
 * The results as the report's sections read them: the configurations split into speculative
 * runs and baselines, the slice (cache + weights) most charts show, the baseline that goes
 * with a run, and the groups of runs a "metric vs K" chart draws as lines. Built once by
 * report/client.ts and handed to every section's drawer ({@link SectionDraw}).
 */

import { max } from "d3-array";
import type { ConfigResult, ResultsFile } from "../profiler/results.ts";
import { cacheLabel } from "./format.ts";
import { color } from "./charts.ts";

/** One configuration of the results. */
export type Cfg = ConfigResult;

/** The distinct values, in first-seen order. */
export const uniq = <T>(xs: T[]) => [...new Set(xs)];
/** d3-array's max with a typed accessor (the d3 packages ship no types). */
export const maxBy = <T>(xs: T[], f: (x: T) => number): number | undefined => max(xs, f);
/** Ascending numeric order for Array.sort. */
export const byNum = (a: number, b: number) => a - b;

/** The cache and weight setting a chart holds fixed. */
export interface Slice {
  cache: string;
  cacheSize: number | null;
  quant: string;
}
const sliceKey = (c: Slice) => `${c.cache}|${c.cacheSize}|${c.quant}`;
/** Whether a configuration has the slice's cache and weights. */
export const inSlice = (c: Cfg, s: Slice) =>
  c.cache === s.cache && c.cacheSize === s.cacheSize && c.quant === s.quant;
/** e.g. `full cache, fp16`. */
export const sliceLabel = (s: Slice) => `${cacheLabel(s)}, ${s.quant}`;

/** The configurations most charts show: full cache + fp16 when present, else the most common. */
export function referenceSlice(pool: Cfg[]): Slice | null {
  if (pool.length === 0) return null;
  const preferred = pool.find((c) => c.cache === "full" && c.quant === "fp16");
  if (preferred) return { cache: "full", cacheSize: preferred.cacheSize, quant: "fp16" };
  const counts = new Map<string, { n: number; s: Slice }>();
  for (const c of pool) {
    const s = { cache: c.cache, cacheSize: c.cacheSize, quant: c.quant };
    const entry = counts.get(sliceKey(s)) ?? { n: 0, s };
    entry.n++;
    counts.set(sliceKey(s), entry);
  }
  return [...counts.values()].sort((a, b) => b.n - a.n)[0].s;
}

/** What every section's drawer gets: the results and the selections made from them. */
export interface ReportView {
  data: ResultsFile;
  configs: Cfg[];
  /** Speculative runs (with a K). */
  specs: Cfg[];
  baselines: Cfg[];
  /** More than one prompt type: labels then name it. */
  multiPrompt: boolean;
  /** Samples per configuration. */
  samples: number;
  /** The slice of {@link referenceSlice} over the speculative runs (all runs if none). */
  refSlice: Slice | null;
  /** Every K measured, ascending. */
  kTicks: number[];
}

/** The {@link ReportView} of a results file. */
export function reportView(data: ResultsFile): ReportView {
  const configs = data.configs;
  const specs = configs.filter((c) => c.mode === "speculative" && c.k !== null);
  return {
    data,
    configs,
    specs,
    baselines: configs.filter((c) => c.mode === "baseline"),
    multiPrompt: uniq(configs.map((c) => c.promptType)).length > 1,
    samples: data.settings.numSamples,
    refSlice: referenceSlice(specs.length > 0 ? specs : configs),
    kTicks: uniq(specs.map((c) => c.k as number)).sort(byNum),
  };
}

/** The baseline with the same length, cache, weights and prompts as `c`. */
export function findBaseline(v: ReportView, c: Cfg): Cfg | undefined {
  return v.baselines.find((b) =>
    b.maxNewTokens === c.maxNewTokens && b.cache === c.cache && b.cacheSize === c.cacheSize &&
    b.quant === c.quant && b.promptType === c.promptType
  );
}

/** The speculative run with the highest measured speedup. */
export function bestConfig(v: ReportView): Cfg | undefined {
  let best: Cfg | undefined;
  for (const c of v.specs) {
    if (c.measuredSpeedup == null) continue;
    if (!best || c.measuredSpeedup > (best.measuredSpeedup ?? -Infinity)) best = c;
  }
  return best;
}

/** Tooltip lines for a configuration: its id, then the given lines. */
export function configTip(c: Cfg, lines: string[]): string[] {
  return [c.id, ...lines];
}

/** Groups the speculative configs of a slice into one series per output length (and prompt type). */
export function lengthGroups(v: ReportView, slice: Slice) {
  const pool = v.specs.filter((c) => inSlice(c, slice));
  const keys = uniq(pool.map((c) => `${c.maxNewTokens}\u0000${c.promptType}`));
  const lengths = uniq(pool.map((c) => c.maxNewTokens)).sort(byNum);
  keys.sort((a, b) => {
    const [na, pa] = a.split("\u0000");
    const [nb, pb] = b.split("\u0000");
    return Number(na) - Number(nb) || pa.localeCompare(pb);
  });
  return keys.map((key, i) => {
    const [n, promptType] = key.split("\u0000");
    const members = pool
      .filter((c) => c.maxNewTokens === Number(n) && c.promptType === promptType)
      .sort((a, b) => (a.k ?? 0) - (b.k ?? 0));
    const label = `N = ${n}${v.multiPrompt ? ` · ${promptType}` : ""}`;
    const baseline = members.length > 0 ? findBaseline(v, members[0]) : undefined;
    return {
      key,
      label,
      color: color(lengths.length > 0 ? i : 0),
      members,
      baseline,
    };
  });
}

/** The no-data sentence of a chart of speculative runs. */
export const NO_SPEC = "No speculative runs in this results file (baseline-only sweep).";

/** The elements of a section the drawer fills: the chart body and the caption above it. */
export interface SectionHost {
  body: HTMLElement;
  caption: HTMLElement;
}

/** Draws one registered section (see report/sections.ts) from the results. */
export type SectionDraw = (host: SectionHost, view: ReportView) => void;
