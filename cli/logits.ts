/** `logits`: writes the float32 logits of every position of --ids. */
import { MAX_CACHE_ENTRIES } from "../engine/cache_policy.ts";
import { UsageError } from "../engine/errors.ts";
import { getGpu } from "../engine/device_deno.ts";
import { checkModel, loadModel } from "../engine/load.ts";
import { allLogits } from "../engine/generate.ts";
import { checkOutputPath, writeFileAtomic } from "../engine/output.ts";
import { checkIds, parse, parseIds, quantFlag, required } from "./flags.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts logits --model DIR --ids 1,2,3 [--quant int8] --out FILE
  Writes little-endian float32 logits, row-major [len(ids) x vocab_size].`;

/** Runs `logits`. */
export async function run(args: string[]): Promise<void> {
  const f = parse("logits", args, {
    model: { type: "string" },
    ids: { type: "string" },
    quant: { type: "string" },
    out: { type: "string", short: "o" },
  });
  if (f.help) return void console.log(HELP);
  const modelDir = required("logits", f, "model");
  const out = required("logits", f, "out");
  const ids = parseIds("logits", required("logits", f, "ids"));
  const quant = quantFlag("logits", f, "quant");
  await checkOutputPath(out, "--out");
  checkIds("logits", ids, { cfg: await checkModel(modelDir) });
  if (ids.length > MAX_CACHE_ENTRIES) {
    throw new UsageError(
      `logits: ${ids.length} ids exceed the ${MAX_CACHE_ENTRIES}-position cache limit`,
    );
  }
  const gpu = await getGpu();
  const model = await loadModel(gpu, modelDir, { quant });
  const logits = await allLogits(model, ids);
  await writeFileAtomic(out, new Uint8Array(logits.buffer));
}
