/**
 * The sweep a report reader runs on their own GPU (report section "Measure on this GPU"): a
 * synthetic Pythia pair made on the GPU, acceptance replayed from an alpha (the real draft and
 * verify kernels run; how many drafts are kept comes from the alpha), a baseline and one
 * speculative run per K, written as a results file. No Deno, no DOM, no file reading: the
 * report bundles it with the engine, and Deno can run it too (tests, comparisons).
 *
 * Pass times: GPU timestamps around every pass when the adapter has timestamp-query (as the
 * sweep takes them); otherwise wall time over many passes encoded into one submit, the
 * difference of two pass counts so the fixed cost of a submit and wait cancels.
 */
import { type Gpu, gpuIdle } from "../engine/device.ts";
import { NeoxError } from "../engine/errors.ts";
import { greedyGenerate } from "../engine/generate.ts";
import type { NeoxModel, Sequence } from "../engine/model.ts";
import { PYTHIA_CONFIGS } from "../engine/pythia.ts";
import { MAX_K, speculativeGenerate } from "../engine/speculative.ts";
import { syntheticModel } from "../engine/synthetic.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { accountConfig, summarizeAccounting } from "./analytic.ts";
import { calibrateNsPerTick, GpuTimer } from "./gpu_timer.ts";
import { firstRoundTokens, speculativeMetrics, timingMetrics } from "./metrics.ts";
import { replayCounts } from "./replay.ts";
import { type ConfigResult, modelInfo, RESULTS_SCHEMA, type ResultsFile } from "./results.ts";
import { stat } from "./stats.ts";

/** What to measure (the options of `globalThis.neoxspec.measure`). */
export interface MeasureOptions {
  /** e.g. "synthetic:pythia-70m". */
  target: string;
  /** e.g. "synthetic:pythia-14m". */
  draft: string;
  /** Per-token acceptance replayed in every round. */
  alpha: number;
  kValues: number[];
  maxNewTokens: number;
  /** Measured generations per configuration after the warm-up (default 1). */
  numSamples?: number;
  /**
   * GPU timestamps are nanoseconds, as the WebGPU spec says and browsers give them; otherwise
   * (Deno's wgpu gives raw ticks) a ns-per-tick factor is calibrated against the wall clock.
   */
  timestampsInNs?: boolean;
  /** Written into the results' `tool.version`. */
  version?: string;
}

/** The prompt of every run: synthetic models have no tokenizer. */
const PROMPT_IDS = Array.from({ length: 20 }, (_, i) => 1 + i);
/** Tokens of the warm-up run before each configuration (pipelines compile, caches fill). */
const WARMUP_TOKENS = 2;
/** Largest output length offered (SwiftShader and small GPUs would take minutes beyond). */
export const MAX_NEW_TOKENS = 256;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The synthetic model names a measurement may use, smallest first. */
export const SYNTHETIC_NAMES = Object.keys(PYTHIA_CONFIGS)
  .sort((a, b) =>
    PYTHIA_CONFIGS[a].d * PYTHIA_CONFIGS[a].L - PYTHIA_CONFIGS[b].d * PYTHIA_CONFIGS[b].L
  )
  .map((n) => `synthetic:${n}`);

/**
 * Why `spec` cannot run on an adapter with these limits, as a sentence, or null when it fits:
 * a weight row, an activation row block or the verify logits must each fit one binding.
 */
export function whyNotFits(
  spec: string,
  limits: { maxBindingBytes: number; hasF16: boolean },
): string | null {
  const name = spec.replace(/^synthetic:/, "");
  const s = PYTHIA_CONFIGS[name];
  if (!spec.startsWith("synthetic:") || !s) {
    return `"${spec}" is not a synthetic model (choose one of ${SYNTHETIC_NAMES.join(", ")}).`;
  }
  const bpw = limits.hasF16 ? 2 : 4;
  const needs = [
    { what: "one weight row", bytes: Math.max(s.d, s.ff) * bpw },
    { what: "the verify logits", bytes: (MAX_K + 1) * s.vocab * 4 },
    { what: "the MLP activations of a prompt pass", bytes: PROMPT_IDS.length * s.ff * 4 },
  ];
  const worst = needs.find((n) => n.bytes > limits.maxBindingBytes);
  if (!worst) return null;
  return `${name} does not fit this adapter: ${worst.what} needs ${worst.bytes} bytes in one ` +
    `binding and the adapter allows ${limits.maxBindingBytes}.`;
}

function checkOptions(gpu: Gpu, o: MeasureOptions): void {
  for (const spec of [o.target, o.draft]) {
    const why = whyNotFits(spec, gpu);
    if (why) throw new NeoxError(why);
  }
  if (!(o.alpha >= 0 && o.alpha <= 1)) {
    throw new NeoxError(`alpha must be in [0, 1], got ${o.alpha}`);
  }
  if (o.kValues.length === 0 || o.kValues.some((k) => !Number.isInteger(k) || k < 1 || k > MAX_K)) {
    throw new NeoxError(`K values must be integers in 1..${MAX_K}, got ${o.kValues.join(",")}`);
  }
  const n = o.maxNewTokens;
  if (!Number.isInteger(n) || n < 2 || n > MAX_NEW_TOKENS) {
    throw new NeoxError(`the output length must be an integer in 2..${MAX_NEW_TOKENS}, got ${n}`);
  }
}

/** Wall time of one pass: `plan` encoded 2 and 10 times in one submit, the difference / 8. */
async function wallPassMs(gpu: Gpu, seq: Sequence, T: number, logits: "last" | "all") {
  const plan = seq.plan(T, { logits, argmax: false, advance: false });
  const time = async (reps: number) => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass({ label: "wall timing" });
    for (let i = 0; i < reps; i++) encodeDispatches(pass, plan);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpuIdle(gpu);
    return performance.now() - t0;
  };
  await time(1);
  const few = Math.min(await time(2), await time(2));
  const many = Math.min(await time(10), await time(10));
  // A noisy difference must not go to zero or below: at least the per-pass share of `many`.
  return Math.max((many - few) / 8, many / 10 / 4);
}

/**
 * Pass times by wall clock, at the cache length of mid-generation: one draft token, one
 * target token, and the verify pass of K + 1 tokens for every K.
 */
async function wallPassTimes(
  gpu: Gpu,
  target: NeoxModel,
  draft: NeoxModel,
  o: MeasureOptions,
): Promise<{ tDraftMs: number; tTargetMs: number; tVerifyMs: Map<number, number> }> {
  const kMax = Math.max(...o.kValues);
  const cacheLen = PROMPT_IDS.length + Math.floor(o.maxNewTokens / 2);
  const seqFor = (m: NeoxModel, maxT: number) => {
    const seq = m.newSequence({
      capacity: cacheLen + maxT + 1,
      maxTokens: cacheLen + maxT + 2,
      maxT,
      logitsRows: maxT,
    });
    seq.setState(cacheLen, cacheLen);
    return seq;
  };
  const d = seqFor(draft, 1);
  const t = seqFor(target, kMax + 1);
  try {
    const tDraftMs = await wallPassMs(gpu, d, 1, "last");
    const tTargetMs = await wallPassMs(gpu, t, 1, "last");
    const tVerifyMs = new Map<number, number>();
    for (const k of o.kValues) tVerifyMs.set(k, await wallPassMs(gpu, t, k + 1, "all"));
    return { tDraftMs, tTargetMs, tVerifyMs };
  } finally {
    d.destroy();
    t.destroy();
  }
}

/**
 * Measures a baseline and one speculative run per K of a synthetic pair on `gpu`, at the
 * replayed acceptance `alpha`, and returns the results file (schema {@link RESULTS_SCHEMA}).
 *
 * @param progress called with a short line before each step
 * @throws NeoxError with one sentence when the options or the adapter do not allow the run
 */
export async function measureHere(
  gpu: Gpu,
  o: MeasureOptions,
  progress: (line: string) => void = () => {},
): Promise<ResultsFile> {
  checkOptions(gpu, o);
  const samples = o.numSamples ?? 1;
  const N = o.maxNewTokens;
  progress(`making ${o.target} and ${o.draft} on the GPU`);
  const target = syntheticModel(gpu, o.target.slice("synthetic:".length));
  const draft = syntheticModel(gpu, o.draft.slice("synthetic:".length), { seed: 4321 });
  const timer = gpu.hasTimestamps ? new GpuTimer(gpu, 2048) : null;
  try {
    await gpuIdle(gpu);
    let nsPerTick = 1;
    if (timer && !o.timestampsInNs) {
      progress("calibrating GPU timestamps");
      const seq = target.newSequence({ capacity: 8, maxTokens: 8, maxT: 1 });
      const plan = seq.plan(1, { logits: "last", argmax: false, advance: false });
      nsPerTick = (await calibrateNsPerTick(gpu, (pass, r) => {
        for (let i = 0; i < r; i++) encodeDispatches(pass, plan);
      })).nsPerTick;
      seq.destroy();
    }

    type Run = { ttftMs: number; decodeMs: number; gpuWaits: number; rounds?: number[] };
    const measure = async (label: string, run: (n: number) => Promise<Run>) => {
      progress(`${label}: warm-up`);
      await run(Math.min(N, WARMUP_TOKENS));
      const tput: number[] = [], ttft: number[] = [], tpot: number[] = [];
      const rounds: number[] = [];
      const ticks = { draft: [] as number[], target: [] as number[], verify: [] as number[] };
      let waits = 0;
      for (let s = 0; s < samples; s++) {
        progress(`${label}: ${N} tokens${samples > 1 ? ` (sample ${s + 1}/${samples})` : ""}`);
        timer?.reset();
        const r = await run(N);
        const m = timingMetrics({
          ttftMs: r.ttftMs,
          decodeMs: r.decodeMs,
          newTokens: N,
          firstTokens: firstRoundTokens(r.rounds, N),
        });
        tput.push(m.throughputTokS);
        ttft.push(m.ttftMs);
        tpot.push(m.tpotMs);
        waits += r.gpuWaits;
        rounds.push(...(r.rounds ?? []));
        if (timer) {
          await timer.resolve();
          for (const k of ["draft", "target", "verify"] as const) ticks[k].push(...timer.ticks(k));
        }
      }
      const ms = (t: number[]) => t.length ? mean(t) * nsPerTick / 1e6 : null;
      return {
        throughputTokS: stat(tput),
        ttftMs: stat(ttft),
        tpotMs: stat(tpot),
        gpuWaitsPerToken: waits / (samples * N),
        rounds,
        tDraftMs: ms(ticks.draft),
        tTargetMs: ms(ticks.target),
        tVerifyMs: ms(ticks.verify),
      };
    };

    const hook = timer ?? undefined;
    const base = await measure(
      "baseline",
      (n) => greedyGenerate(target, PROMPT_IDS, n, { hook }),
    );
    const wall = timer ? null : await wallPassTimes(gpu, target, draft, o);
    const tTargetMs = wall?.tTargetMs ?? base.tTargetMs;
    const idBase = `n${N}-full-fp16-synthetic`;
    const configs: ConfigResult[] = [{
      id: `base-${idBase}`,
      mode: "baseline",
      k: null,
      maxNewTokens: N,
      cache: "full",
      cacheSize: null,
      quant: "fp16",
      promptType: "synthetic",
      throughputTokS: base.throughputTokS,
      ttftMs: base.ttftMs,
      tpotMs: base.tpotMs,
      draftAcceptanceRate: null,
      meanTokensPerRound: null,
      perPositionAcceptance: null,
      tDraftMs: null,
      tTargetMs,
      tVerifyMs: null,
      c: null,
      compressionEvents: 0,
      kvBytes: 0,
      peakBytes: 0,
      weightBytes: target.weightBytes,
      gpuWaitsPerToken: base.gpuWaitsPerToken,
      measuredSpeedup: 1,
      alphaPerToken: null,
      accounting: null,
    }];
    for (const k of o.kValues) {
      const replay = replayCounts(o.alpha, k);
      const r = await measure(
        `K = ${k}`,
        (n) => speculativeGenerate(target, draft, PROMPT_IDS, { k, maxNewTokens: n, replay, hook }),
      );
      const m = speculativeMetrics(r.rounds, k, samples * N);
      const tDraftMs = wall?.tDraftMs ?? r.tDraftMs;
      const tVerifyMs = wall?.tVerifyMs.get(k) ?? r.tVerifyMs;
      const cfg: ConfigResult = {
        ...configs[0],
        id: `spec-k${k}-${idBase}`,
        mode: "speculative",
        k,
        throughputTokS: r.throughputTokS,
        ttftMs: r.ttftMs,
        tpotMs: r.tpotMs,
        draftAcceptanceRate: m.draftAcceptanceRate,
        meanTokensPerRound: m.meanTokensPerRound,
        perPositionAcceptance: m.perPositionAcceptance,
        tDraftMs,
        tTargetMs,
        tVerifyMs,
        c: tDraftMs !== null && tTargetMs ? tDraftMs / tTargetMs : null,
        weightBytes: target.weightBytes + draft.weightBytes,
        gpuWaitsPerToken: r.gpuWaitsPerToken,
        measuredSpeedup: r.throughputTokS.mean / base.throughputTokS.mean,
      };
      const pred = accountConfig(cfg);
      if (pred) {
        cfg.alphaPerToken = pred.alphaPerToken;
        cfg.accounting = pred.accounting;
      }
      configs.push(cfg);
    }
    const info = gpu.adapterInfo;
    return {
      schema: RESULTS_SCHEMA,
      tool: { name: "neox-spec", version: o.version ?? "browser" },
      createdAt: new Date().toISOString(),
      device: {
        description: info.description || info.device || info.architecture || "unknown",
        vendor: info.vendor,
        architecture: info.architecture,
        isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
        features: [...gpu.device.features].map(String).sort(),
      },
      models: { target: modelInfo(target, "fp16"), draft: modelInfo(draft, "fp16") },
      settings: {
        kValues: o.kValues,
        maxNewTokens: [N],
        cacheSizes: [null],
        promptTypes: ["synthetic"],
        numSamples: samples,
        quant: ["fp16"],
        temperature: 0,
        replay: { alpha: o.alpha },
        timing: timer ? "gpu-timestamps" : "wall-clock",
      },
      prompts: [{ name: "synthetic", kind: "synthetic", text: "", ids: PROMPT_IDS }],
      configs,
      analytic: summarizeAccounting(configs),
      kernels: [],
      memory: [],
    };
  } finally {
    timer?.destroy();
    target.destroy();
    draft.destroy();
  }
}
