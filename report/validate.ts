/**
 * Checks that a parsed (or raw) results JSON matches {@link ResultsFile} before the report
 * renders it. Every problem becomes a one-line {@link NeoxError} naming the file and the
 * field, e.g. `results.json: configs[3].ttftMs.mean must be a finite number, got "fast"`.
 * Unknown extra fields are allowed so that newer results files still render.
 */

import { NeoxError } from "../engine/errors.ts";
import { RESULTS_SCHEMA, type ResultsFile } from "../profiler/results.ts";

type Obj = Record<string, unknown>;

/** A short, single-line rendering of a value for error messages. */
function show(value: unknown): string {
  if (value === undefined) return "nothing";
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  text = text.replace(/\s+/g, " ");
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Collapses a message to one line (paths and parser messages may hold newlines). */
function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, " ").replace(/\s{2,}/g, " ").trim();
}

class Checker {
  constructor(readonly file: string) {}

  fail(at: string, problem: string): never {
    throw new NeoxError(oneLine(`${this.file}: invalid results file: ${at} ${problem}`));
  }

  obj(value: unknown, at: string): Obj {
    if (value === undefined) this.fail(at, "is missing");
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(at, `must be an object, got ${show(value)}`);
    }
    return value as Obj;
  }

  arr(value: unknown, at: string): unknown[] {
    if (value === undefined) this.fail(at, "is missing");
    if (!Array.isArray(value)) this.fail(at, `must be an array, got ${show(value)}`);
    return value;
  }

  num(value: unknown, at: string): number {
    if (value === undefined) this.fail(at, "is missing");
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.fail(at, `must be a finite number, got ${show(value)}`);
    }
    return value;
  }

  int(value: unknown, at: string): number {
    const n = this.num(value, at);
    if (!Number.isInteger(n) || n < 0) this.fail(at, `must be an integer >= 0, got ${show(n)}`);
    return n;
  }

  str(value: unknown, at: string): string {
    if (value === undefined) this.fail(at, "is missing");
    if (typeof value !== "string") this.fail(at, `must be a string, got ${show(value)}`);
    return value;
  }

  bool(value: unknown, at: string): boolean {
    if (value === undefined) this.fail(at, "is missing");
    if (typeof value !== "boolean") this.fail(at, `must be true or false, got ${show(value)}`);
    return value;
  }

  oneOf<T extends string>(value: unknown, at: string, allowed: readonly T[]): T {
    const s = this.str(value, at);
    if (!(allowed as readonly string[]).includes(s)) {
      this.fail(at, `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${show(s)}`);
    }
    return s as T;
  }

  /** `null` is allowed, a missing field is not (the schema writes explicit nulls). */
  nullable<T>(value: unknown, at: string, check: (v: unknown, at: string) => T): T | null {
    if (value === undefined) this.fail(at, "is missing (use null for no value)");
    return value === null ? null : check(value, at);
  }

  stat(value: unknown, at: string): void {
    const o = this.obj(value, at);
    for (const key of ["mean", "std", "min", "max"]) this.num(o[key], `${at}.${key}`);
    this.int(o.n, `${at}.n`);
  }

  prediction(value: unknown, at: string): void {
    const o = this.obj(value, at);
    this.num(o.speedup, `${at}.speedup`);
    this.num(o.errorPct, `${at}.errorPct`);
  }

  model(value: unknown, at: string): void {
    const o = this.obj(value, at);
    this.str(o.path, `${at}.path`);
    for (const key of ["params", "layers", "hidden", "heads", "vocab", "weightBytes"]) {
      this.int(o[key], `${at}.${key}`);
    }
    this.str(o.dtype, `${at}.dtype`);
  }

  config(value: unknown, at: string): void {
    const o = this.obj(value, at);
    this.str(o.id, `${at}.id`);
    const mode = this.oneOf(o.mode, `${at}.mode`, ["baseline", "speculative", "tree"] as const);
    const k = this.nullable(o.k, `${at}.k`, (v, p) => this.int(v, p));
    if (mode !== "baseline" && (k === null || k < 1)) {
      this.fail(`${at}.k`, `must be an integer >= 1 for a speculative run, got ${show(k)}`);
    }
    this.int(o.maxNewTokens, `${at}.maxNewTokens`);
    this.oneOf(o.cache, `${at}.cache`, ["full", "sink"] as const);
    this.nullable(o.cacheSize, `${at}.cacheSize`, (v, p) => this.int(v, p));
    this.oneOf(o.quant, `${at}.quant`, ["fp16", "int8"] as const);
    this.str(o.promptType, `${at}.promptType`);
    this.stat(o.throughputTokS, `${at}.throughputTokS`);
    this.stat(o.ttftMs, `${at}.ttftMs`);
    this.stat(o.tpotMs, `${at}.tpotMs`);
    for (
      const key of [
        "draftAcceptanceRate",
        "meanTokensPerRound",
        "tDraftMs",
        "tTargetMs",
        "tVerifyMs",
        "c",
        "measuredSpeedup",
        "alphaPerToken",
      ]
    ) {
      this.nullable(o[key], `${at}.${key}`, (v, p) => this.num(v, p));
    }
    this.nullable(o.perPositionAcceptance, `${at}.perPositionAcceptance`, (v, p) => {
      this.arr(v, p).forEach((x, i) => this.num(x, `${p}[${i}]`));
    });
    this.int(o.compressionEvents, `${at}.compressionEvents`);
    this.int(o.kvBytes, `${at}.kvBytes`);
    this.int(o.peakBytes, `${at}.peakBytes`);
    this.int(o.weightBytes, `${at}.weightBytes`);
    this.num(o.gpuWaitsPerToken, `${at}.gpuWaitsPerToken`);
    this.nullable(o.accounting, `${at}.accounting`, (v, p) => {
      const preds = this.obj(v, p);
      for (const key of ["seed", "leviathan", "refined"]) {
        this.prediction(preds[key], `${p}.${key}`);
      }
    });
    // Absent in files written before profile predicted first; the report then says so.
    if (o.throughputCi !== undefined) {
      const ci = this.obj(o.throughputCi, `${at}.throughputCi`);
      this.num(ci.halfWidth, `${at}.throughputCi.halfWidth`);
      this.num(ci.relHalfWidth, `${at}.throughputCi.relHalfWidth`);
    }
    if (o.predicted !== undefined) this.configPrediction(o.predicted, `${at}.predicted`);
  }

  /** The speedups of the three predicting models (seed and leviathan may be null). */
  speedups(value: unknown, at: string): void {
    const o = this.obj(value, at);
    for (const key of ["seed", "leviathan"]) {
      this.nullable(o[key], `${at}.${key}`, (v, p) => this.num(v, p));
    }
    this.num(o.costAware, `${at}.costAware`);
  }

  configPrediction(value: unknown, at: string): void {
    const o = this.obj(value, at);
    this.nullable(o.tokensPerRound, `${at}.tokensPerRound`, (v, p) => this.num(v, p));
    this.num(o.throughputTokS, `${at}.throughputTokS`);
    this.speedups(o.speedup, `${at}.speedup`);
    if (o.errorPct !== undefined) {
      const e = this.obj(o.errorPct, `${at}.errorPct`);
      this.num(e.throughputTokS, `${at}.errorPct.throughputTokS`);
      this.nullable(e.tokensPerRound, `${at}.errorPct.tokensPerRound`, (v, p) => this.num(v, p));
      this.speedups(e.speedup, `${at}.errorPct.speedup`);
    }
  }

  predictions(value: unknown, at: string): void {
    const o = this.obj(value, at);
    this.str(o.device, `${at}.device`);
    this.arr(o.acceptance, `${at}.acceptance`).forEach((v, i) =>
      this.str(v, `${at}.acceptance[${i}]`)
    );
    this.arr(o.rows, `${at}.rows`).forEach((v, i) => {
      this.configPrediction(v, `${at}.rows[${i}]`);
      this.str((v as Obj).id, `${at}.rows[${i}].id`);
    });
    this.arr(o.summary, `${at}.summary`).forEach((v, i) => {
      const s = this.obj(v, `${at}.summary[${i}]`);
      const p = `${at}.summary[${i}]`;
      this.oneOf(s.model, `${p}.model`, ["seed", "leviathan", "costAware"] as const);
      this.nullable(
        s.speedupMeanAbsPctError,
        `${p}.speedupMeanAbsPctError`,
        (x, q) => this.num(x, q),
      );
      this.nullable(
        s.throughputMeanAbsPctError,
        `${p}.throughputMeanAbsPctError`,
        (x, q) => this.num(x, q),
      );
      this.int(s.n, `${p}.n`);
    });
    this.nullable(
      o.tokensPerRoundMeanAbsPctError,
      `${at}.tokensPerRoundMeanAbsPctError`,
      (v, p) => this.num(v, p),
    );
    if (o.acceptanceSummary === undefined) return;
    this.arr(o.acceptanceSummary, `${at}.acceptanceSummary`).forEach((v, i) => {
      const p = `${at}.acceptanceSummary[${i}]`;
      const a = this.obj(v, p);
      this.oneOf(a.quant, `${p}.quant`, ["fp16", "int8"] as const);
      this.oneOf(a.cache, `${p}.cache`, ["full", "sink"] as const);
      this.nullable(a.cacheSize, `${p}.cacheSize`, (x, q) => this.int(x, q));
      this.num(a.temperature, `${p}.temperature`);
      this.int(a.maxNewTokens, `${p}.maxNewTokens`);
      for (const [kind, kv] of Object.entries(this.obj(a.byKind, `${p}.byKind`))) {
        const q = `${p}.byKind.${kind}`;
        const k = this.obj(kv, q);
        this.num(k.alpha, `${q}.alpha`);
        this.int(k.positions, `${q}.positions`);
        const iid = this.obj(k.iid, `${q}.iid`);
        for (const key of ["meanRunLength", "lag1Autocorrelation", "runsTestZ"]) {
          this.num(iid[key], `${q}.iid.${key}`);
        }
        this.nullable(
          iid.expectedRunLength,
          `${q}.iid.expectedRunLength`,
          (x, r) => this.num(x, r),
        );
        this.arr(k.perPositionAcceptance, `${q}.perPositionAcceptance`).forEach((x, j) =>
          this.num(x, `${q}.perPositionAcceptance[${j}]`)
        );
      }
    });
  }
}

/**
 * Checks a results file and returns it typed. `json` is either the parsed value or the raw
 * JSON text (a string is parsed first, so malformed JSON is refused here too); `path` names
 * the file in error messages. Throws a one-line {@link NeoxError} for malformed JSON, a wrong
 * or missing schema tag, or a missing or mistyped field.
 */
export function validateResults(json: unknown, path: string): ResultsFile {
  const check = new Checker(path);
  if (typeof json === "string") {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new NeoxError(
        oneLine(`${path}: not valid JSON (${e instanceof Error ? e.message : String(e)})`),
      );
    }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new NeoxError(
      oneLine(`${path}: not a results file: expected a JSON object, got ${show(json)}`),
    );
  }
  const root = json as Obj;
  if (root.schema !== RESULTS_SCHEMA) {
    throw new NeoxError(oneLine(
      `${path}: not a neox-spec results file: schema is ${
        show(root.schema)
      }, expected "${RESULTS_SCHEMA}"`,
    ));
  }

  const tool = check.obj(root.tool, "tool");
  check.oneOf(tool.name, "tool.name", ["neox-spec"] as const);
  check.str(tool.version, "tool.version");
  check.str(root.createdAt, "createdAt");

  const device = check.obj(root.device, "device");
  check.str(device.description, "device.description");
  check.str(device.vendor, "device.vendor");
  check.str(device.architecture, "device.architecture");
  check.bool(device.isFallbackAdapter, "device.isFallbackAdapter");
  check.arr(device.features, "device.features").forEach((f, i) =>
    check.str(f, `device.features[${i}]`)
  );

  const models = check.obj(root.models, "models");
  check.model(models.target, "models.target");
  check.nullable(models.draft, "models.draft", (v, p) => check.model(v, p));

  const settings = check.obj(root.settings, "settings");
  check.arr(settings.kValues, "settings.kValues").forEach((v, i) =>
    check.int(v, `settings.kValues[${i}]`)
  );
  check.arr(settings.maxNewTokens, "settings.maxNewTokens").forEach((v, i) =>
    check.int(v, `settings.maxNewTokens[${i}]`)
  );
  check.arr(settings.cacheSizes, "settings.cacheSizes").forEach((v, i) =>
    check.nullable(v, `settings.cacheSizes[${i}]`, (x, p) => check.int(x, p))
  );
  check.arr(settings.promptTypes, "settings.promptTypes").forEach((v, i) =>
    check.str(v, `settings.promptTypes[${i}]`)
  );
  check.int(settings.numSamples, "settings.numSamples");
  check.arr(settings.quant, "settings.quant").forEach((v, i) =>
    check.str(v, `settings.quant[${i}]`)
  );
  check.num(settings.temperature, "settings.temperature");

  check.arr(root.prompts, "prompts").forEach((v, i) => {
    const p = check.obj(v, `prompts[${i}]`);
    check.str(p.name, `prompts[${i}].name`);
    check.str(p.kind, `prompts[${i}].kind`);
    check.str(p.text, `prompts[${i}].text`);
    check.arr(p.ids, `prompts[${i}].ids`).forEach((id, j) =>
      check.int(id, `prompts[${i}].ids[${j}]`)
    );
  });

  const seen = new Map<string, number>();
  check.arr(root.configs, "configs").forEach((v, i) => {
    check.config(v, `configs[${i}]`);
    const id = (v as Obj).id as string;
    const first = seen.get(id);
    if (first !== undefined) {
      check.fail(`configs[${i}].id`, `repeats the id ${show(id)} of configs[${first}]`);
    }
    seen.set(id, i);
  });

  const analytic = check.obj(root.analytic, "analytic");
  check.arr(analytic.summary, "analytic.summary").forEach((v, i) => {
    const s = check.obj(v, `analytic.summary[${i}]`);
    check.oneOf(s.model, `analytic.summary[${i}].model`, ["seed", "leviathan", "refined"] as const);
    check.num(s.meanAbsPctError, `analytic.summary[${i}].meanAbsPctError`);
  });
  check.str(analytic.best, "analytic.best");
  check.str(analytic.alphaNote, "analytic.alphaNote");

  if (root.predictions !== undefined) check.predictions(root.predictions, "predictions");

  check.arr(root.kernels, "kernels").forEach((v, i) => {
    const k = check.obj(v, `kernels[${i}]`);
    check.str(k.name, `kernels[${i}].name`);
    check.str(k.pass, `kernels[${i}].pass`);
    check.str(k.shape, `kernels[${i}].shape`);
    check.num(k.ms, `kernels[${i}].ms`);
  });

  check.arr(root.memory, "memory").forEach((v, i) => {
    const m = check.obj(v, `memory[${i}]`);
    check.oneOf(m.cache, `memory[${i}].cache`, ["full", "sink"] as const);
    check.nullable(m.cacheSize, `memory[${i}].cacheSize`, (x, p) => check.int(x, p));
    check.arr(m.points, `memory[${i}].points`).forEach((pt, j) => {
      const o = check.obj(pt, `memory[${i}].points[${j}]`);
      check.num(o.generatedTokens, `memory[${i}].points[${j}].generatedTokens`);
      check.num(o.kvBytes, `memory[${i}].points[${j}].kvBytes`);
    });
  });

  return root as unknown as ResultsFile;
}
