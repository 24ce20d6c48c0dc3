/** Flag parsing and checks shared by the subcommands: every mistake is one UsageError line. */
import { parseArgs } from "node:util";
import { NeoxError, UsageError } from "../engine/errors.ts";
import { checkModel } from "../engine/load.ts";
import type { NeoxConfig } from "../engine/config.ts";
import {
  type CachePolicy,
  checkCachePolicy,
  DEFAULT_SINKS,
  FULL_CACHE,
  MAX_CACHE_ENTRIES,
  sinkWindowCache,
} from "../engine/cache_policy.ts";
import type { SamplingOptions } from "../engine/sampling.ts";
import { loadTokenizer, type TextCodec } from "../engine/tokenizer.ts";
import { QUANT_MODES, type QuantMode } from "../engine/quantize.ts";
import { parseTreeSpec } from "../engine/tree_speculative.ts";

export type Flags = Record<string, string | boolean | string[] | undefined>;
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

export const COMMON: OptionSpec = {
  help: { type: "boolean", short: "h" },
  debug: { type: "boolean" },
};

/** Parses flags strictly: an unknown flag or a missing value is a usage error. */
export function parse(cmd: string, args: string[], options: OptionSpec): Flags {
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

export function str(f: Flags, name: string): string | undefined {
  const v = f[name];
  return typeof v === "string" ? v : undefined;
}

export function required(cmd: string, f: Flags, name: string): string {
  const v = str(f, name);
  if (v === undefined || v === "") {
    throw new UsageError(`${cmd}: --${name} is required (see --help)`);
  }
  return v;
}

export function int(
  cmd: string,
  f: Flags,
  name: string,
  def: number,
  min: number,
  max: number,
): number {
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

export function num(
  cmd: string,
  f: Flags,
  name: string,
  def: number,
  min: number,
  max: number,
): number {
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
export function parseIds(cmd: string, s: string): number[] {
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
export function checkIds(cmd: string, ids: number[], model: { cfg: NeoxConfig }): void {
  if (ids.length === 0) throw new UsageError(`${cmd}: the prompt is empty`);
  const bad = ids.find((i) => i >= model.cfg.vocabSize);
  if (bad !== undefined) {
    throw new UsageError(
      `${cmd}: --ids: token id ${bad} is outside the vocabulary (0..${model.cfg.vocabSize - 1})`,
    );
  }
}

export async function promptIds(cmd: string, f: Flags, codec: TextCodec | null): Promise<number[]> {
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

/** `--quant int8|int8-g128` (absent: the checkpoint's own precision). */
export function quantFlag(cmd: string, f: Flags, name: string): QuantMode | undefined {
  const v = str(f, name);
  if (v === undefined || v === "fp16") return undefined;
  if (!(QUANT_MODES as readonly string[]).includes(v)) {
    throw new UsageError(`${cmd}: --${name} must be fp16, ${QUANT_MODES.join(" or ")}, got "${v}"`);
  }
  return v as QuantMode;
}

/** Refuses a draft that cannot serve the target (vocabulary or tokenizer differs), on the CPU. */
export async function checkDraft(
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
export const CACHE_FLAGS: OptionSpec = {
  cache: { type: "string" },
  "cache-size": { type: "string" },
  sinks: { type: "string" },
  "compress-at": { type: "string" },
};

/** The cache policy of `--cache full|sink --cache-size C --sinks S --compress-at F`. */
export function cacheFlags(cmd: string, f: Flags, k = 0): CachePolicy {
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
export function cacheFields(policy: CachePolicy): Record<string, unknown> {
  if (policy.kind === "full") return { cache: "full", cacheSize: null, sinks: null };
  const at = policy.compressAt;
  return {
    cache: "sink",
    cacheSize: policy.size,
    sinks: policy.sinks,
    ...(at !== undefined ? { compressAt: at } : {}),
  };
}

/** Sampling fields of a result: {temperature, topP, seed}. */
export function samplingFields(s: SamplingOptions): Record<string, unknown> {
  return { temperature: s.temperature, topP: s.topP ?? 1, seed: s.seed ?? 0 };
}

/** Joins space-separated list values (`--k-values 3 5 7`) into one comma-separated value. */
export function joinLists(args: string[], lists: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    out.push(args[i]);
    if (lists.includes(args[i])) {
      const vals: string[] = [];
      // A short flag (`-o`) ends the list too; negative numbers do not.
      while (i + 1 < args.length && !/^-[A-Za-z-]/.test(args[i + 1])) vals.push(args[++i]);
      out.push(vals.join(","));
    }
  }
  return out;
}

export function intList(
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

/** The experiment grid of `profile` and `predict`. */
export interface GridFlags {
  targetModel: string;
  draftModel: string;
  kValues: number[];
  maxNewTokens: number[];
  /** Cache capacities; null is a full cache. */
  cacheLens: (number | null)[];
  promptTypes: string[];
  quant: ("fp16" | "int8")[];
}

/** parseArgs options of the grid flags (lists joined by {@link joinLists}). */
export const GRID_OPTIONS: OptionSpec = {
  "target-model": { type: "string" },
  "draft-model": { type: "string" },
  "k-values": { type: "string" },
  "max-new-tokens": { type: "string" },
  "max-cache-lens": { type: "string" },
  "prompt-types": { type: "string" },
  quant: { type: "string" },
};

/** The list-valued grid flags. */
export const GRID_LISTS = [
  "--k-values",
  "--max-new-tokens",
  "--max-cache-lens",
  "--prompt-types",
  "--quant",
];

/** Reads the grid flags with the sweep's defaults (the embedded pair, K 3 5 7 9, ...). */
export function gridFlags(cmd: string, f: Flags, maxK: number): GridFlags {
  const here = decodeURIComponent(new URL("../", import.meta.url).pathname);
  const targetModel = str(f, "target-model") ?? `${here}models/pydoc-neox-20m`;
  const draftModel = str(f, "draft-model") ?? `${here}models/pydoc-neox-2.5m`;
  const kValues = intList(cmd, f, "k-values", [3, 5, 7, 9], 1, maxK);
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
  return {
    targetModel,
    draftModel,
    kValues,
    maxNewTokens,
    cacheLens,
    promptTypes,
    quant: quant as ("fp16" | "int8")[],
  };
}

/**
 * `--trees 2,2,1 auto:16 ...` taken out of the arguments before the other lists are joined
 * (a tree's widths hold the commas that join list values).
 */
export function treesFlag(cmd: string, args: string[]): { trees: string[]; rest: string[] } {
  const at = args.indexOf("--trees");
  if (at < 0) return { trees: [], rest: args };
  let end = at + 1;
  while (end < args.length && !args[end].startsWith("-")) end++;
  const trees = args.slice(at + 1, end);
  if (trees.length === 0) throw new UsageError(`${cmd}: --trees needs at least one tree`);
  for (const spec of trees) {
    try {
      parseTreeSpec(spec);
    } catch (e) {
      throw new UsageError(`${cmd}: --trees: ${(e as Error).message}`);
    }
  }
  return { trees, rest: [...args.slice(0, at), ...args.slice(end)] };
}
