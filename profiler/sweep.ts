/**
 * `deno task profile`: the seed's experiment grid in one command. For every quantization,
 * cache, output length and prompt type it measures a plain greedy baseline and speculative
 * decoding at each K, times every draft, verify and target pass on the GPU, and checks
 * the measured speedups against the analytic models.
 */
import { type Gpu, gpuIdle, settleDeviceLoss } from "../engine/device.ts";
import { NeoxError } from "../engine/errors.ts";
import { loadModel } from "../engine/load.ts";
import { greedyGenerate } from "../engine/generate.ts";
import { loadConfig } from "../engine/config.ts";
import { calibrateDevice } from "./calibrate.ts";
import { simulate } from "./simulator.ts";
import { FULL_CACHE, liveEntries, sinkWindowCache } from "../engine/cache_policy.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import type { TextCodec } from "../engine/tokenizer.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { calibrateNsPerTick, GpuTimer } from "./gpu_timer.ts";
import { speculativeMetrics, timingMetrics } from "./metrics.ts";
import { stat } from "./stats.ts";
import { predictConfig, summarizePredictions } from "./analytic.ts";
import { TraceRecorder } from "./trace.ts";
import { BUILTIN_PROMPTS } from "./prompts.ts";
import { profilePasses } from "./kernel_profile.ts";
import {
  type ConfigResult,
  type ModelInfo,
  modelInfo,
  RESULTS_SCHEMA,
  type ResultsFile,
} from "./results.ts";

export { replayCounts } from "./replay.ts";

/** New tokens of the warm-up run before each configuration's samples. */
export const WARMUP_TOKENS = 8;

/** What to sweep. */
export interface SweepOptions {
  targetModel: string;
  draftModel: string;
  kValues: number[];
  maxNewTokens: number[];
  /** Cache capacities; null is a full cache. */
  cacheLens: (number | null)[];
  promptTypes: string[];
  /** A custom prompt (replaces the built-in prompt set). */
  prompt?: string;
  numSamples: number;
  quant: ("fp16" | "int8")[];
  /** Progress lines go here (stderr). */
  progress?: (line: string) => void;
  trace?: TraceRecorder;
  /** Profile every kernel of the target decode, draft decode and verify (smallest K) passes. */
  perKernel?: boolean;
  /** Acceptance replay: accept counts per round for a given K (see replayCounts). */
  replay?: { alpha?: number; trace?: string; counts: (k: number) => number[] };
  version: string;
  /** Aborted (e.g. on Ctrl-C): the sweep stops before its next sample, keeping what finished. */
  signal?: AbortSignal;
}

interface PromptCase {
  name: string;
  kind: string;
  text: string;
  ids: number[];
}

const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

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
  const prompts: PromptCase[] = [];
  if (o.prompt !== undefined) {
    if (!codec) throw new Error("a custom prompt needs a tokenizer");
    prompts.push({ name: "custom", kind: "custom", text: o.prompt, ids: codec.encode(o.prompt) });
  } else {
    for (const p of BUILTIN_PROMPTS) {
      if (!o.promptTypes.includes(p.kind)) continue;
      const ids = codec
        ? codec.encode(p.text)
        : Array.from({ length: p.kind === "long" ? 66 : 20 }, (_, i) => 1 + i);
      prompts.push({ ...p, ids });
    }
  }
  const kinds = [...new Set(prompts.map((p) => p.kind))];
  const configs: ConfigResult[] = [];
  const groups = o.quant.length * o.cacheLens.length * o.maxNewTokens.length * kinds.length;
  const total = groups * (1 + o.kValues.length);
  let done = 0;
  let nsPerTick = 1;
  let info: { target: ModelInfo; draft: ModelInfo | null } | null = null;
  const timer = gpu.hasTimestamps ? new GpuTimer(gpu, 2048) : null;
  const kernels: ResultsFile["kernels"] = [];
  let kernelDraftDone = false;
  const traceT0 = performance.now();

  const finish = (): ResultsFile => ({
    schema: RESULTS_SCHEMA,
    tool: { name: "neox-spec", version: o.version },
    createdAt: new Date().toISOString(),
    device: {
      description: gpu.adapterInfo.description || gpu.adapterInfo.device || "unknown",
      vendor: gpu.adapterInfo.vendor,
      architecture: gpu.adapterInfo.architecture,
      isFallbackAdapter: Boolean(
        (gpu.adapterInfo as { isFallbackAdapter?: boolean }).isFallbackAdapter,
      ),
      features: [...gpu.device.features].map(String).sort(),
    },
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
    analytic: summarizePredictions(configs),
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
    if (timer && nsPerTick === 1) {
      const seq = target.newSequence({ capacity: 8, maxTokens: 8, maxT: 1 });
      const plan = seq.plan(1, { logits: "last", argmax: false, advance: false });
      nsPerTick = (await calibrateNsPerTick(gpu, (pass, r) => {
        for (let i = 0; i < r; i++) encodeDispatches(pass, plan);
      })).nsPerTick;
      seq.destroy();
    }
    const ms = (ticks: number[]) => mean(ticks) * nsPerTick / 1e6;
    if (o.perKernel && timer) {
      // Once per model: mid-generation cache length of the first prompt and output length.
      log(`per-kernel profile (${quant})`);
      const rows = await profilePasses(target, kernelDraftDone ? null : draft, {
        k: Math.min(...o.kValues),
        cacheLen: (prompts[0]?.ids.length ?? 1) + Math.floor(o.maxNewTokens[0] / 2),
        timer,
        nsPerTick,
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
          const idBase = `n${maxNew}-${cache}${cacheSize ?? ""}-${quant}-${kind}`;
          const policy = cacheSize === null ? FULL_CACHE : sinkWindowCache(cacheSize);

          // One sample = every prompt of this kind once; throughput over all of them.
          const measure = async (
            run: (
              p: PromptCase,
              n: number,
            ) => Promise<
              {
                ttftMs: number;
                decodeMs: number;
                gpuWaits: number;
                rounds?: number[];
                kvBytes: number;
                peakBytes: number;
                compressionEvents: number;
              }
            >,
            label: string,
          ) => {
            const tput: number[] = [], ttft: number[] = [], tpot: number[] = [];
            let waits = 0, tokens = 0, kvBytes = 0, peakBytes = 0, events = 0, runs = 0;
            const rounds: number[] = [];
            const passTicks = {
              draft: [] as number[],
              verify: [] as number[],
              target: [] as number[],
            };
            for (let s = 0; s <= o.numSamples; s++) {
              if (o.signal?.aborted) throw new NeoxError("interrupted (Ctrl-C)");
              let time = 0, first = 0, decode = 0;
              for (const p of cases) {
                timer?.reset();
                const wall0 = performance.now();
                // Sample 0 is a short warm-up (pipelines compile, caches fill): not recorded.
                const r = await run(p, s === 0 ? Math.min(maxNew, WARMUP_TOKENS) : maxNew);
                const wall1 = performance.now();
                if (s === 0) continue; // warm-up
                time += r.ttftMs + r.decodeMs;
                first += r.ttftMs;
                decode +=
                  timingMetrics({ ttftMs: r.ttftMs, decodeMs: r.decodeMs, newTokens: maxNew })
                    .tpotMs;
                waits += r.gpuWaits;
                tokens += maxNew;
                kvBytes = Math.max(kvBytes, r.kvBytes);
                peakBytes = Math.max(peakBytes, r.peakBytes);
                events += r.compressionEvents;
                runs++;
                if (r.rounds) rounds.push(...r.rounds);
                if (timer) {
                  await timer.resolve();
                  for (const k of ["draft", "verify", "target"] as const) {
                    passTicks[k].push(...timer.ticks(k));
                  }
                  if (o.trace) {
                    const spans = timer.spans();
                    const t0 = spans.length ? spans[0].begin : 0;
                    const wallStart = wall0 - traceT0;
                    o.trace.span("cpu-encode", `${label} ${p.name}`, wallStart, wall1 - wall0);
                    for (const sp of spans) {
                      o.trace.span(
                        `gpu-${sp.name === "prefill" ? "target" : sp.name}`,
                        sp.name,
                        wallStart + (sp.begin - t0) * nsPerTick / 1e6,
                        (sp.end - sp.begin) * nsPerTick / 1e6,
                      );
                    }
                  }
                }
              }
              if (s === 0) continue;
              tput.push((cases.length * maxNew) / (time / 1000));
              ttft.push(first / cases.length);
              tpot.push(decode / cases.length);
            }
            return {
              throughputTokS: stat(tput),
              ttftMs: stat(ttft),
              tpotMs: stat(tpot),
              gpuWaitsPerToken: tokens ? waits / tokens : 0,
              kvBytes,
              peakBytes,
              compressionEvents: runs ? events / runs : 0,
              rounds,
              tDraftMs: passTicks.draft.length ? ms(passTicks.draft) : null,
              tVerifyMs: passTicks.verify.length ? ms(passTicks.verify) : null,
              tTargetMs: passTicks.target.length ? ms(passTicks.target) : null,
            };
          };

          log(`[${++done}/${total}] baseline ${idBase}`);
          const base = await measure(
            (p, n) => greedyGenerate(target, p.ids, n, { hook: timer ?? undefined, cache: policy }),
            "baseline",
          );
          const baseline: ConfigResult = {
            id: `base-${idBase}`,
            mode: "baseline",
            k: null,
            maxNewTokens: maxNew,
            cache,
            cacheSize,
            quant,
            promptType: kind,
            throughputTokS: base.throughputTokS,
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
            predictions: null,
          };
          configs.push(baseline);

          for (const k of o.kValues) {
            log(`[${++done}/${total}] speculative K=${k} ${idBase}`);
            const r = await measure(
              (p, n) =>
                speculativeGenerate(target, draft, p.ids, {
                  k,
                  maxNewTokens: n,
                  replay: o.replay?.counts(k),
                  hook: timer ?? undefined,
                  cache: policy,
                }),
              `K=${k}`,
            );
            const m = speculativeMetrics(r.rounds, k, cases.length * o.numSamples * maxNew);
            const tTargetMs = base.tTargetMs;
            const cfg: ConfigResult = {
              id: `spec-k${k}-${idBase}`,
              mode: "speculative",
              k,
              maxNewTokens: maxNew,
              cache,
              cacheSize,
              quant,
              promptType: kind,
              throughputTokS: r.throughputTokS,
              ttftMs: r.ttftMs,
              tpotMs: r.tpotMs,
              draftAcceptanceRate: m.draftAcceptanceRate,
              meanTokensPerRound: m.meanTokensPerRound,
              perPositionAcceptance: m.perPositionAcceptance,
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
              predictions: null,
            };
            const pred = predictConfig(cfg);
            if (pred) {
              cfg.alphaPerToken = pred.alphaPerToken;
              cfg.predictions = pred.predictions;
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
  log("simulator check: calibrating a device profile");
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
  const profile = await calibrateDevice(gpu);
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
    "seed",
    "leviathan",
    "refined",
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
      f(c.predictions?.seed.speedup),
      f(c.predictions?.leviathan.speedup),
      f(c.predictions?.refined.speedup),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ")
  );
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const errs = r.analytic.summary.map((s) => `${s.model} ${s.meanAbsPctError.toFixed(1)}%`).join(
    ", ",
  );
  lines.push("", `mean |prediction error|: ${errs || "-"}; best: ${r.analytic.best}`);
  if (r.simulator && r.simulator.rows.length) {
    lines.push(
      `simulator (device profile calibrated in this run): mean |throughput error| ${
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
