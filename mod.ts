/**
 * neox-spec: GPT-NeoX (Pythia) on WebGPU with speculative decoding, a StreamingLLM cache,
 * INT8 weights, GPU profiling and an offline HTML report.
 *
 * Library use: load models with `loadModel`, generate with `greedyGenerate` or
 * `speculativeGenerate`. Command line: `deno run -A mod.ts <command> --help`.
 * @module
 */
import { parseArgs } from "node:util";
import { EXIT_FAILURE, NeoxError, UsageError } from "./engine/errors.ts";
import { getGpu } from "./engine/device_deno.ts";
import { checkModel, loadModel } from "./engine/load.ts";
import type { NeoxConfig } from "./engine/config.ts";
import { allLogits, greedyGenerate } from "./engine/generate.ts";
import {
  type CachePolicy,
  checkCachePolicy,
  DEFAULT_SINKS,
  FULL_CACHE,
  MAX_CACHE_ENTRIES,
  sinkWindowCache,
} from "./engine/cache_policy.ts";
import { streamingPerplexity } from "./engine/perplexity.ts";
import { MAX_K, speculativeGenerate } from "./engine/speculative.ts";
import type { SamplingOptions } from "./engine/sampling.ts";
import type { NeoxModel } from "./engine/model.ts";
import type { KAutoOptions } from "./engine/k_policy.ts";
import { loadTokenizer, type TextCodec } from "./engine/tokenizer.ts";
import { checkOutputPath, writeFileAtomic } from "./engine/output.ts";
import { QUANT_MODES, type QuantMode } from "./engine/quantize.ts";
import { quantQuality } from "./profiler/quality.ts";
import { speculativeMetrics, timingMetrics } from "./profiler/metrics.ts";
import { GpuTimer } from "./profiler/gpu_timer.ts";
import {
  replayCounts,
  runSweep,
  summaryTable,
  SweepInterrupted,
  type SweepOptions,
} from "./profiler/sweep.ts";
import { type DeviceProfile, simulate } from "./profiler/simulator.ts";
import { TraceRecorder, writeTrace } from "./profiler/trace.ts";

export { NeoxError } from "./engine/errors.ts";
export { getGpu } from "./engine/device_deno.ts";
export { loadModel, PYTHIA_CONFIGS } from "./engine/load.ts";
export { NeoxModel, Sequence } from "./engine/model.ts";
export { allLogits, greedyGenerate } from "./engine/generate.ts";
export { speculativeGenerate } from "./engine/speculative.ts";
export type { SamplingOptions } from "./engine/sampling.ts";
export type { KAutoOptions } from "./engine/k_policy.ts";
export { loadTokenizer } from "./engine/tokenizer.ts";
export type { ResultsFile } from "./profiler/results.ts";

/** Tool version written into results and reports. */
export const VERSION = "0.1.0";

type Flags = Record<string, string | boolean | string[] | undefined>;
type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

const COMMON: OptionSpec = { help: { type: "boolean", short: "h" }, debug: { type: "boolean" } };

/** Parses flags strictly: an unknown flag or a missing value is a usage error. */
function parse(cmd: string, args: string[], options: OptionSpec): Flags {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...COMMON, ...options },
      strict: true,
      allowPositionals: true,
    });
    return { ...values, _: positionals } as Flags;
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0].replace(/\. To specify a positional.*$/, "");
    throw new UsageError(`${cmd}: ${msg} (see --help)`);
  }
}

function str(f: Flags, name: string): string | undefined {
  const v = f[name];
  return typeof v === "string" ? v : undefined;
}

function required(cmd: string, f: Flags, name: string): string {
  const v = str(f, name);
  if (v === undefined || v === "") {
    throw new UsageError(`${cmd}: --${name} is required (see --help)`);
  }
  return v;
}

function int(cmd: string, f: Flags, name: string, def: number, min: number, max: number): number {
  const v = str(f, name);
  if (v === undefined) return def;
  if (!/^-?\d+$/.test(v.trim())) {
    throw new UsageError(`${cmd}: --${name} must be an integer, got "${v}"`);
  }
  const n = Number(v);
  if (n < min || n > max) {
    throw new UsageError(`${cmd}: --${name} must be from ${min} to ${max}, got ${n}`);
  }
  return n;
}

function num(cmd: string, f: Flags, name: string, def: number, min: number, max: number): number {
  const v = str(f, name);
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(`${cmd}: --${name} must be a number, got "${v}"`);
  }
  if (n < min || n > max) {
    throw new UsageError(`${cmd}: --${name} must be from ${min} to ${max}, got ${n}`);
  }
  return n;
}

/** Parses `--ids 1,2,3`. */
function parseIds(cmd: string, s: string): number[] {
  const parts = s.split(",").map((x) => x.trim());
  if (parts.length === 0 || parts.some((p) => p === "")) {
    throw new UsageError(`${cmd}: --ids must be a comma-separated list of token ids, got "${s}"`);
  }
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) {
      throw new UsageError(`${cmd}: --ids: "${p}" is not a token id (a non-negative integer)`);
    }
    return Number(p);
  });
}

/** Checks ids against a model's vocabulary (a loaded model or a {@link checkModel} config). */
function checkIds(cmd: string, ids: number[], model: { cfg: NeoxConfig }): void {
  if (ids.length === 0) throw new UsageError(`${cmd}: the prompt is empty`);
  const bad = ids.find((i) => i >= model.cfg.vocabSize);
  if (bad !== undefined) {
    throw new UsageError(
      `${cmd}: --ids: token id ${bad} is outside the vocabulary (0..${model.cfg.vocabSize - 1})`,
    );
  }
}

async function promptIds(cmd: string, f: Flags, codec: TextCodec | null): Promise<number[]> {
  const ids = str(f, "ids");
  const prompt = str(f, "prompt");
  if (ids !== undefined && prompt !== undefined) {
    throw new UsageError(`${cmd}: give --ids or --prompt, not both`);
  }
  if (ids !== undefined) return parseIds(cmd, ids);
  if (prompt === undefined) {
    throw new UsageError(`${cmd}: give --ids 1,2,3 or --prompt TEXT (see --help)`);
  }
  if (prompt === "") throw new UsageError(`${cmd}: --prompt is empty`);
  if (!codec) {
    throw new UsageError(
      `${cmd}: --prompt needs a tokenizer.json in the model folder; give --ids instead`,
    );
  }
  await Promise.resolve();
  return codec.encode(prompt);
}

const HELP: Record<string, string> = {
  logits: `deno run -A mod.ts logits --model DIR --ids 1,2,3 [--quant int8] --out FILE
  Writes little-endian float32 logits, row-major [len(ids) x vocab_size].`,
  generate:
    `deno run -A mod.ts generate --model DIR (--ids 1,2,3 | --prompt TEXT) --max-new-tokens N
    [--draft DIR --k K|auto [--k-policy optimal|heuristic]]
    [--cache full|sink --cache-size C --sinks 4 --compress-at F]
    [--quant int8] [--temperature T --top-p P --seed S] [--stop-at-eos] --json
  Greedy unless --temperature > 0 (then softmax(logits/T), within the top-p nucleus when
  --top-p P < 1, seeded by --seed S, an integer 0..4294967295; random seed by default,
  reported in metrics). With --draft, speculative decoding: greedy output identical to the
  target's greedy output under the same cache; sampled output distributed as the target's.
  --k auto picks K between rounds: "optimal" (default) maximizes Leviathan's expected
  speedup for the running acceptance estimate; "heuristic" is transformers' schedule
  (K+2 after a fully accepted round, else K-1). --cache sink: StreamingLLM's
  sink-plus-window cache of C entries (S sinks, default 4), memory independent of length;
  --compress-at F evicts only past F*C entries, in one step (see engine/cache_policy.ts).
  --json prints {"tokens","text","rounds","metrics"}.`,
};

/** `--quant int8|int8-g128` (absent: the checkpoint's own precision). */
function quantFlag(cmd: string, f: Flags, name: string): QuantMode | undefined {
  const v = str(f, name);
  if (v === undefined || v === "fp16") return undefined;
  if (!(QUANT_MODES as readonly string[]).includes(v)) {
    throw new UsageError(`${cmd}: --${name} must be fp16, ${QUANT_MODES.join(" or ")}, got "${v}"`);
  }
  return v as QuantMode;
}

/** Refuses a draft that cannot serve the target (vocabulary or tokenizer differs), on the CPU. */
async function checkDraft(
  cmd: string,
  draftDir: string,
  targetDir: string,
  targetCfg: NeoxConfig,
  codec: TextCodec | null,
): Promise<void> {
  const draftCfg = await checkModel(draftDir);
  if (draftCfg.vocabSize !== targetCfg.vocabSize) {
    throw new NeoxError(
      `${cmd}: the draft ${draftDir} has vocab_size ${draftCfg.vocabSize}, the target ${targetDir} has ${targetCfg.vocabSize}: they must match`,
    );
  }
  const draftCodec = await loadTokenizer(draftDir);
  if (codec && draftCodec && codec.fingerprint !== draftCodec.fingerprint) {
    throw new UsageError(
      `${cmd}: the draft's tokenizer (${draftDir}) differs from the target's (${targetDir})`,
    );
  }
}

/** Flags of the KV cache policy (generate, perplexity). */
const CACHE_FLAGS: OptionSpec = {
  cache: { type: "string" },
  "cache-size": { type: "string" },
  sinks: { type: "string" },
  "compress-at": { type: "string" },
};

/** The cache policy of `--cache full|sink --cache-size C --sinks S --compress-at F`. */
function cacheFlags(cmd: string, f: Flags, k = 0): CachePolicy {
  const cache = str(f, "cache") ?? "full";
  if (cache !== "full" && cache !== "sink") {
    throw new UsageError(`${cmd}: --cache must be full or sink, got "${cache}"`);
  }
  if (cache === "full") {
    for (const flag of ["cache-size", "sinks", "compress-at"]) {
      if (f[flag] !== undefined) throw new UsageError(`${cmd}: --${flag} needs --cache sink`);
    }
    return FULL_CACHE;
  }
  if (f["cache-size"] === undefined) {
    throw new UsageError(`${cmd}: --cache sink needs --cache-size C`);
  }
  const size = int(cmd, f, "cache-size", 0, 1, MAX_CACHE_ENTRIES);
  const sinks = int(cmd, f, "sinks", DEFAULT_SINKS, 0, MAX_CACHE_ENTRIES);
  const at = f["compress-at"] !== undefined ? num(cmd, f, "compress-at", 1, 0.01, 1) : undefined;
  const policy = sinkWindowCache(size, sinks, at);
  try {
    checkCachePolicy(policy, k);
  } catch (e) {
    throw new UsageError(`${cmd}: ${(e as Error).message} (--cache-size, --sinks, --k)`);
  }
  return policy;
}

/** Cache fields of a result: {cache, cacheSize, sinks}. */
function cacheFields(policy: CachePolicy): Record<string, unknown> {
  if (policy.kind === "full") return { cache: "full", cacheSize: null, sinks: null };
  const at = policy.compressAt;
  return {
    cache: "sink",
    cacheSize: policy.size,
    sinks: policy.sinks,
    ...(at !== undefined ? { compressAt: at } : {}),
  };
}

async function cmdLogits(args: string[]): Promise<void> {
  const f = parse("logits", args, {
    model: { type: "string" },
    ids: { type: "string" },
    quant: { type: "string" },
    out: { type: "string", short: "o" },
  });
  if (f.help) return void console.log(HELP.logits);
  const modelDir = required("logits", f, "model");
  const out = required("logits", f, "out");
  const ids = parseIds("logits", required("logits", f, "ids"));
  const quant = quantFlag("logits", f, "quant");
  await checkOutputPath(out, "--out");
  checkIds("logits", ids, { cfg: await checkModel(modelDir) });
  if (ids.length > 4096) {
    throw new UsageError(`logits: ${ids.length} ids exceed the 4096-position cache limit`);
  }
  const gpu = await getGpu();
  const model = await loadModel(gpu, modelDir, { quant });
  const logits = await allLogits(model, ids);
  await writeFileAtomic(out, new Uint8Array(logits.buffer));
}

async function cmdGenerate(args: string[]): Promise<void> {
  const cmd = "generate";
  const f = parse(cmd, args, {
    model: { type: "string" },
    ids: { type: "string" },
    prompt: { type: "string" },
    "max-new-tokens": { type: "string" },
    draft: { type: "string" },
    k: { type: "string" },
    "k-policy": { type: "string" },
    ...CACHE_FLAGS,
    quant: { type: "string" },
    "draft-quant": { type: "string" },
    temperature: { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    "stop-at-eos": { type: "boolean" },
    json: { type: "boolean" },
  });
  if (f.help) return void console.log(HELP.generate);
  const modelDir = required(cmd, f, "model");
  const maxNew = int(cmd, f, "max-new-tokens", 32, 1, 100000);
  const draftDir = str(f, "draft");
  const kFlag = str(f, "k");
  if (kFlag !== undefined && !draftDir) throw new UsageError(`${cmd}: --k needs --draft`);
  let k = 0;
  let kAuto: KAutoOptions | undefined;
  const kPolicy = str(f, "k-policy");
  if (kPolicy !== undefined && kFlag !== "auto") {
    throw new UsageError(`${cmd}: --k-policy needs --k auto`);
  }
  if (draftDir) {
    if (kFlag === "auto") {
      if (kPolicy !== undefined && kPolicy !== "optimal" && kPolicy !== "heuristic") {
        throw new UsageError(`${cmd}: --k-policy must be optimal or heuristic, got "${kPolicy}"`);
      }
      kAuto = { policy: kPolicy === "heuristic" ? "heuristic" : "optimal" };
      k = 5; // the first round's K
    } else k = int(cmd, f, "k", 5, 1, MAX_K);
  }
  const cache = cacheFlags(cmd, f, kAuto ? MAX_K : k);
  const quant = quantFlag(cmd, f, "quant");
  const draftQuant = quantFlag(cmd, f, "draft-quant");
  const temperature = num(cmd, f, "temperature", 0, 0, 100);
  let sampling: SamplingOptions | undefined;
  if (temperature > 0) {
    const topP = num(cmd, f, "top-p", 1, -Infinity, Infinity);
    if (!(topP > 0 && topP <= 1)) {
      throw new UsageError(`${cmd}: --top-p must be in (0, 1], got ${topP}`);
    }
    const seed = int(cmd, f, "seed", crypto.getRandomValues(new Uint32Array(1))[0], 0, 0xffffffff);
    sampling = { temperature, topP, seed };
  } else if (f["top-p"] !== undefined || f.seed !== undefined) {
    throw new UsageError(`${cmd}: --top-p and --seed need --temperature T > 0 (0 is greedy)`);
  }

  // Every input is checked on the CPU before the GPU is touched.
  const targetCfg = await checkModel(modelDir);
  const codec = await loadTokenizer(modelDir);
  const ids = await promptIds(cmd, f, codec);
  checkIds(cmd, ids, { cfg: targetCfg });
  const limit = targetCfg.maxPositions;
  if (cache.kind === "full" && ids.length + maxNew > limit) {
    throw new UsageError(
      `${cmd}: prompt (${ids.length} tokens) + --max-new-tokens ${maxNew} exceed the model's ${limit} positions with a full cache (use --cache sink)`,
    );
  }
  if (draftDir) await checkDraft(cmd, draftDir, modelDir, targetCfg, codec);
  const gpu = await getGpu();
  const target = await loadModel(gpu, modelDir, { quant });
  let tokens: number[];
  let metrics: Record<string, unknown>;
  let rounds: number[] | undefined;
  if (draftDir) {
    const draft = await loadModel(gpu, draftDir, { quant: draftQuant });
    const timer = gpu.hasTimestamps ? new GpuTimer(gpu, 2048) : undefined;
    if (kAuto && gpu.hasTimestamps) kAuto.c = await measureCostRatio(target, draft, ids);
    const r = await speculativeGenerate(target, draft, ids, {
      k,
      maxNewTokens: maxNew,
      hook: timer,
      cache,
      sampling,
      kAuto,
    });
    // A few plain target steps, only so the timer has target passes for tTargetMs and c.
    if (timer) await greedyGenerate(target, ids, Math.min(maxNew, 9), { hook: timer, cache });
    tokens = r.tokens;
    rounds = r.rounds;
    const m = speculativeMetrics(r.rounds, r.kPerRound, maxNew);
    const passMs = timer ? await passTimes(timer) : {};
    metrics = {
      ...timingMetrics({ ttftMs: r.ttftMs, decodeMs: r.decodeMs, newTokens: maxNew }),
      draftAcceptanceRate: m.draftAcceptanceRate,
      meanTokensPerRound: m.meanTokensPerRound,
      perPositionAcceptance: m.perPositionAcceptance,
      rounds: r.rounds,
      k: kAuto ? "auto" : k,
      ...(kAuto ? { kPolicy: kAuto.policy, kPerRound: r.kPerRound, c: kAuto.c ?? null } : {}),
      ...(sampling ? samplingFields(sampling) : {}),
      ...passMs,
      gpuWaitsPerToken: r.gpuWaits / maxNew,
      ...cacheFields(cache),
      compressionEvents: r.compressionEvents,
      kvBytes: r.kvBytes,
      peakBytes: r.peakBytes,
      weightBytes: target.weightBytes + draft.weightBytes,
    };
  } else {
    const r = await greedyGenerate(target, ids, maxNew, { cache, sampling });
    tokens = r.tokens;
    metrics = {
      ...timingMetrics({ ttftMs: r.ttftMs, decodeMs: r.decodeMs, newTokens: maxNew }),
      ...(sampling ? samplingFields(sampling) : {}),
      gpuWaitsPerToken: r.gpuWaits / maxNew,
      ...cacheFields(cache),
      compressionEvents: r.compressionEvents,
      kvBytes: r.kvBytes,
      peakBytes: r.peakBytes,
      weightBytes: target.weightBytes,
    };
  }
  if (f["stop-at-eos"] && target.cfg.eosTokenId !== null) {
    const at = tokens.indexOf(target.cfg.eosTokenId);
    if (at >= 0) tokens = tokens.slice(0, at + 1);
  }
  if (quant) {
    // Quality of the int8 target against its own fp16 weights on the prompt + output.
    const fp = await loadModel(gpu, modelDir);
    metrics.quant = {
      mode: quant,
      ...(await quantQuality(fp, target, [...ids, ...tokens].slice(0, 512))),
    };
  }
  const text = codec ? codec.decode(tokens) : "";
  if (f.json) {
    console.log(JSON.stringify({ tokens, text, ...(rounds ? { rounds } : {}), metrics }));
  } else {
    console.log(codec ? text : tokens.join(","));
  }
}

/** Sampling fields of a result: {temperature, topP, seed}. */
function samplingFields(s: SamplingOptions): Record<string, unknown> {
  return { temperature: s.temperature, topP: s.topP ?? 1, seed: s.seed ?? 0 };
}

/**
 * c = T_draft / T_target for `--k auto`, from the GPU time of a few single-token decode
 * steps of each model (a short greedy run each, timed by timestamp queries).
 */
async function measureCostRatio(
  target: NeoxModel,
  draft: NeoxModel,
  ids: number[],
): Promise<number> {
  const mean = async (model: NeoxModel) => {
    const timer = new GpuTimer(model.gpu, 16);
    await greedyGenerate(model, ids.slice(-16), 6, { hook: timer });
    await timer.resolve();
    const ticks = timer.ticks("target").slice(1); // the first step warms up
    timer.destroy();
    return ticks.reduce((a, b) => a + b, 0) / Math.max(1, ticks.length);
  };
  const [tDraft, tTarget] = [await mean(draft), await mean(target)];
  return tDraft > 0 && tTarget > 0 ? tDraft / tTarget : draft.params / target.params;
}

/** Mean GPU time per pass kind, in ms (ticks calibrated as ~1 ns unless measured otherwise). */
async function passTimes(timer: GpuTimer): Promise<Record<string, number>> {
  await timer.resolve();
  const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length / 1e6 : NaN;
  return {
    tDraftMs: mean(timer.ticks("draft")),
    tTargetMs: mean(timer.ticks("target")),
    tVerifyMs: mean(timer.ticks("verify")),
  };
}

/** Joins space-separated list values (`--k-values 3 5 7`) into one comma-separated value. */
function joinLists(args: string[], lists: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    out.push(args[i]);
    if (lists.includes(args[i])) {
      const vals: string[] = [];
      while (i + 1 < args.length && !args[i + 1].startsWith("--")) vals.push(args[++i]);
      out.push(vals.join(","));
    }
  }
  return out;
}

function intList(
  cmd: string,
  f: Flags,
  name: string,
  def: number[],
  min: number,
  max: number,
): number[] {
  const v = str(f, name);
  if (v === undefined) return def;
  const parts = v.split(",").map((x) => x.trim()).filter((x) => x !== "");
  if (parts.length === 0) throw new UsageError(`${cmd}: --${name} needs at least one value`);
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`${cmd}: --${name}: "${p}" is not an integer`);
    const n = Number(p);
    if (n < min || n > max) {
      throw new UsageError(`${cmd}: --${name}: ${n} is outside ${min}..${max}`);
    }
    return n;
  });
}

HELP.profile = `deno task profile [--target-model DIR] [--draft-model DIR] [--k-values 3 5 7 9]
    [--max-new-tokens 48] [--max-cache-lens full 128] [--prompt-types medium long] [--prompt TEXT]
    [--num-samples 2] [--quant fp16 int8] [--output-json F] [--output-html F] [--trace F]
    [--per-kernel] [--alpha A | --accept-trace FILE]
  Runs the speculative-decoding sweep (baseline + each K per cache, length, prompt type),
  GPU-timed, checked against the analytic models; prints a summary table. --per-kernel
  also times every kernel of a target decode step, a draft step and a verify pass at the
  smallest K (results.kernels). --alpha / --accept-trace replay acceptance: real draft and
  verify kernels run (e.g. on synthetic:pythia-2.8b / synthetic:pythia-70m) while accept
  counts come from a per-token acceptance or a trace (generate --json's "rounds").
  Models default to the embedded pair; synthetic:pythia-2.8b etc. also work.`;

async function cmdProfile(rawArgs: string[]): Promise<void> {
  const cmd = "profile";
  const lists = ["--k-values", "--max-new-tokens", "--max-cache-lens", "--prompt-types", "--quant"];
  const f = parse(cmd, joinLists(rawArgs, lists), {
    "target-model": { type: "string" },
    "draft-model": { type: "string" },
    "k-values": { type: "string" },
    "max-new-tokens": { type: "string" },
    "max-cache-lens": { type: "string" },
    "prompt-types": { type: "string" },
    prompt: { type: "string" },
    "num-samples": { type: "string" },
    quant: { type: "string" },
    "output-json": { type: "string" },
    "output-html": { type: "string" },
    trace: { type: "string" },
    alpha: { type: "string" },
    "accept-trace": { type: "string" },
    "per-kernel": { type: "boolean" },
  });
  if (f.help) return void console.log(HELP.profile);
  const here = new URL(".", import.meta.url).pathname;
  const targetModel = str(f, "target-model") ?? `${here}models/pydoc-neox-20m`;
  const draftModel = str(f, "draft-model") ?? `${here}models/pydoc-neox-2.5m`;
  const kValues = intList(cmd, f, "k-values", [3, 5, 7, 9], 1, MAX_K);
  const maxNewTokens = intList(cmd, f, "max-new-tokens", [48], 1, 4000);
  const cacheFlag = str(f, "max-cache-lens") ?? "full,128";
  const cacheLens = cacheFlag.split(",").map((c) => {
    if (c === "full") return null;
    const n = Number(c);
    const least = DEFAULT_SINKS + Math.max(...kValues) + 2;
    if (!/^\d+$/.test(c) || n < least || n > 4096) {
      throw new UsageError(
        `${cmd}: --max-cache-lens: "${c}" must be "full" or a cache size from ${least} (sinks + K + 2) to 4096`,
      );
    }
    return n;
  });
  const promptTypes = (str(f, "prompt-types") ?? "medium,long").split(",");
  for (const t of promptTypes) {
    if (t !== "medium" && t !== "long") {
      throw new UsageError(`${cmd}: --prompt-types: "${t}" is not medium or long`);
    }
  }
  const quant = (str(f, "quant") ?? "fp16,int8").split(",");
  for (const q of quant) {
    if (q !== "fp16" && q !== "int8") {
      throw new UsageError(`${cmd}: --quant: "${q}" is not fp16 or int8`);
    }
  }
  const numSamples = int(cmd, f, "num-samples", 2, 1, 1000);
  const replay = await replayFlags(cmd, f);
  const prompt = str(f, "prompt");
  if (prompt === "") throw new UsageError(`${cmd}: --prompt is empty`);
  const targetCfg = await checkModel(targetModel);
  const codec = await loadTokenizer(targetModel);
  await checkDraft(cmd, draftModel, targetModel, targetCfg, codec);
  for (const flag of ["output-json", "output-html", "trace"]) {
    const p = str(f, flag);
    if (p !== undefined) await checkOutputPath(p, `--${flag}`);
  }
  if (prompt !== undefined && !codec) {
    throw new UsageError(`${cmd}: --prompt needs a tokenizer.json in the target folder`);
  }
  const gpu = await getGpu();
  const trace = str(f, "trace") !== undefined ? new TraceRecorder() : undefined;
  const t0 = performance.now();
  const bar = (line: string) => {
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    console.error(`${line}  (${s} s)`);
  };
  const results = await runSweep(gpu, codec, {
    targetModel,
    draftModel,
    kValues,
    maxNewTokens,
    cacheLens,
    promptTypes,
    prompt,
    numSamples,
    quant: quant as ("fp16" | "int8")[],
    progress: bar,
    replay,
    trace,
    perKernel: Boolean(f["per-kernel"]),
    version: VERSION,
  }).catch((e) => keepPartialResults(cmd, e, str(f, "output-json")));
  console.log(summaryTable(results));
  const jsonPath = str(f, "output-json");
  if (jsonPath) await writeFileAtomic(jsonPath, JSON.stringify(results, null, 1));
  const htmlPath = str(f, "output-html");
  if (htmlPath) {
    const { renderReport } = await import("./report/mod.ts");
    await writeFileAtomic(htmlPath, await renderReport(results));
  }
  const tracePath = str(f, "trace");
  if (trace && tracePath) await writeTrace(tracePath, trace);
  for (const [what, p] of [["results", jsonPath], ["report", htmlPath], ["trace", tracePath]]) {
    if (p) console.error(`wrote ${what}: ${p}`);
  }
}

/** After a sweep failed part-way: writes the configurations it finished, then fails. */
async function keepPartialResults(cmd: string, e: unknown, jsonPath?: string): Promise<never> {
  if (!(e instanceof SweepInterrupted)) throw e;
  const n = e.results.configs.length;
  const done = `${n} finished configuration${n === 1 ? "" : "s"}`;
  if (!jsonPath) throw new NeoxError(`${cmd}: ${e.message} (${done} lost: no --output-json)`);
  await writeFileAtomic(jsonPath, JSON.stringify(e.results, null, 1));
  throw new NeoxError(`${cmd}: ${e.message}; saved the ${done} to ${jsonPath}`);
}

/** `--alpha a` or `--accept-trace FILE` (a JSON array of accept counts, or {"rounds": [...]}). */
async function replayFlags(cmd: string, f: Flags): Promise<SweepOptions["replay"]> {
  const tracePath = str(f, "accept-trace");
  if (f.alpha !== undefined && tracePath !== undefined) {
    throw new UsageError(`${cmd}: give --alpha or --accept-trace, not both`);
  }
  if (f.alpha !== undefined) {
    const alpha = num(cmd, f, "alpha", 0.8, 0, 1);
    return { alpha, counts: (k) => replayCounts(alpha, k) };
  }
  if (tracePath === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(tracePath));
  } catch (e) {
    throw new NeoxError(
      `${tracePath}: cannot read an accept trace (${(e as Error).message.split("\n")[0]})`,
    );
  }
  const rounds = Array.isArray(json) ? json : (json as { rounds?: unknown })?.rounds;
  if (
    !Array.isArray(rounds) || rounds.length === 0 ||
    rounds.some((x) => !Number.isInteger(x) || x < 0)
  ) {
    throw new NeoxError(
      `${tracePath}: an accept trace is a non-empty array of accept counts (or {"rounds": [...]})`,
    );
  }
  return { trace: tracePath, counts: () => rounds as number[] };
}

HELP.report = `deno run -A mod.ts report results.json -o report.html
  Renders a saved results file as one self-contained HTML report.`;

async function cmdReport(args: string[]): Promise<void> {
  const f = parse("report", args, { out: { type: "string", short: "o" } });
  if (f.help) return void console.log(HELP.report);
  const pos = f._ as unknown as string[];
  if (pos.length !== 1) throw new UsageError("report: give one results.json (see --help)");
  const out = required("report", f, "out");
  await checkOutputPath(out, "--out");
  const { writeReport } = await import("./report/mod.ts");
  await writeReport(pos[0], out);
}

HELP.calibrate = `deno run -A mod.ts calibrate -o device.json
  Measures a device profile (GEMV/GEMM rates per weight type, dispatch and wait costs)
  for the simulator.`;

async function cmdCalibrate(args: string[]): Promise<void> {
  const f = parse("calibrate", args, { out: { type: "string", short: "o" } });
  if (f.help) return void console.log(HELP.calibrate);
  const out = required("calibrate", f, "out");
  await checkOutputPath(out, "--out");
  const { calibrateDevice } = await import("./profiler/calibrate.ts");
  const profile = await calibrateDevice(await getGpu());
  await writeFileAtomic(out, JSON.stringify(profile, null, 1));
  console.log(JSON.stringify(profile));
}

HELP.simulate = `deno run -A mod.ts simulate --device device.json --target synthetic:pythia-2.8b
    --draft synthetic:pythia-70m --alpha 0.8 [--k-values 1 3 5 7 9] [--max-new-tokens 128]
    [--quant fp16|int8] [--json]
  Predicts baseline and speculative throughput for shapes and acceptance you did not run.`;

async function cmdSimulate(rawArgs: string[]): Promise<void> {
  const cmd = "simulate";
  const f = parse(cmd, joinLists(rawArgs, ["--k-values"]), {
    device: { type: "string" },
    target: { type: "string" },
    draft: { type: "string" },
    alpha: { type: "string" },
    "k-values": { type: "string" },
    "max-new-tokens": { type: "string" },
    quant: { type: "string" },
    json: { type: "boolean" },
  });
  if (f.help) return void console.log(HELP.simulate);
  const devicePath = required(cmd, f, "device");
  const targetSpec = required(cmd, f, "target");
  const draftSpec = required(cmd, f, "draft");
  const alpha = num(cmd, f, "alpha", 0.8, 0, 1);
  const kValues = intList(cmd, f, "k-values", [1, 3, 5, 7, 9], 1, MAX_K);
  const newTokens = int(cmd, f, "max-new-tokens", 128, 1, 100000);
  const quant = quantFlag(cmd, f, "quant");
  let profile: DeviceProfile;
  try {
    profile = JSON.parse(await Deno.readTextFile(devicePath));
  } catch (e) {
    throw new NeoxError(
      `${devicePath}: cannot read a device profile (${(e as Error).message.split("\n")[0]})`,
    );
  }
  if (typeof profile?.gemvGBs?.f32 !== "number" || typeof profile?.dispatchMs !== "number") {
    throw new NeoxError(
      `${devicePath}: not a device profile (run mod.ts calibrate -o ${devicePath})`,
    );
  }
  const { shapeOf } = await import("./profiler/calibrate.ts");
  const { loadConfig } = await import("./engine/config.ts");
  const cfgOf = async (spec: string) =>
    spec.startsWith("synthetic:") ? null : await loadConfig(spec);
  const target = shapeOf(targetSpec, await cfgOf(targetSpec), quant ? 1 : 2);
  const draft = shapeOf(draftSpec, await cfgOf(draftSpec), 2);
  const rows = simulate(profile, { target, draft, alpha, kValues, newTokens, waitsPerToken: 0.05 });
  if (f.json) return void console.log(JSON.stringify({ device: profile.description, alpha, rows }));
  console.log(
    `device: ${profile.description}; target ${targetSpec}, draft ${draftSpec}, alpha ${alpha}`,
  );
  console.log(
    "K   tDraftMs  tTargetMs  tVerifyMs      c  tokens/round  baseline tok/s  spec tok/s  speedup",
  );
  for (const r of rows) {
    console.log(
      [
        String(r.k).padEnd(3),
        r.tDraftMs.toFixed(3).padStart(8),
        r.tTargetMs.toFixed(3).padStart(10),
        r.tVerifyMs.toFixed(3).padStart(10),
        r.c.toFixed(3).padStart(6),
        r.expectedTokensPerRound.toFixed(2).padStart(13),
        r.baselineTokS.toFixed(1).padStart(15),
        r.speculativeTokS.toFixed(1).padStart(11),
        r.speedup.toFixed(2).padStart(8),
      ].join(" "),
    );
  }
}

HELP.bench = `deno run -A mod.ts bench --model DIR --draft DIR [--ids 1,2,3 | --prompt TEXT]
    --max-new-tokens N [--k-values 1 2 3 4 5] [--samples 2] [--kernel-reps 5]
    [--no-peer] [--peer-python /usr/bin/python3] [--json]
  Plain greedy and speculative decode tokens/s (after the first token) and CPU waits per
  token; the adapter's copy and compute-read bandwidth and FMA rate; every kernel of one
  target decode step, one draft step and one verify pass (best K) against those rates; and a
  PyTorch eager CPU peer (tests/peer_torch.py: float32, one thread, same checkpoint and
  prompt; its greedy tokens must equal ours). Without --ids/--prompt the built-in prompt
  "medium-json" is used. --json prints one JSON object, otherwise a table.`;

async function cmdBench(rawArgs: string[]): Promise<void> {
  const cmd = "bench";
  const f = parse(cmd, joinLists(rawArgs, ["--k-values"]), {
    model: { type: "string" },
    draft: { type: "string" },
    ids: { type: "string" },
    prompt: { type: "string" },
    "max-new-tokens": { type: "string" },
    "k-values": { type: "string" },
    samples: { type: "string" },
    "kernel-reps": { type: "string" },
    "no-peer": { type: "boolean" },
    "peer-python": { type: "string" },
    json: { type: "boolean" },
  });
  if (f.help) return void console.log(HELP.bench);
  const modelDir = required(cmd, f, "model");
  const draftDir = required(cmd, f, "draft");
  const maxNew = int(cmd, f, "max-new-tokens", 64, 2, 4000);
  const kValues = intList(cmd, f, "k-values", [1, 2, 3, 4, 5], 1, MAX_K);
  const samples = int(cmd, f, "samples", 2, 1, 100);
  const kernelReps = int(cmd, f, "kernel-reps", 5, 1, 100);
  const targetCfg = await checkModel(modelDir);
  const codec = await loadTokenizer(modelDir);
  await checkDraft(cmd, draftDir, modelDir, targetCfg, codec);
  let ids: number[];
  let promptName: string | null = null;
  let promptText = str(f, "prompt") ?? null;
  if (str(f, "ids") === undefined && promptText === null) {
    const { BUILTIN_PROMPTS } = await import("./profiler/prompts.ts");
    const p = BUILTIN_PROMPTS[0];
    promptName = p.name;
    promptText = codec ? p.text : null;
    ids = codec ? codec.encode(p.text) : Array.from({ length: 20 }, (_, i) => 1 + i);
  } else {
    ids = await promptIds(cmd, f, codec);
  }
  checkIds(cmd, ids, { cfg: targetCfg });
  const gpu = await getGpu();
  const target = await loadModel(gpu, modelDir);
  const need = ids.length + maxNew + Math.max(...kValues) + 2;
  if (need > 4096) {
    throw new UsageError(
      `${cmd}: prompt (${ids.length} tokens) + --max-new-tokens ${maxNew} + K exceed the 4096-position cache`,
    );
  }
  const draft = await loadModel(gpu, draftDir);
  const { benchTable, runBench } = await import("./profiler/bench.ts");
  const t0 = performance.now();
  const r = await runBench(target, draft, {
    ids,
    promptText,
    promptName,
    maxNewTokens: maxNew,
    kValues,
    samples,
    peer: !f["no-peer"],
    peerPython: str(f, "peer-python"),
    kernelReps,
    version: VERSION,
    progress: (line) =>
      console.error(`${line}  (${((performance.now() - t0) / 1000).toFixed(0)} s)`),
  });
  console.log(f.json ? JSON.stringify(r) : benchTable(r));
}

HELP.perplexity = `deno run -A mod.ts perplexity --model DIR --text FILE
    [--cache full|sink --cache-size C --sinks 4 --compress-at F] [--max-tokens N]
    [--segment-tokens 256] [--quant int8]
  Token-level NLL of the text (UTF-8, tokenized by the model's tokenizer) streamed
  through the cache; prints {"tokens","nll","perplexity","cache","cacheSize","sinks",
  "segments"} (segments: mean NLL of each run of --segment-tokens predicted tokens).`;

async function cmdPerplexity(args: string[]): Promise<void> {
  const cmd = "perplexity";
  const f = parse(cmd, args, {
    model: { type: "string" },
    text: { type: "string" },
    ...CACHE_FLAGS,
    "max-tokens": { type: "string" },
    "segment-tokens": { type: "string" },
    quant: { type: "string" },
  });
  if (f.help) return void console.log(HELP.perplexity);
  const modelDir = required(cmd, f, "model");
  const textPath = required(cmd, f, "text");
  const cache = cacheFlags(cmd, f);
  const maxTokens = int(cmd, f, "max-tokens", 0, 2, 10_000_000);
  const segment = int(cmd, f, "segment-tokens", 256, 1, 10_000_000);
  const quant = quantFlag(cmd, f, "quant");
  await checkModel(modelDir);
  const codec = await loadTokenizer(modelDir);
  if (!codec) throw new UsageError(`${cmd}: ${modelDir} has no tokenizer.json to encode --text`);
  let text: string;
  try {
    text = await Deno.readTextFile(textPath);
  } catch (e) {
    throw new NeoxError(`${textPath}: cannot read --text (${(e as Error).message.split("\n")[0]})`);
  }
  let ids = codec.encode(text);
  if (maxTokens > 0) ids = ids.slice(0, maxTokens);
  if (ids.length < 2) throw new UsageError(`${cmd}: ${textPath} has fewer than 2 tokens`);
  if (cache.kind === "full" && ids.length > MAX_CACHE_ENTRIES) {
    throw new UsageError(
      `${cmd}: ${ids.length} tokens exceed the full cache limit of ${MAX_CACHE_ENTRIES} (use --cache sink or --max-tokens)`,
    );
  }
  const gpu = await getGpu();
  const model = await loadModel(gpu, modelDir, { quant });
  const r = await streamingPerplexity(model, ids, { cache });
  const segments: number[] = [];
  for (let s = 0; s < r.tokens; s += segment) {
    const part = r.nllPerToken.subarray(s, s + segment);
    segments.push(part.reduce((a, b) => a + b, 0) / part.length);
  }
  console.log(JSON.stringify({
    tokens: r.tokens,
    nll: r.nll,
    perplexity: r.perplexity,
    ...cacheFields(cache),
    segmentTokens: segment,
    segments,
  }));
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  bench: cmdBench,
  calibrate: cmdCalibrate,
  simulate: cmdSimulate,
  logits: cmdLogits,
  generate: cmdGenerate,
  perplexity: cmdPerplexity,
  profile: cmdProfile,
  report: cmdReport,
};

const USAGE = `neox-spec ${VERSION}: GPT-NeoX on WebGPU with speculative decoding
usage: deno run -A mod.ts <command> [flags]   (each command has --help)
commands: ${Object.keys(COMMANDS).join(", ")}`;

/** Runs the CLI; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  const [cmd, ...rest] = args;
  try {
    if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
      console.log(USAGE);
      return cmd ? 0 : 2;
    }
    const run = COMMANDS[cmd];
    if (!run) {
      throw new UsageError(
        `unknown command "${cmd}" (commands: ${Object.keys(COMMANDS).join(", ")})`,
      );
    }
    await run(rest);
    return 0;
  } catch (e) {
    if (e instanceof NeoxError) {
      console.error(`error: ${e.message}`);
      if (debug) console.error(e.stack);
      return e.exitCode;
    }
    const err = e as Error;
    console.error(
      `error: ${String(err?.message ?? err).split("\n")[0]} (run with --debug for details)`,
    );
    if (debug) console.error(err?.stack);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  Deno.exit(code);
}
