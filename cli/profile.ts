/** `profile` (`deno task profile`): the GPU-timed speculative-decoding sweep. */
import { parseTreeSpec } from "../engine/tree_speculative.ts";
import { NeoxError, UsageError } from "../engine/errors.ts";
import { getGpu } from "../engine/device_deno.ts";
import { checkModel } from "../engine/load.ts";
import { MAX_K } from "../engine/speculative.ts";
import { loadTokenizer } from "../engine/tokenizer.ts";
import { checkOutputPath, writeFileAtomic } from "../engine/output.ts";
import { VERSION } from "../engine/version.ts";
import {
  replayCounts,
  runSweep,
  summaryTable,
  SweepInterrupted,
  type SweepOptions,
} from "../profiler/sweep.ts";
import { TraceRecorder, writeTrace } from "../profiler/trace.ts";
import type { Gpu } from "../engine/device.ts";
import { loadModel } from "../engine/load.ts";
import { DEFAULT_SINKS, FULL_CACHE, sinkWindowCache } from "../engine/cache_policy.ts";
import { type PromptCase, promptCases } from "../profiler/prompts.ts";
import { asDeviceCosts, type DeviceCosts } from "../profiler/cost_model.ts";
import { calibrateCosts } from "../profiler/calibrate.ts";
import { predictGrid, scorePredictions } from "../profiler/predict.ts";
import {
  type AcceptanceFile,
  acceptanceSummary,
  measureAcceptance,
} from "../profiler/acceptance.ts";
import {
  checkDraft,
  type Flags,
  GRID_LISTS,
  GRID_OPTIONS,
  type GridFlags,
  gridFlags,
  int,
  joinLists,
  num,
  parse,
  str,
  treesFlag,
} from "./flags.ts";

/** `--help` text. */
export const HELP = `deno task profile [--target-model DIR] [--draft-model DIR] [--k-values 3 5 7 9]
    [--max-new-tokens 48] [--max-cache-lens full 128] [--prompt-types medium long] [--prompt TEXT]
    [--num-samples 3] [--max-samples 6] [--time-budget-s 45] [--ci-target 0.05]
    [--quant fp16 int8] [--output-json F] [--output-html F] [--trace F]
    [--per-kernel] [--alpha A | --accept-trace FILE] [--device dev.json]
    [--acceptance acc.json ...] [--trees 2,2,1 4,2,1,1 auto:16 ...]
  Runs the speculative-decoding sweep (baseline + each K per cache, length, prompt type),
  GPU-timed, checked against the analytic models; prints a summary table. --per-kernel
  also times every kernel of a target decode step, a draft step and a verify pass at the
  smallest K (results.kernels). --alpha / --accept-trace replay acceptance: real draft and
  verify kernels run (e.g. on synthetic:pythia-2.8b / synthetic:pythia-70m) while accept
  counts come from a per-token acceptance or a trace (generate --json's "rounds").
  Models default to the embedded pair; synthetic:pythia-2.8b etc. also work.
  Predicts first, then measures: acceptance without speculation (per quant x cache) and a
  device profile (calibrate) are measured unless --acceptance / --device give them; every
  configuration is predicted (results.predictions, configs[].predicted) before any runs, and
  each model's out-of-sample error is reported after the sweep (not with --alpha/--accept-trace).
  --trees adds token-tree configurations to each group (static widths or auto:N, the dynamic
  tree of N nodes; ids tree-4x2x1-..., tree-auto16-...), measured like the chain (not with
  --alpha/--accept-trace).
  Baseline and every K of a (cache, quant, N, prompt type) group are sampled interleaved;
  each gets --num-samples samples, then more (up to --max-samples, within --time-budget-s
  per group) while the 95% t-interval of its mean throughput is wider than --ci-target
  (--num-samples N alone: exactly N).`;

/** Runs `profile`. */
export async function run(rawArgs: string[]): Promise<void> {
  const cmd = "profile";
  const { trees, rest } = treesFlag(cmd, rawArgs);
  const f = parse(cmd, joinLists(rest, [...GRID_LISTS, "--acceptance"]), {
    ...GRID_OPTIONS,
    prompt: { type: "string" },
    "num-samples": { type: "string" },
    "max-samples": { type: "string" },
    "time-budget-s": { type: "string" },
    "ci-target": { type: "string" },
    device: { type: "string" },
    acceptance: { type: "string" },
    "output-json": { type: "string" },
    "output-html": { type: "string" },
    trace: { type: "string" },
    alpha: { type: "string" },
    "accept-trace": { type: "string" },
    "per-kernel": { type: "boolean" },
  });
  if (f.help) return void console.log(HELP);
  const { targetModel, draftModel, kValues, maxNewTokens, cacheLens, promptTypes, quant } =
    gridFlags(cmd, f, MAX_K);
  const numSamples = int(cmd, f, "num-samples", 3, 1, 1000);
  // Given --num-samples alone means exactly that many; by default up to 6 while wide.
  const maxSamples = int(
    cmd,
    f,
    "max-samples",
    str(f, "num-samples") === undefined ? 6 : numSamples,
    numSamples,
    10000,
  );
  const timeBudgetS = num(cmd, f, "time-budget-s", 45, 0, 1e6);
  const ciTarget = num(cmd, f, "ci-target", 0.05, 0, 1);
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
  // Ctrl-C stops the sweep before its next sample; the finished configurations are saved.
  const abort = new AbortController();
  const onInterrupt = () => {
    if (abort.signal.aborted) Deno.exit(130);
    console.error("interrupted: finishing the current sample, then saving (Ctrl-C again quits)");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const pre = replay ? null : await predictFirst(
    gpu,
    f,
    {
      targetModel,
      draftModel,
      kValues,
      maxNewTokens,
      cacheLens,
      // A custom --prompt is the sweep's only prompt type ("custom").
      promptTypes: prompt !== undefined ? ["custom"] : promptTypes,
      quant,
    },
    promptCases(codec, promptTypes, prompt),
    trees,
    bar,
  );
  const results = await runSweep(gpu, codec, {
    targetModel,
    draftModel,
    kValues,
    trees,
    maxNewTokens,
    cacheLens,
    promptTypes,
    prompt,
    numSamples,
    maxSamples,
    timeBudgetS,
    ciTarget,
    quant,
    progress: bar,
    replay,
    trace,
    perKernel: Boolean(f["per-kernel"]),
    version: VERSION,
    signal: abort.signal,
    device: pre?.device,
  }).catch((e) => keepPartialResults(cmd, e, str(f, "output-json")))
    .finally(() => Deno.removeSignalListener("SIGINT", onInterrupt));
  if (pre) {
    results.predictions = {
      ...scorePredictions(pre.rows, results.configs, pre.sources),
      // So the report can show what the predictions assumed (i.i.d. or not, per position).
      acceptanceSummary: pre.acceptance.map(acceptanceSummary),
    };
  }
  console.log(summaryTable(results));
  const jsonPath = str(f, "output-json");
  if (jsonPath) await writeFileAtomic(jsonPath, JSON.stringify(results, null, 1));
  const htmlPath = str(f, "output-html");
  if (htmlPath) {
    const { renderReport } = await import("../report/mod.ts");
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

/** Device profile and acceptance (read or measured), then one prediction per configuration. */
async function predictFirst(
  gpu: Gpu,
  f: Flags,
  grid: GridFlags,
  prompts: PromptCase[],
  treeSpecs: string[],
  log: (line: string) => void,
) {
  const kMax = Math.max(...grid.kValues);
  const trees = treeSpecs.map(parseTreeSpec);
  const depthMax = Math.max(0, ...trees.map((t) => t.widths.length));
  const devicePath = str(f, "device");
  let device: DeviceCosts;
  if (devicePath) {
    device = asDeviceCosts(JSON.parse(await Deno.readTextFile(devicePath)), devicePath);
  } else {
    log("predict first: calibrating pass costs (calibrate)");
    const lengths = [...new Set(prompts.flatMap((p) => [p.ids.length, p.ids.length - 1]))];
    device = await calibrateCosts(gpu, {
      target: grid.targetModel,
      draft: grid.draftModel,
      quant: grid.quant,
      kMax,
      prefillLengths: lengths.filter((n) => n >= 1 && n <= 256),
      trees,
      progress: log,
    });
  }
  const accPaths = str(f, "acceptance")?.split(",") ?? [];
  let acceptance: AcceptanceFile[];
  if (accPaths.length) {
    const { readAcceptanceFiles } = await import("./predict.ts");
    acceptance = await readAcceptanceFiles(accPaths);
  } else {
    acceptance = [];
    const draft = await loadModel(gpu, grid.draftModel);
    for (const quant of grid.quant) {
      const target = await loadModel(gpu, grid.targetModel, quant === "int8" ? { quant } : {});
      for (const size of grid.cacheLens) {
        log(`predict first: acceptance without speculation (${quant}, cache ${size ?? "full"})`);
        acceptance.push(
          await measureAcceptance(gpu, null, {
            target,
            draft,
            prompts,
            maxNewTokens: Math.max(...grid.maxNewTokens),
            kValues: grid.kValues,
            depthMax,
            quant,
            cache: size === null ? FULL_CACHE : sinkWindowCache(size, DEFAULT_SINKS),
          }),
        );
      }
      target.destroy();
    }
    draft.destroy();
  }
  const rows = predictGrid(device, acceptance, { ...grid, trees });
  const dynamic = trees.filter((t) => t.budget !== undefined).length;
  log(
    `predict first: ${rows.length} configurations predicted before any was measured${
      dynamic ? ` (${dynamic} dynamic tree(s) per group not predicted)` : ""
    }`,
  );
  return {
    device,
    rows,
    acceptance,
    sources: {
      device: devicePath ?? "calibrated in this run",
      acceptance: accPaths.length ? accPaths : ["measured in this run (greedy agreement)"],
    },
  };
}
