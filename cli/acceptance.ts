/** `acceptance`: draft acceptance measured without speculation (profiler/acceptance.ts). */
import { NeoxError, UsageError } from "../engine/errors.ts";
import { getGpu } from "../engine/device_deno.ts";
import { checkModel, loadModel } from "../engine/load.ts";
import { MAX_K } from "../engine/speculative.ts";
import { loadTokenizer } from "../engine/tokenizer.ts";
import { checkOutputPath, writeFileAtomic } from "../engine/output.ts";
import { type AcceptancePrompt, measureAcceptance } from "../profiler/acceptance.ts";
import { BUILTIN_PROMPTS } from "../profiler/prompts.ts";
import {
  cacheFlags,
  checkDraft,
  checkIds,
  int,
  intList,
  joinLists,
  num,
  parse,
  quantFlag,
  required,
  str,
  treesFlag,
} from "./flags.ts";
import { parseTreeSpec } from "../engine/tree_speculative.ts";

/** `--help` text. */
export const HELP =
  `deno run -A mod.ts acceptance --model T --draft D --max-new-tokens N -o acc.json
    [--prompt-types medium,long | --prompt TEXT | --text FILE]
    [--quant int8] [--cache full|sink --cache-size C --sinks S] [--k-values 1 2 ... 9]
    [--temperature T --seed S] [--trees 2,2,1 4,2,1,1 ...]
  Acceptance of the draft measured without speculation: per prompt the target alone
  generates N + max K - 1 tokens, then one teacher-forced draft pass over prompt + those
  tokens gives the draft's prediction at every position (same cache policy for both).
  Greedy (default): agreement[j] = 1 when the draft's argmax is the target's token j; the
  exact rounds of a greedy speculative run for each K follow from it. --temperature T > 0:
  the target samples (seed S, default 0) and beta[j] = sum_x min(p(x), q(x)) at T.
  Writes {"schema":"neox-spec/acceptance/1", target, draft, quant, cache, temperature,
  maxNewTokens, prompts:[{name,kind,promptTokens,agreement,beta?}], byKind:{KIND:{alpha,
  positions, iid:{meanRunLength, expectedRunLength, lag1Autocorrelation, runsTestZ},
  perPositionAcceptance, perK:{K:{rounds, tokensPerRound, draftAcceptanceRate,
  perPositionAcceptance}}}}}. Prompts: the built-in kinds (default medium,long), one
  --prompt (kind "prompt") or the text of --text FILE (kind "text"). Every prompt also
  records ranks[j], the rank of the target's token j among the draft's candidates (0..15,
  -1 beyond): static token trees' greedy rounds follow from them (mod.ts predict --trees);
  --trees extends the positions measured to the deepest tree's.`;

/** Runs `acceptance`. */
export async function run(args: string[]): Promise<void> {
  const cmd = "acceptance";
  const { trees, rest } = treesFlag(cmd, args);
  const f = parse(cmd, joinLists(rest, ["--k-values"]), {
    model: { type: "string" },
    draft: { type: "string" },
    "prompt-types": { type: "string" },
    prompt: { type: "string" },
    text: { type: "string" },
    "max-new-tokens": { type: "string" },
    quant: { type: "string" },
    cache: { type: "string" },
    "cache-size": { type: "string" },
    sinks: { type: "string" },
    "k-values": { type: "string" },
    temperature: { type: "string" },
    seed: { type: "string" },
    out: { type: "string", short: "o" },
  });
  if (f.help) return void console.log(HELP);
  if ((f._ as string[]).length > 0) {
    throw new UsageError(`${cmd}: unexpected argument "${(f._ as string[])[0]}" (see --help)`);
  }
  const modelDir = required(cmd, f, "model");
  const draftDir = required(cmd, f, "draft");
  const out = required(cmd, f, "out");
  const maxNew = int(cmd, f, "max-new-tokens", 48, 1, 100000);
  const kValues = intList(cmd, f, "k-values", [1, 2, 3, 4, 5, 6, 7, 8, 9], 1, MAX_K);
  const kMax = Math.max(...kValues);
  const cache = cacheFlags(cmd, f, kMax);
  const quant = quantFlag(cmd, f, "quant");
  if (quant !== undefined && quant !== "int8") {
    throw new UsageError(`${cmd}: --quant must be fp16 or int8, got "${quant}"`);
  }
  const temperature = num(cmd, f, "temperature", 0, 0, 100);
  if (temperature === 0 && f.seed !== undefined) {
    throw new UsageError(`${cmd}: --seed needs --temperature T > 0 (0 is greedy)`);
  }
  const seed = int(cmd, f, "seed", 0, 0, 0xffffffff);
  const sources = ["prompt-types", "prompt", "text"].filter((s) => f[s] !== undefined);
  if (sources.length > 1) {
    throw new UsageError(`${cmd}: give one of --prompt-types, --prompt, --text`);
  }
  let prompts: AcceptancePrompt[];
  const prompt = str(f, "prompt");
  const textPath = str(f, "text");
  if (prompt !== undefined) {
    if (prompt === "") throw new UsageError(`${cmd}: --prompt is empty`);
    prompts = [{ name: "prompt", kind: "prompt", text: prompt, ids: [] }];
  } else if (textPath !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(textPath);
    } catch (e) {
      throw new NeoxError(
        `${textPath}: cannot read --text (${(e as Error).message.split("\n")[0]})`,
      );
    }
    const name = textPath.split("/").at(-1) || textPath;
    prompts = [{ name, kind: "text", text, ids: [] }];
  } else {
    const kinds = (str(f, "prompt-types") ?? "medium,long").split(",").map((s) => s.trim());
    const known = [...new Set(BUILTIN_PROMPTS.map((p) => p.kind))];
    const bad = kinds.find((k) => !(known as string[]).includes(k));
    if (bad !== undefined || kinds.length === 0) {
      throw new UsageError(
        `${cmd}: --prompt-types: "${bad ?? ""}" is not a prompt kind (${known.join(", ")})`,
      );
    }
    prompts = BUILTIN_PROMPTS.filter((p) => kinds.includes(p.kind))
      .map((p) => ({ name: p.name, kind: p.kind, text: p.text, ids: [] }));
  }

  // Every input is checked on the CPU before the GPU is touched.
  const targetCfg = await checkModel(modelDir);
  const codec = await loadTokenizer(modelDir);
  if (!codec) {
    throw new UsageError(`${cmd}: ${modelDir} has no tokenizer.json to encode the prompts`);
  }
  await checkDraft(cmd, draftDir, modelDir, targetCfg, codec);
  for (const p of prompts) {
    p.ids = codec.encode(p.text!);
    checkIds(cmd, p.ids, { cfg: targetCfg });
    const positions = p.ids.length + maxNew + kMax - 1;
    if (cache.kind === "full" && positions > targetCfg.maxPositions) {
      throw new UsageError(
        `${cmd}: ${p.name}: prompt (${p.ids.length} tokens) + --max-new-tokens ${maxNew} + K ${kMax} exceed the model's ${targetCfg.maxPositions} positions with a full cache (use --cache sink)`,
      );
    }
  }
  await checkOutputPath(out, "--out");

  const gpu = await getGpu();
  const target = await loadModel(gpu, modelDir, { quant });
  const draft = await loadModel(gpu, draftDir);
  const acc = await measureAcceptance(gpu, codec, {
    target,
    draft,
    prompts,
    maxNewTokens: maxNew,
    cache,
    kValues,
    depthMax: Math.max(0, ...trees.map((t) => parseTreeSpec(t).widths.length)),
    temperature,
    seed,
    quant: quant ?? "fp16",
  });
  await writeFileAtomic(out, JSON.stringify(temperature > 0 ? { ...acc, seed } : acc, null, 1));
  for (const [kind, a] of Object.entries(acc.byKind)) {
    const tau = Object.entries(a.perK).map(([k, v]) => `K=${k} ${v.tokensPerRound.toFixed(3)}`);
    // Sampling: alpha is mean beta, but the i.i.d. figures are of argmax agreement.
    const iid = temperature > 0 ? "argmax agreement: " : "";
    console.log(
      `${kind}: alpha ${a.alpha.toFixed(4)} over ${a.positions} positions; ${iid}run length ${
        a.iid.meanRunLength.toFixed(3)
      } (i.i.d. ${a.iid.expectedRunLength.toFixed(3)}), lag-1 r ${
        a.iid.lag1Autocorrelation.toFixed(3)
      }, runs z ${a.iid.runsTestZ.toFixed(2)}; tokens/round ${tau.join(", ")}`,
    );
  }
}
