/**
 * `deno task profile`: the seed's experiment grid in one command. For every quantization,
 * cache, output length and prompt type it measures a plain greedy baseline and speculative
 * decoding at each K, times every draft, verify and target pass on the GPU, and checks
 * the measured speedups against the analytic models.
 */
import { type Gpu, gpuIdle, settleDeviceLoss } from "../engine/device.ts";
import { NeoxError } from "../engine/errors.ts";
import { describeMachine } from "./device_info.ts";
import { loadModel } from "../engine/load.ts";
import { loadConfig } from "../engine/config.ts";
import { calibrateDevice } from "./calibrate.ts";
import { type DeviceProfile, simulate } from "./simulator.ts";
import { FULL_CACHE, liveEntries, sinkWindowCache } from "../engine/cache_policy.ts";
import type { TextCodec } from "../engine/tokenizer.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { GpuTimer, type TickCalibrationInfo } from "./gpu_timer.ts";
import { speculativeMetrics } from "./metrics.ts";
import { mean, meanInterval, stat } from "./stats.ts";
import { accountConfig, summarizeAccounting } from "./analytic.ts";
import { type RunConfig, runSample, type Sample, warmUp } from "./measure.ts";
import { parseTreeSpec, treeMetrics, treeName } from "../engine/tree_speculative.ts";
import { TraceRecorder } from "./trace.ts";
import { configId, promptCases } from "./prompts.ts";
import { profilePasses } from "./kernel_profile.ts";
import {
  type ConfigResult,
  type ModelInfo,
  modelInfo,
  RESULTS_SCHEMA,
  type ResultsFile,
} from "./results.ts";

export { replayCounts } from "./replay.ts";

export { WARMUP_TOKENS } from "./measure.ts";

/** What to sweep. */
export interface SweepOptions {
  targetModel: string;
  draftModel: string;
  kValues: number[];
  /** Token trees measured beside the chain: `4,2,1` or `auto:16` (engine parseTreeSpec). */
  trees?: string[];
  maxNewTokens: number[];
  /** Cache capacities; null is a full cache. */
  cacheLens: (number | null)[];
  promptTypes: string[];
  /** A custom prompt (replaces the built-in prompt set). */
  prompt?: string;
  /** Samples per configuration at least (interleaved within a group). */
  numSamples: number;
  /** Samples per configuration at most while a CI is wider than ciTarget (default numSamples). */
  maxSamples?: number;
  /** Target relative half-width of the 95% CI of mean throughput (default 0.05). */
  ciTarget?: number;
  /** Wall-time budget per group for extra samples, s (default unlimited). */
  timeBudgetS?: number;
  quant: ("fp16" | "int8")[];
  /** Progress lines go here (stderr). */
  progress?: (line: string) => void;
  trace?: TraceRecorder;
  /** Profile every kernel of the target decode, draft decode and verify (smallest K) passes. */
  perKernel?: boolean;
  /** Acceptance replay: accept counts per round for a given K (see replayCounts). */
  replay?: { alpha?: number; trace?: string; counts: (k: number) => number[] };
  version: string;
  /** A device profile measured already (the simulator check reuses it, no recalibration). */
  device?: DeviceProfile;
  /** Aborted (e.g. on Ctrl-C): the sweep stops before its next sample, keeping what finished. */
  signal?: AbortSignal;
}

/** What the samples of one configuration add up to. */
interface Accumulator {
  tput: number[];
  ttft: number[];
  tpot: number[];
  waits: number;
  tokens: number;
  kvBytes: number;
  peakBytes: number;
  events: number;
  runs: number;
  rounds: number[];
  /** Sibling ranks of accepted nodes per round (trees). */
  ranks: number[][];
  passMs: { draft: number[]; verify: number[]; target: number[] };
}

function newAccumulator(): Accumulator {
  return {
    tput: [],
    ttft: [],
    tpot: [],
    waits: 0,
    tokens: 0,
    kvBytes: 0,
    peakBytes: 0,
    events: 0,
    runs: 0,
    rounds: [],
    ranks: [],
    passMs: { draft: [], verify: [], target: [] },
  };
}

function accumulate(a: Accumulator, s: Sample, n: number): void {
  a.tput.push(s.throughputTokS);
  a.ttft.push(s.ttftMs);
  a.tpot.push(s.tpotMs);
  for (const r of s.runs) {
    a.waits += r.gpuWaits;
    a.tokens += n;
    a.kvBytes = Math.max(a.kvBytes, r.kvBytes);
    a.peakBytes = Math.max(a.peakBytes, r.peakBytes);
    a.events += r.compressionEvents;
    a.runs++;
    if (r.rounds) a.rounds.push(...r.rounds);
    if (r.ranks) a.ranks.push(...r.ranks);
    for (const k of ["draft", "verify", "target"] as const) {
      a.passMs[k].push(...(r.passMs[k] ?? []));
    }
  }
}

function summarize(a: Accumulator) {
  const ms = (xs: number[]) => (xs.length ? mean(xs) : null);
  const ci = meanInterval(a.tput);
  return {
    throughputTokS: stat(a.tput),
    throughputCi: {
      halfWidth: Number.isFinite(ci.halfWidth) ? ci.halfWidth : -1,
      relHalfWidth: Number.isFinite(ci.relHalfWidth) ? ci.relHalfWidth : -1,
      level: ci.level,
      method: `${ci.method} (halfWidth -1: fewer than 2 samples)`,
    },
    ttftMs: stat(a.ttft),
    tpotMs: stat(a.tpot),
    gpuWaitsPerToken: a.tokens ? a.waits / a.tokens : 0,
    kvBytes: a.kvBytes,
    peakBytes: a.peakBytes,
    compressionEvents: a.runs ? a.events / a.runs : 0,
    tDraftMs: ms(a.passMs.draft),
    tVerifyMs: ms(a.passMs.verify),
    tTargetMs: ms(a.passMs.target),
  };
}

/**
 * A sweep that failed part-way (e.g. the GPU device was lost): the message says why, and
 * `results` holds every configuration finished before the failure.
 */
export class SweepInterrupted extends NeoxError {
  /** The results file so far, with `interrupted` set to the reason. */
  readonly results: ResultsFile;
  constructor(reason: string, results: ResultsFile) {
    super(reason);
    this.name = "SweepInterrupted";
    this.results = results;
  }
}

/**
 * Runs the sweep and returns the results file (not yet written).
 *
 * @throws SweepInterrupted when it fails after at least one configuration finished
 */
export async function runSweep(
  gpu: Gpu,
  codec: TextCodec | null,
  o: SweepOptions,
): Promise<ResultsFile> {
  const sofar: { results: (() => ResultsFile | null) | null } = { results: null };
  try {
    return await sweepAll(gpu, codec, o, sofar);
  } catch (e) {
    const partial = sofar.results?.();
    if (!partial || partial.configs.length === 0) throw e;
    const lost = await settleDeviceLoss(gpu);
    const why = e instanceof NeoxError ? e.message : String((e as Error)?.message ?? e);
    const reason = lost ? `GPU failure: ${lost}` : why.split("\n")[0];
    throw new SweepInterrupted(reason, { ...partial, interrupted: reason });
  }
}

async function sweepAll(
  gpu: Gpu,
  codec: TextCodec | null,
  o: SweepOptions,
  sofar: { results: (() => ResultsFile | null) | null },
): Promise<ResultsFile> {
  const log = o.progress ?? (() => {});
  const prompts = promptCases(codec, o.promptTypes, o.prompt);
  const kinds = [...new Set(prompts.map((p) => p.kind))];
  const configs: ConfigResult[] = [];
  const groups = o.quant.length * o.cacheLens.length * o.maxNewTokens.length * kinds.length;
  const trees = (o.trees ?? []).map((spec) => ({ spec, tree: parseTreeSpec(spec) }));
  const total = groups * (1 + o.kValues.length + trees.length);
  let done = 0;
  let tickCalibration: TickCalibrationInfo | null = null;
  let info: { target: ModelInfo; draft: ModelInfo | null } | null = null;
  const timer = gpu.hasTimestamps ? new GpuTimer(gpu, 2048) : null;
  const kernels: ResultsFile["kernels"] = [];
  let kernelDraftDone = false;
  const traceT0 = performance.now();

  const finish = (): ResultsFile => ({
    schema: RESULTS_SCHEMA,
    tool: { name: "neox-spec", version: o.version },
    createdAt: new Date().toISOString(),
    device: describeMachine(gpu),
    models: info!,
    settings: {
      kValues: o.kValues,
      maxNewTokens: o.maxNewTokens,
      cacheSizes: o.cacheLens,
      promptTypes: kinds,
      numSamples: o.numSamples,
      quant: o.quant,
      temperature: 0,
      ...(o.replay ? { replay: { alpha: o.replay.alpha, trace: o.replay.trace } } : {}),
    },
    prompts: prompts.map((p) => ({ name: p.name, kind: p.kind, text: p.text, ids: p.ids })),
    configs,
    analytic: summarizeAccounting(configs),
    timing: {
      tickCalibration,
      timerOverflowPasses: timer?.overflowPasses ?? 0,
      timerCapacity: timer?.capacity ?? 0,
    },
    kernels,
    memory: memorySeries(o, info!.target, prompts),
  });
  sofar.results = () => info ? finish() : null;

  for (const quant of o.quant) {
    const target = await loadModel(
      gpu,
      o.targetModel,
      quant === "int8" ? { quant: "int8" } : {},
    );
    const draft = await loadModel(gpu, o.draftModel);
    info ??= { target: modelInfo(target, quant), draft: modelInfo(draft, "fp16") };
    if (timer && !tickCalibration) {
      const seq = target.newSequence({ capacity: 8, maxTokens: 8, maxT: 1 });
      const plan = seq.plan(1, { logits: "last", argmax: false, advance: false });
      tickCalibration = await timer.calibrate((pass, r) => {
        for (let i = 0; i < r; i++) encodeDispatches(pass, plan);
      });
      seq.destroy();
      if (tickCalibration.fallback) {
        log("warning: tick calibration had < 2 usable samples: 1 ns/tick assumed");
      }
    }
    if (o.perKernel && timer) {
      // Once per model: mid-generation cache length of the first prompt and output length.
      log(`per-kernel profile (${quant})`);
      const rows = await profilePasses(target, kernelDraftDone ? null : draft, {
        k: Math.min(...o.kValues),
        cacheLen: (prompts[0]?.ids.length ?? 1) + Math.floor(o.maxNewTokens[0] / 2),
        timer,
        nsPerTick: timer.nsPerTick,
        suffix: quant === "fp16" ? "" : ` ${quant}`,
      });
      kernelDraftDone = true;
      kernels.push(...rows.map((r) => ({ name: r.name, pass: r.pass, shape: r.shape, ms: r.ms })));
    }

    for (const cacheSize of o.cacheLens) {
      for (const maxNew of o.maxNewTokens) {
        for (const kind of kinds) {
          const cases = prompts.filter((p) => p.kind === kind);
          const cache = cacheSize === null ? "full" as const : "sink" as const;
          const idOf = (k: number | null, tree?: string) =>
            configId({
              k,
              treeName: tree,
              maxNewTokens: maxNew,
              cacheSize,
              quant,
              promptType: kind,
            });
          const idBase = idOf(null).slice("base-".length);
          const policy = cacheSize === null ? FULL_CACHE : sinkWindowCache(cacheSize);

          // The group's configurations (baseline, then each K) are measured interleaved:
          // sample s of every configuration runs before sample s + 1 of any, so a drift of
          // the machine's load hits them alike and the speedup ratio stays fair.
          const members: {
            id: string;
            label: string;
            k: number | null;
            tree?: (typeof trees)[number];
            run: RunConfig;
            acc: Accumulator;
          }[] = [
            { id: idOf(null), label: "baseline", k: null as number | null },
            ...o.kValues.map((k) => ({ id: idOf(k), label: `K=${k}`, k })),
          ].map((m) => ({
            ...m,
            run: m.k === null ? { mode: "baseline" as const, target, cache: policy } : {
              mode: "speculative" as const,
              target,
              draft,
              k: m.k,
              cache: policy,
              replay: o.replay?.counts(m.k),
            },
            acc: newAccumulator(),
          }));
          // Trees verify greedily with real acceptance (no replay: a replayed count says
          // nothing about which node of a tree was accepted).
          if (!o.replay) {
            for (const t of trees) {
              members.push({
                id: idOf(t.tree.widths.length, treeName(t.tree)),
                label: `tree ${t.spec}`,
                k: t.tree.widths.length,
                tree: t,
                run: { mode: "tree", target, draft, tree: t.tree, cache: policy },
                acc: newAccumulator(),
              });
            }
          }
          log(`[${done + 1}-${done + members.length}/${total}] warm-up ${idBase}`);
          for (const m of members) await warmUp(m.run, cases, maxNew);
          const group0 = performance.now();
          const maxSamples = Math.max(o.numSamples, o.maxSamples ?? o.numSamples);
          const ciTarget = o.ciTarget ?? 0.05;
          const budgetMs = (o.timeBudgetS ?? Infinity) * 1000;
          for (let s = 0;; s++) {
            if (s >= o.numSamples) {
              const wide = members.filter((m) => meanInterval(m.acc.tput).relHalfWidth > ciTarget);
              if (
                wide.length === 0 || s >= maxSamples || performance.now() - group0 >= budgetMs
              ) break;
            }
            for (const m of members) {
              if (o.signal?.aborted) throw new NeoxError("interrupted (Ctrl-C)");
              log(
                `[${done + 1}-${done + members.length}/${total}] ${m.label} ${idBase} sample ${
                  s + 1
                }`,
              );
              const sample = await runSample(m.run, cases, maxNew, timer);
              accumulate(m.acc, sample, maxNew);
              if (o.trace) {
                sample.runs.forEach((r, i) => {
                  const wallStart = r.wallStartMs - traceT0;
                  const what = `${m.label} ${cases[i].name}`;
                  o.trace!.span("cpu-encode", what, wallStart, r.wallEndMs - r.wallStartMs);
                  for (const sp of r.spans) {
                    o.trace!.span(
                      `gpu-${sp.name === "prefill" ? "target" : sp.name}`,
                      sp.name,
                      wallStart + sp.beginMs,
                      sp.durationMs,
                    );
                  }
                });
              }
            }
          }
          done += members.length;

          const base = summarize(members[0].acc);
          const baseline: ConfigResult = {
            id: members[0].id,
            mode: "baseline",
            k: null,
            maxNewTokens: maxNew,
            cache,
            cacheSize,
            quant,
            promptType: kind,
            throughputTokS: base.throughputTokS,
            throughputCi: base.throughputCi,
            ttftMs: base.ttftMs,
            tpotMs: base.tpotMs,
            draftAcceptanceRate: null,
            meanTokensPerRound: null,
            perPositionAcceptance: null,
            tDraftMs: null,
            tTargetMs: base.tTargetMs,
            tVerifyMs: null,
            c: null,
            compressionEvents: base.compressionEvents,
            kvBytes: base.kvBytes,
            peakBytes: base.peakBytes,
            weightBytes: target.weightBytes,
            gpuWaitsPerToken: base.gpuWaitsPerToken,
            measuredSpeedup: 1,
            alphaPerToken: null,
            accounting: null,
          };
          configs.push(baseline);

          for (const m of members.slice(1)) {
            const k = m.k!;
            const r = summarize(m.acc);
            const met = speculativeMetrics(m.acc.rounds, k, m.acc.runs * maxNew);
            const tm = m.tree ? treeMetrics(m.tree.tree, m.acc.rounds, m.acc.ranks) : null;
            const tTargetMs = base.tTargetMs;
            const cfg: ConfigResult = {
              id: m.id,
              mode: m.tree ? "tree" : "speculative",
              k,
              ...(m.tree && tm
                ? {
                  tree: {
                    spec: m.tree.spec,
                    nodesPerVerify: tm.nodesPerVerify,
                    tokensPerVerify: tm.meanTokensPerRound,
                    acceptedRankByDepth: tm.acceptedRankByDepth,
                  },
                }
                : {}),
              maxNewTokens: maxNew,
              cache,
              cacheSize,
              quant,
              promptType: kind,
              throughputTokS: r.throughputTokS,
              throughputCi: r.throughputCi,
              ttftMs: r.ttftMs,
              tpotMs: r.tpotMs,
              // A tree proposes all its nodes: accepted / proposed counts every node.
              draftAcceptanceRate: tm
                ? met.draftAcceptanceRate * k / tm.nodesPerVerify
                : met.draftAcceptanceRate,
              meanTokensPerRound: met.meanTokensPerRound,
              perPositionAcceptance: met.perPositionAcceptance,
              tDraftMs: r.tDraftMs,
              tTargetMs,
              tVerifyMs: r.tVerifyMs,
              c: r.tDraftMs !== null && tTargetMs ? r.tDraftMs / tTargetMs : null,
              compressionEvents: r.compressionEvents,
              kvBytes: r.kvBytes,
              peakBytes: r.peakBytes,
              weightBytes: target.weightBytes + draft.weightBytes,
              gpuWaitsPerToken: r.gpuWaitsPerToken,
              measuredSpeedup: r.throughputTokS.mean / base.throughputTokS.mean,
              alphaPerToken: null,
              accounting: null,
            };
            // The chain's formulas (Leviathan, seed) do not describe a tree's rounds.
            const acct = m.tree ? null : accountConfig(cfg);
            if (acct) {
              cfg.alphaPerToken = acct.alphaPerToken;
              cfg.accounting = acct.accounting;
            }
            configs.push(cfg);
          }
        }
      }
    }
  }
  timer?.destroy();
  await gpuIdle(gpu);
  const results = finish();
  log(
    `simulator check${
      o.device ? " (the predictions' device profile)" : ": calibrating a device profile"
    }`,
  );
  results.simulator = await simulatorCheck(gpu, results, o);
  return results;
}

/**
 * Calibrates a device profile and predicts every speculative configuration's throughput with
 * the simulator (model shapes + the configuration's measured alphaPerToken), as a check of
 * the simulator against measurement on this machine.
 */
async function simulatorCheck(
  gpu: Gpu,
  r: ResultsFile,
  o: SweepOptions,
): Promise<NonNullable<ResultsFile["simulator"]>> {
  const profile = o.device ?? await calibrateDevice(gpu);
  const shape = (m: ModelInfo, bytes: number) => ({
    name: m.path,
    hidden: m.hidden,
    layers: m.layers,
    heads: m.heads,
    ff: 4 * m.hidden,
    vocab: m.vocab,
    bytesPerWeight: bytes,
  });
  const target = await loadConfigOrNull(o.targetModel);
  const draft = await loadConfigOrNull(o.draftModel);
  const rows = [];
  for (const c of r.configs) {
    if (c.mode !== "speculative" || c.k === null || c.alphaPerToken === null) continue;
    const t = shape(r.models.target, c.quant === "int8" ? 1 : 2);
    if (target) t.ff = target.intermediateSize;
    const d = shape(r.models.draft!, 2);
    if (draft) d.ff = draft.intermediateSize;
    const promptTokens = mean(
      r.prompts.filter((p) => p.kind === c.promptType).map((p) => p.ids.length),
    );
    const [sim] = simulate(profile, {
      target: t,
      draft: d,
      alpha: c.alphaPerToken,
      kValues: [c.k],
      newTokens: c.maxNewTokens,
      promptTokens,
      waitsPerToken: c.gpuWaitsPerToken,
    });
    const measured = c.throughputTokS.mean;
    rows.push({
      id: c.id,
      predictedTokS: sim.speculativeTokS,
      measuredTokS: measured,
      errorPct: (100 * (sim.speculativeTokS - measured)) / measured,
    });
  }
  return {
    device: profile as unknown as Record<string, unknown>,
    rows,
    meanAbsPctError: rows.length ? mean(rows.map((x) => Math.abs(x.errorPct))) : NaN,
  };
}

async function loadConfigOrNull(spec: string) {
  return spec.startsWith("synthetic:") ? null : await loadConfig(spec);
}

/** A fixed-width summary table of the sweep for the terminal. */
export function summaryTable(r: ResultsFile): string {
  const rows = [[
    "config",
    "tok/s",
    "TTFT ms",
    "TPOT ms",
    "accept",
    "tau",
    "c",
    "speedup",
    "acct seed",
    "acct lev",
    "acct refined",
    "pred seed",
    "pred lev",
    "pred cost",
  ]];
  const f = (x: number | null | undefined, d = 2) =>
    x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d);
  for (const c of r.configs) {
    rows.push([
      c.id,
      f(c.throughputTokS.mean, 1),
      f(c.ttftMs.mean, 1),
      f(c.tpotMs.mean, 1),
      f(c.draftAcceptanceRate),
      f(c.meanTokensPerRound),
      f(c.c),
      f(c.measuredSpeedup),
      f(c.accounting?.seed.speedup),
      f(c.accounting?.leviathan.speedup),
      f(c.accounting?.refined.speedup),
      f(c.predicted?.speedup.seed),
      f(c.predicted?.speedup.leviathan),
      f(c.predicted?.speedup.costAware),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ")
  );
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const d = r.device;
  lines.unshift(
    `device: ${d.description}${d.isFallbackAdapter ? " (fallback adapter)" : ""}; CPU: ${
      d.cpuModel ?? "unknown"
    }, ${d.cpuCores ?? "?"} cores (software adapters run on it: times are CPU times)`,
    "acct = in-sample accounting from the run itself; pred = predicted before the sweep ran",
  );
  const errs = r.analytic.summary.map((s) => `${s.model} ${s.meanAbsPctError.toFixed(1)}%`).join(
    ", ",
  );
  lines.push(
    "",
    `in-sample accounting (not predictions), mean |error|: ${
      errs || "-"
    }; best: ${r.analytic.best}`,
  );
  if (r.predictions) {
    const f1 = (x: number | null) => (x === null ? "-" : `${x.toFixed(1)}%`);
    lines.push(
      "out-of-sample predictions (made before the sweep ran), mean |error| of speedup / throughput: " +
        r.predictions.summary.map((s) =>
          `${s.model} ${f1(s.speedupMeanAbsPctError)} / ${f1(s.throughputMeanAbsPctError)}`
        ).join(", ") + `; tokens/round ${f1(r.predictions.tokensPerRoundMeanAbsPctError)}`,
    );
  }
  if (r.simulator && r.simulator.rows.length) {
    // The predictions' device source: "calibrated in this run" or the --device file.
    lines.push(
      `simulator (device profile: ${
        r.predictions?.device ?? "calibrated in this run"
      }): mean |throughput error| ${
        r.simulator.meanAbsPctError.toFixed(1)
      }% over ${r.simulator.rows.length} speculative configurations`,
    );
  }
  return lines.join("\n");
}

/**
 * Live KV-cache bytes of the target as generation proceeds, per cache of the sweep: the
 * entries the policy keeps after each token (prompt of the longest kind first) times the
 * bytes of one entry in all layers. A full cache grows linearly, a sink cache stays flat.
 */
function memorySeries(
  o: SweepOptions,
  target: ModelInfo,
  prompts: { ids: number[] }[],
): ResultsFile["memory"] {
  const entryBytes = 2 * target.layers * target.hidden * 4;
  const promptLen = Math.max(1, ...prompts.map((p) => p.ids.length));
  // Derived from the policy, so it can run past the sweep's lengths: long enough to show a
  // sink cache levelling off while a full cache keeps growing.
  const largest = Math.max(0, ...o.cacheLens.map((c) => c ?? 0));
  const n = Math.max(...o.maxNewTokens, 2 * largest);
  const step = Math.max(1, Math.floor(n / 32));
  return o.cacheLens.map((size) => {
    const policy = size === null ? FULL_CACHE : sinkWindowCache(size);
    const points = [];
    for (let g = 0; g <= n; g += step) {
      points.push({
        generatedTokens: g,
        kvBytes: liveEntries(policy, promptLen + g - 1) * entryBytes,
      });
    }
    return { cache: size === null ? "full" as const : "sink" as const, cacheSize: size, points };
  });
}
