/** `perplexity`: streamed token-level NLL of a text file. */
import { NeoxError, UsageError } from "../engine/errors.ts";
import { getGpu } from "../engine/device_deno.ts";
import { checkModel, loadModel } from "../engine/load.ts";
import { MAX_CACHE_ENTRIES } from "../engine/cache_policy.ts";
import { streamingPerplexity } from "../engine/perplexity.ts";
import { loadTokenizer } from "../engine/tokenizer.ts";
import { CACHE_FLAGS, cacheFields, cacheFlags, int, parse, quantFlag, required } from "./flags.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts perplexity --model DIR --text FILE
    [--cache full|sink --cache-size C --sinks 4 --compress-at F] [--max-tokens N]
    [--segment-tokens 256] [--quant int8]
  Token-level NLL of the text (UTF-8, tokenized by the model's tokenizer) streamed
  through the cache; prints {"tokens","nll","perplexity","cache","cacheSize","sinks",
  "segments"} (segments: mean NLL of each run of --segment-tokens predicted tokens).`;

/** Runs `perplexity`. */
export async function run(args: string[]): Promise<void> {
  const cmd = "perplexity";
  const f = parse(cmd, args, {
    model: { type: "string" },
    text: { type: "string" },
    ...CACHE_FLAGS,
    "max-tokens": { type: "string" },
    "segment-tokens": { type: "string" },
    quant: { type: "string" },
  });
  if (f.help) return void console.log(HELP);
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
