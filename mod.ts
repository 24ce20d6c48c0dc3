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
import { getGpu } from "./engine/device.ts";
import { loadModel } from "./engine/load.ts";
import type { NeoxModel } from "./engine/model.ts";
import { allLogits, greedyGenerate } from "./engine/generate.ts";
import { MAX_K, speculativeGenerate } from "./engine/speculative.ts";
import { loadTokenizer, type TextCodec } from "./engine/tokenizer.ts";
import { writeFileAtomic } from "./engine/output.ts";
import { speculativeMetrics, timingMetrics } from "./profiler/metrics.ts";
import { GpuTimer } from "./profiler/gpu_timer.ts";

export { NeoxError } from "./engine/errors.ts";
export { getGpu } from "./engine/device.ts";
export { loadModel, PYTHIA_CONFIGS } from "./engine/load.ts";
export { NeoxModel, Sequence } from "./engine/model.ts";
export { allLogits, greedyGenerate } from "./engine/generate.ts";
export { speculativeGenerate } from "./engine/speculative.ts";
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

function checkIds(cmd: string, ids: number[], model: NeoxModel): void {
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
    [--draft DIR --k K|auto] [--cache full|sink --cache-size C --sinks 4] [--quant int8]
    [--temperature T --top-p P --seed S] [--stop-at-eos] --json
  Greedy unless --temperature > 0. With --draft, speculative decoding (output identical to
  the target's greedy output). --json prints {"tokens","text","rounds","metrics"}.`,
};

function later(cmd: string, flag: string, issue: string): never {
  throw new UsageError(`${cmd}: ${flag} is not available yet (${issue})`);
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
  if (str(f, "quant") !== undefined) later("logits", "--quant", "INT8 weights");
  const gpu = await getGpu();
  const model = await loadModel(gpu, modelDir);
  checkIds("logits", ids, model);
  if (ids.length > 4096) {
    throw new UsageError(`logits: ${ids.length} ids exceed the 4096-position cache limit`);
  }
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
    cache: { type: "string" },
    "cache-size": { type: "string" },
    sinks: { type: "string" },
    "compress-at": { type: "string" },
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
  if (draftDir) {
    if (kFlag === "auto") later(cmd, "--k auto", "adaptive K");
    k = int(cmd, f, "k", 5, 1, MAX_K);
  }
  const cache = str(f, "cache") ?? "full";
  if (cache !== "full" && cache !== "sink") {
    throw new UsageError(`${cmd}: --cache must be full or sink, got "${cache}"`);
  }
  if (
    cache === "sink" || f["cache-size"] !== undefined || f.sinks !== undefined ||
    f["compress-at"] !== undefined
  ) {
    later(cmd, "--cache sink", "StreamingLLM cache");
  }
  if (f.quant !== undefined || f["draft-quant"] !== undefined) {
    later(cmd, "--quant", "INT8 weights");
  }
  const temperature = num(cmd, f, "temperature", 0, 0, 100);
  if (temperature > 0 || f["top-p"] !== undefined || f.seed !== undefined) {
    later(cmd, "--temperature", "sampling");
  }

  const codec = await loadTokenizer(modelDir);
  const ids = await promptIds(cmd, f, codec);
  const gpu = await getGpu();
  const target = await loadModel(gpu, modelDir);
  checkIds(cmd, ids, target);
  const limit = target.cfg.maxPositions;
  if (ids.length + maxNew > limit) {
    throw new UsageError(
      `${cmd}: prompt (${ids.length} tokens) + --max-new-tokens ${maxNew} exceed the model's ${limit} positions with a full cache (use --cache sink)`,
    );
  }
  let tokens: number[];
  let metrics: Record<string, unknown>;
  let rounds: number[] | undefined;
  if (draftDir) {
    const draftCodec = await loadTokenizer(draftDir);
    if (codec && draftCodec && codec.fingerprint !== draftCodec.fingerprint) {
      throw new UsageError(
        `${cmd}: the draft's tokenizer (${draftDir}) differs from the target's (${modelDir})`,
      );
    }
    const draft = await loadModel(gpu, draftDir);
    const timer = gpu.hasTimestamps ? new GpuTimer(gpu, 2048) : undefined;
    const r = await speculativeGenerate(target, draft, ids, {
      k,
      maxNewTokens: maxNew,
      hook: timer,
    });
    const base = await greedyGenerate(target, ids, Math.min(maxNew, 9), { hook: timer });
    void base;
    tokens = r.tokens;
    rounds = r.rounds;
    const m = speculativeMetrics(r.rounds, k, maxNew);
    const passMs = timer ? await passTimes(timer) : {};
    metrics = {
      ...timingMetrics({ ttftMs: r.ttftMs, decodeMs: r.decodeMs, newTokens: maxNew }),
      draftAcceptanceRate: m.draftAcceptanceRate,
      meanTokensPerRound: m.meanTokensPerRound,
      perPositionAcceptance: m.perPositionAcceptance,
      rounds: r.rounds,
      k,
      ...passMs,
      gpuWaitsPerToken: r.gpuWaits / maxNew,
      kvBytes: r.kvBytes,
      weightBytes: target.weightBytes + draft.weightBytes,
    };
  } else {
    const r = await greedyGenerate(target, ids, maxNew);
    tokens = r.tokens;
    metrics = {
      ...timingMetrics({ ttftMs: r.ttftMs, decodeMs: r.decodeMs, newTokens: maxNew }),
      gpuWaitsPerToken: r.gpuWaits / maxNew,
      kvBytes: r.kvBytes,
      weightBytes: target.weightBytes,
    };
  }
  if (f["stop-at-eos"] && target.cfg.eosTokenId !== null) {
    const at = tokens.indexOf(target.cfg.eosTokenId);
    if (at >= 0) tokens = tokens.slice(0, at + 1);
  }
  const text = codec ? codec.decode(tokens) : "";
  if (f.json) {
    console.log(JSON.stringify({ tokens, text, ...(rounds ? { rounds } : {}), metrics }));
  } else {
    console.log(codec ? text : tokens.join(","));
  }
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

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  logits: cmdLogits,
  generate: cmdGenerate,
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
