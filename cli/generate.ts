/** `generate`: plain or speculative generation of one prompt, with metrics. */
import { NeoxError, UsageError } from "../engine/errors.ts";
import { getGpu } from "../engine/device_deno.ts";
import { checkModel, loadModel } from "../engine/load.ts";
import { greedyGenerate } from "../engine/generate.ts";
import { attendedKeys } from "../engine/cache_policy.ts";
import { MAX_K, speculativeGenerate } from "../engine/speculative.ts";
import { dynamicTree, staticTree, treeGenerate, treeMetrics } from "../engine/tree_speculative.ts";
import { MAX_TREE_NODES } from "../engine/ops.ts";
import type { SamplingOptions } from "../engine/sampling.ts";
import type { KAutoOptions } from "../engine/k_policy.ts";
import { loadTokenizer } from "../engine/tokenizer.ts";
import { quantQuality } from "../profiler/quality.ts";
import { firstRoundTokens, speculativeMetrics, timingMetrics } from "../profiler/metrics.ts";
import { mean } from "../profiler/stats.ts";
import { GpuTimer } from "../profiler/gpu_timer.ts";
import {
  CACHE_FLAGS,
  cacheFields,
  cacheFlags,
  checkDraft,
  checkIds,
  int,
  num,
  parse,
  promptIds,
  quantFlag,
  required,
  samplingFields,
  str,
} from "./flags.ts";

/** `--help` text. */
export const HELP =
  `deno run -A mod.ts generate --model DIR (--ids 1,2,3 | --prompt TEXT) --max-new-tokens N
    [--draft DIR --k K|auto [--k-policy optimal|heuristic] [--device dev.json]]
    [--draft DIR --tree W1,W2,.. | --tree auto --tree-budget N]
    [--cache full|sink --cache-size C --sinks 4 --compress-at F]
    [--quant int8] [--temperature T --top-p P --seed S] [--stop-at-eos] [--no-tune] --json
  Greedy unless --temperature > 0 (then softmax(logits/T), within the top-p nucleus when
  --top-p P < 1, seeded by --seed S, an integer 0..4294967295; random seed by default,
  reported in metrics). With --draft, speculative decoding: greedy output identical to the
  target's greedy output under the same cache; sampled output distributed as the target's.
  --k auto picks K between rounds: "optimal" (default) maximizes Leviathan's expected
  speedup for the running acceptance estimate; "heuristic" is transformers' schedule
  (K+2 after a fully accepted round, else K-1). With --device (mod.ts calibrate), "optimal"
  takes c and the verify cost T_verify(K+1)/T_target(1) from the measured pass costs. --cache sink: StreamingLLM's
  sink-plus-window cache of C entries (S sinks, default 4), memory independent of length;
  --compress-at F evicts only past F*C entries, in one step (see engine/cache_policy.ts).
  --tree W1,W2,..: token-tree speculation (greedy only): each node at depth i gets the
  draft's top-Wi tokens as children (4,2,1 = 4 + 8 + 8 nodes, at most 63); the target
  verifies the whole tree in one pass and the longest agreeing path is accepted.
  --tree auto --tree-budget N (default 16, at most 63): a dynamic tree of N nodes over
  round(sqrt(N)) depths, rebuilt on the GPU every round from the nodes of highest
  cumulative draft probability (EAGLE-2 style).
  --no-tune: the engine's rule kernels, none timed at load and the tuning cache neither read
  nor written (to compare with the tuned choices, as .ci/gpu_check does).
  --json prints {"tokens","text","rounds","metrics"}.`;

/** Runs `generate`. */
export async function run(args: string[]): Promise<void> {
  const cmd = "generate";
  const f = parse(cmd, args, {
    model: { type: "string" },
    ids: { type: "string" },
    prompt: { type: "string" },
    "max-new-tokens": { type: "string" },
    draft: { type: "string" },
    k: { type: "string" },
    "k-policy": { type: "string" },
    tree: { type: "string" },
    "tree-budget": { type: "string" },
    device: { type: "string" },
    ...CACHE_FLAGS,
    quant: { type: "string" },
    "draft-quant": { type: "string" },
    temperature: { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    "stop-at-eos": { type: "boolean" },
    "no-tune": { type: "boolean" },
    json: { type: "boolean" },
  });
  if (f.help) return void console.log(HELP);
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
  const treeFlag = str(f, "tree");
  if (treeFlag !== undefined && !draftDir) throw new UsageError(`${cmd}: --tree needs --draft`);
  if (treeFlag !== undefined && kFlag !== undefined) {
    throw new UsageError(`${cmd}: --tree and --k exclude each other (a tree's depth is its K)`);
  }
  if (f["tree-budget"] !== undefined && treeFlag !== "auto") {
    throw new UsageError(`${cmd}: --tree-budget needs --tree auto`);
  }
  const auto = treeFlag === "auto";
  const budget = auto ? int(cmd, f, "tree-budget", 16, 1, MAX_TREE_NODES - 1) : 0;
  const widths = auto ? undefined : treeFlag?.split(",").map(Number);
  if (widths && widths.some((w) => !Number.isInteger(w) || w < 1 || w > 16)) {
    throw new UsageError(
      `${cmd}: --tree must be widths 1..16 separated by commas, got "${treeFlag}"`,
    );
  }
  let tree;
  try {
    tree = auto ? dynamicTree(budget) : widths ? staticTree(widths) : undefined;
  } catch (e) {
    throw new UsageError(`${cmd}: ${(e as Error).message}`);
  }
  if (tree) k = tree.widths.length;
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
  if (tree && temperature > 0) {
    // SpecInfer's multi-draft rule is not implemented: greedy trees only, never inexact sampling.
    throw new UsageError(
      `${cmd}: --tree verifies greedily only: --temperature must be 0 (sampling with trees is not supported)`,
    );
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
  const devicePath = str(f, "device");
  if (devicePath !== undefined && !kAuto) throw new UsageError(`${cmd}: --device needs --k auto`);
  if (devicePath !== undefined && kAuto) {
    const { asDeviceCosts, kAutoCosts } = await import("../profiler/cost_model.ts");
    let costs;
    try {
      costs = asDeviceCosts(JSON.parse(await Deno.readTextFile(devicePath)), devicePath);
      // Mid-generation cache length: what most rounds attend over.
      const L = attendedKeys(cache, ids.length + maxNew / 2);
      kAuto = { ...kAuto, ...kAutoCosts(costs, quant ? "int8" : "fp16", L) };
    } catch (e) {
      throw new NeoxError(`${devicePath}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  const gpu = await getGpu();
  const tune = !f["no-tune"];
  const target = await loadModel(gpu, modelDir, { quant, tune });
  let tokens: number[];
  let metrics: Record<string, unknown>;
  let rounds: number[] | undefined;
  if (draftDir && tree) {
    const draft = await loadModel(gpu, draftDir, { quant: draftQuant, tune });
    const timer = gpu.hasTimestamps ? new GpuTimer(gpu, 2048) : undefined;
    const r = await treeGenerate(target, draft, ids, {
      tree,
      maxNewTokens: maxNew,
      hook: timer,
      cache,
    });
    tokens = r.tokens;
    rounds = r.rounds;
    const m = treeMetrics(tree, r.rounds, r.ranks);
    const passMs = timer ? await passTimes(timer) : {};
    metrics = {
      ...timingMetrics({
        ttftMs: r.ttftMs,
        decodeMs: r.decodeMs,
        newTokens: maxNew,
        firstTokens: firstRoundTokens(r.rounds, maxNew),
      }),
      meanTokensPerRound: m.meanTokensPerRound,
      rounds: r.rounds,
      tree: tree.budget !== undefined ? `auto:${tree.budget}` : tree.widths.join(","),
      nodesPerVerify: m.nodesPerVerify,
      acceptedDepthHistogram: m.acceptedDepthHistogram,
      perDepthAcceptance: m.perDepthAcceptance,
      acceptedRankByDepth: m.acceptedRankByDepth,
      ...passMs,
      gpuWaitsPerToken: r.gpuWaits / maxNew,
      ...cacheFields(cache),
      compressionEvents: r.compressionEvents,
      kvBytes: r.kvBytes,
      peakBytes: r.peakBytes,
      weightBytes: target.weightBytes + draft.weightBytes,
    };
  } else if (draftDir) {
    const draft = await loadModel(gpu, draftDir, { quant: draftQuant, tune });
    const timer = gpu.hasTimestamps ? new GpuTimer(gpu, 2048) : undefined;
    const r = await speculativeGenerate(target, draft, ids, {
      k,
      maxNewTokens: maxNew,
      hook: timer,
      cache,
      sampling,
      kAuto,
    });
    tokens = r.tokens;
    rounds = r.rounds;
    const m = speculativeMetrics(r.rounds, r.kPerRound, maxNew);
    const passMs = timer ? await passTimes(timer) : {};
    metrics = {
      ...timingMetrics({
        ttftMs: r.ttftMs,
        decodeMs: r.decodeMs,
        newTokens: maxNew,
        firstTokens: firstRoundTokens(r.rounds, maxNew),
      }),
      draftAcceptanceRate: m.draftAcceptanceRate,
      meanTokensPerRound: m.meanTokensPerRound,
      perPositionAcceptance: m.perPositionAcceptance,
      rounds: r.rounds,
      k: kAuto ? "auto" : k,
      // --k auto without measured costs takes c from the parameter ratio (engine/k_policy.ts).
      ...(kAuto
        ? {
          kPolicy: kAuto.policy,
          kPerRound: r.kPerRound,
          c: kAuto.c ?? null,
          kCosts: devicePath ? `device profile ${devicePath}` : "parameter ratio, verify = 1 pass",
        }
        : {}),
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
      ...timingMetrics({
        ttftMs: r.ttftMs,
        decodeMs: r.decodeMs,
        newTokens: maxNew,
        firstTokens: 1,
      }),
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
    const fp = await loadModel(gpu, modelDir, { tune });
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

/** Mean GPU time per pass kind, in ms (the timer's tick rule; 1 ns/tick uncalibrated). */
async function passTimes(timer: GpuTimer): Promise<Record<string, number>> {
  await timer.resolve();
  // A speculative run makes no single-token target passes: no tTargetMs here (see bench).
  return { tDraftMs: mean(timer.ms("draft")), tVerifyMs: mean(timer.ms("verify")) };
}
