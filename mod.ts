/**
 * neox-spec: GPT-NeoX (Pythia) on WebGPU with speculative decoding, a StreamingLLM cache,
 * INT8 weights, GPU profiling and an offline HTML report.
 *
 * Library use: load models with `loadModel`, generate with `greedyGenerate` or
 * `speculativeGenerate`, profile with `runSweep`. Command line: `deno run -A mod.ts
 * <command> --help` (the CLI lives in cli/; this module only re-exports).
 * @module
 */

export { NeoxError, UsageError } from "./engine/errors.ts";
export { VERSION } from "./engine/version.ts";
export { getGpu } from "./engine/device_deno.ts";
export type { Gpu } from "./engine/device.ts";
export { checkModel, loadModel, PYTHIA_CONFIGS } from "./engine/load.ts";
export { NeoxModel, Sequence } from "./engine/model.ts";
export { allLogits, greedyGenerate } from "./engine/generate.ts";
export { speculativeGenerate } from "./engine/speculative.ts";
export { FULL_CACHE, sinkWindowCache } from "./engine/cache_policy.ts";
export type { CachePolicy } from "./engine/cache_policy.ts";
export type { SamplingOptions } from "./engine/sampling.ts";
export type { KAutoOptions } from "./engine/k_policy.ts";
export { loadTokenizer } from "./engine/tokenizer.ts";
export { streamingPerplexity } from "./engine/perplexity.ts";
export { runSweep } from "./profiler/sweep.ts";
export { measureAcceptance } from "./profiler/acceptance.ts";
export type { AcceptanceFile } from "./profiler/acceptance.ts";
export { predictGrid } from "./profiler/predict.ts";
export { passMs } from "./profiler/cost_model.ts";
export type { ResultsFile } from "./profiler/results.ts";
import { main } from "./cli/main.ts";
export { main };

if (import.meta.main) Deno.exit(await main(Deno.args));
