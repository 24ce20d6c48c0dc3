/** `bench`: plain and speculative decode against the adapter and a PyTorch peer. */
import { MAX_CACHE_ENTRIES } from "../engine/cache_policy.ts";
import { UsageError } from "../engine/errors.ts";
import { getGpu } from "../engine/device_deno.ts";
import { checkModel, loadModel } from "../engine/load.ts";
import { MAX_K } from "../engine/speculative.ts";
import { loadTokenizer } from "../engine/tokenizer.ts";
import { VERSION } from "../engine/version.ts";
import {
  checkDraft,
  checkIds,
  int,
  intList,
  joinLists,
  parse,
  promptIds,
  quantFlag,
  required,
  str,
} from "./flags.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts bench --model DIR --draft DIR [--ids 1,2,3 | --prompt TEXT]
    --max-new-tokens N [--k-values 1 2 3 4 5] [--samples 3] [--kernel-reps 5]
    [--draft-quant int8|int8-g128] [--no-peer] [--peer-python /usr/bin/python3] [--json]
  Plain greedy and speculative decode tokens/s (after the first token) and CPU waits per
  token; the adapter's copy and compute-read bandwidth and FMA rate; every kernel of one
  target decode step, one draft step and one verify pass (best K) against those rates; and a
  PyTorch eager CPU peer (profiler/peer_torch.py: float32, one thread, same checkpoint and
  prompt; its greedy tokens must equal ours). Without --ids/--prompt the built-in prompt
  "medium-json" is used. --draft-quant quantizes the draft at load (the target and the peer
  stay as they are, so greedy output is unchanged). --json prints one JSON object, otherwise
  a table.`;

/** Runs `bench`. */
export async function run(rawArgs: string[]): Promise<void> {
  const cmd = "bench";
  const f = parse(cmd, joinLists(rawArgs, ["--k-values"]), {
    model: { type: "string" },
    draft: { type: "string" },
    "draft-quant": { type: "string" },
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
  if (f.help) return void console.log(HELP);
  const modelDir = required(cmd, f, "model");
  const draftDir = required(cmd, f, "draft");
  const maxNew = int(cmd, f, "max-new-tokens", 64, 2, 4000);
  const kValues = intList(cmd, f, "k-values", [1, 2, 3, 4, 5], 1, MAX_K);
  const samples = int(cmd, f, "samples", 3, 1, 100);
  const kernelReps = int(cmd, f, "kernel-reps", 5, 1, 100);
  const draftQuant = quantFlag(cmd, f, "draft-quant");
  const targetCfg = await checkModel(modelDir);
  const codec = await loadTokenizer(modelDir);
  await checkDraft(cmd, draftDir, modelDir, targetCfg, codec);
  let ids: number[];
  let promptName: string | null = null;
  let promptText = str(f, "prompt") ?? null;
  if (str(f, "ids") === undefined && promptText === null) {
    const { BUILTIN_PROMPTS } = await import("../profiler/prompts.ts");
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
  if (need > MAX_CACHE_ENTRIES) {
    throw new UsageError(
      `${cmd}: prompt (${ids.length} tokens) + --max-new-tokens ${maxNew} + K exceed the ${MAX_CACHE_ENTRIES}-position cache`,
    );
  }
  const draft = await loadModel(gpu, draftDir, { quant: draftQuant });
  const { benchTable, runBench } = await import("../profiler/bench.ts");
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
