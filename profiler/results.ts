/**
 * The results JSON that `deno task profile` writes and `mod.ts report` renders.
 * One file describes one sweep: the device, the models, every configuration measured,
 * and how well each analytic model predicted the measured speedups.
 */

import type { NeoxModel } from "../engine/model.ts";

/** Schema tag written into every results file. */
export const RESULTS_SCHEMA = "neox-spec/results@1";

import type { TickCalibrationInfo } from "./gpu_timer.ts";
import type { MachineDescription } from "./device_info.ts";
import type { IidCheck } from "./acceptance.ts";

/**
 * What a results file keeps of one acceptance measurement (profiler/acceptance.ts, made
 * without speculation before the sweep): per prompt kind, alpha, the i.i.d. check and the
 * per-position curve; not the agreement sequences or the per-K rounds.
 */
export interface AcceptanceSummary {
  quant: "fp16" | "int8";
  cache: "full" | "sink";
  /** Sink cache capacity; null for a full cache. */
  cacheSize: number | null;
  temperature: number;
  maxNewTokens: number;
  byKind: Record<string, {
    alpha: number;
    positions: number;
    /** expectedRunLength is null when alpha = 1 (JSON has no Infinity). */
    iid: Omit<IidCheck, "expectedRunLength"> & { expectedRunLength: number | null };
    perPositionAcceptance: number[];
  }>;
}

/** Mean and spread of one measured quantity over samples (warm-up excluded). */
export interface Stat {
  mean: number;
  std: number;
  min: number;
  max: number;
  /** Number of samples. */
  n: number;
}

/** A model as the sweep ran it. */
export interface ModelInfo {
  /**
   * Folder path or `synthetic:pythia-70m` style name. A report shows only the folder's
   * name (see {@link modelName}), never the path on the machine that ran the sweep.
   */
  path: string;
  params: number;
  layers: number;
  hidden: number;
  heads: number;
  vocab: number;
  /** Bytes of weights on the GPU (after quantization, if any). */
  weightBytes: number;
  /** "fp16", "fp32" or "int8". */
  dtype: string;
}

/**
 * The name a shared report gives a model or file: the last component of its path (either
 * separator; trailing separators ignored), or a `synthetic:` name as it is.
 */
export function modelName(path: string): string {
  return path.split(/[\\/]+/).filter((part) => part !== "").at(-1) ?? path;
}

/** A loaded model as a results file describes it; `quant` is the sweep's weight setting. */
export function modelInfo(m: NeoxModel, quant: string): ModelInfo {
  const c = m.cfg;
  const wt = m.weights.embedOut.wt as string;
  return {
    path: m.source,
    params: m.params,
    layers: c.numLayers,
    hidden: c.hiddenSize,
    heads: c.numHeads,
    vocab: c.vocabSize,
    weightBytes: m.weightBytes,
    dtype: quant === "int8" ? "int8" : wt === "f16" ? "fp16" : "fp32",
  };
}

/** The out-of-sample prediction of one configuration (profiler/predict.ts), with its errors. */
export interface ConfigPrediction {
  tokensPerRound: number | null;
  throughputTokS: number;
  speedup: { seed: number | null; leviathan: number | null; costAware: number };
  /** 100 * (predicted - measured) / measured, filled in after the run. */
  errorPct?: {
    throughputTokS: number;
    tokensPerRound: number | null;
    speedup: { seed: number | null; leviathan: number | null; costAware: number };
  };
}

/** One analytic prediction of the speedup and its error against the measured one. */
export interface Prediction {
  speedup: number;
  /** 100 * (predicted - measured) / measured. */
  errorPct: number;
}

/** One configuration of the sweep: a baseline (plain decoding) or a speculative run. */
export interface ConfigResult {
  /** Unique, readable id, e.g. "spec-k5-n64-full-fp16-medium". */
  id: string;
  mode: "baseline" | "speculative" | "tree";
  /** Draft length K (a tree's depth); null for baselines. */
  k: number | null;
  /**
   * Token trees: the tree (`4,2,1` or `auto:16`), draft nodes the target verifies per round,
   * tokens per verify (= meanTokensPerRound) and accepted nodes by sibling rank per depth.
   */
  tree?: {
    spec: string;
    nodesPerVerify: number;
    tokensPerVerify: number;
    acceptedRankByDepth: number[][];
  };
  maxNewTokens: number;
  cache: "full" | "sink";
  /** Cache capacity C for sink caches; null for a full cache. */
  cacheSize: number | null;
  quant: "fp16" | "int8";
  promptType: string;
  throughputTokS: Stat;
  ttftMs: Stat;
  tpotMs: Stat;
  draftAcceptanceRate: number | null;
  meanTokensPerRound: number | null;
  perPositionAcceptance: number[] | null;
  /** GPU time of one draft pass (1 token). */
  tDraftMs: number | null;
  /** GPU time of one plain target decode pass (1 token). */
  tTargetMs: number | null;
  /** GPU time of one verify pass (K+1 tokens; a tree's nodes + 1). */
  tVerifyMs: number | null;
  /** tDraftMs / tTargetMs. */
  c: number | null;
  compressionEvents: number;
  kvBytes: number;
  peakBytes: number;
  weightBytes: number;
  gpuWaitsPerToken: number;
  /** throughput / throughput of the baseline with the same cache, quant, length, prompts. */
  measuredSpeedup: number | null;
  /** Per-token acceptance a that makes Leviathan's E[tokens/round] equal the measured tau. */
  alphaPerToken: number | null;
  /**
   * In-sample accounting: the analytic formulas fed with this run's own alpha and pass
   * times (so they cannot fail); NOT a prediction. See `predicted` for the out-of-sample one.
   */
  accounting: { seed: Prediction; leviathan: Prediction; refined: Prediction } | null;
  /** 95% confidence interval of the mean throughput (profiler/stats.ts meanInterval). */
  throughputCi?: { halfWidth: number; relHalfWidth: number; level: number; method: string };
  /** The out-of-sample prediction of this configuration, made before it ran. */
  predicted?: ConfigPrediction;
}

/** GPU time of one kernel in one pass kind (from `--per-kernel`). */
export interface KernelTiming {
  name: string;
  /** "draft", "target" or "verify". */
  pass: string;
  shape: string;
  ms: number;
}

/** KV-cache bytes as generation proceeds, for one cache policy. */
export interface MemorySeries {
  cache: "full" | "sink";
  cacheSize: number | null;
  points: { generatedTokens: number; kvBytes: number }[];
}

/** A whole results file. */
export interface ResultsFile {
  schema: typeof RESULTS_SCHEMA;
  tool: { name: "neox-spec"; version: string };
  /** ISO 8601 time the sweep finished. */
  createdAt: string;
  /** The adapter and, where known, the CPU it runs on (profiler/device_info.ts). */
  device: MachineDescription;
  models: { target: ModelInfo; draft: ModelInfo | null };
  settings: {
    kValues: number[];
    maxNewTokens: number[];
    cacheSizes: (number | null)[];
    promptTypes: string[];
    numSamples: number;
    quant: string[];
    temperature: number;
    /**
     * Acceptance replay: accept decisions came from a per-token acceptance (alpha) or a
     * recorded trace, not from comparing the models' outputs (synthetic pairs).
     */
    replay?: { alpha?: number; trace?: string };
    /**
     * How pass times were taken: GPU timestamps around every pass, or (adapters without
     * timestamp-query) wall time over many passes in one submit. Absent: timestamps.
     */
    timing?: "gpu-timestamps" | "wall-clock";
  };
  prompts: { name: string; kind: string; text: string; ids: number[] }[];
  configs: ConfigResult[];
  analytic: {
    /** Mean absolute % error of each model over all speculative configurations. */
    summary: { model: "seed" | "leviathan" | "refined"; meanAbsPctError: number }[];
    /** Name of the model with the lowest mean absolute % error. */
    best: string;
    /** How alphaPerToken was estimated, in words. */
    alphaNote: string;
  };
  kernels: KernelTiming[];
  memory: MemorySeries[];
  /** How GPU ticks became ms and whether the timer dropped passes (never hidden). */
  timing?: {
    /** null: no timestamp queries. fallback true: 1 ns/tick assumed (< 2 usable pairs). */
    tickCalibration: TickCalibrationInfo | null;
    /** Passes left untimed because a timer's capacity ran out (0 when none). */
    timerOverflowPasses: number;
    timerCapacity: number;
  };
  /**
   * Out-of-sample predictions made before any configuration ran, from an acceptance file
   * (measured without speculation) and a device profile (calibrate), and their errors.
   */
  predictions?: {
    device: string;
    acceptance: string[];
    rows: ({ id: string } & ConfigPrediction)[];
    /** Mean absolute % error over configurations, per model (null when none). */
    summary: {
      model: "seed" | "leviathan" | "costAware";
      speedupMeanAbsPctError: number | null;
      throughputMeanAbsPctError: number | null;
      n: number;
    }[];
    /** Mean absolute % error of predicted tokens/round (0 for exact greedy chains). */
    tokensPerRoundMeanAbsPctError: number | null;
    /** The acceptance the predictions used, one per quant x cache (absent in older files). */
    acceptanceSummary?: AcceptanceSummary[];
    /** Static token trees (cost-aware only: the chain's formulas do not describe trees). */
    trees?: {
      speedupMeanAbsPctError: number;
      throughputMeanAbsPctError: number;
      tokensPerRoundMeanAbsPctError: number | null;
      n: number;
    };
  };
  /** Why the sweep stopped early (e.g. the GPU device was lost); absent when it finished. */
  interrupted?: string;
  /**
   * The simulator checked against this sweep: the device profile of the predictions
   * (calibrated in the same run, or read with --device) predicts each speculative
   * configuration's throughput from the model shapes and its measured per-token acceptance.
   */
  simulator?: {
    device: Record<string, unknown>;
    rows: { id: string; predictedTokS: number; measuredTokS: number; errorPct: number }[];
    meanAbsPctError: number;
  };
}
