/** `predict`: out-of-sample predictions of the sweep's configurations, no generation. */
import { NeoxError } from "../engine/errors.ts";
import { MAX_K } from "../engine/speculative.ts";
import { checkOutputPath, writeFileAtomic } from "../engine/output.ts";
import {
  GRID_LISTS,
  GRID_OPTIONS,
  gridFlags,
  joinLists,
  parse,
  required,
  str,
  treesFlag,
} from "./flags.ts";
import { parseTreeSpec } from "../engine/tree_speculative.ts";
import type { AcceptanceFile } from "../profiler/acceptance.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts predict [--target-model DIR] [--draft-model DIR]
    [--k-values 3 5 7 9] [--max-new-tokens 48] [--max-cache-lens full 128]
    [--prompt-types medium long] [--quant fp16 int8] [--trees 2,2,1 4,2,1,1 ...]
    --device dev.json --acceptance acc.json [more acceptance files, one per quant/cache]
    --output-json F
  Predicts every configuration the sweep (deno task profile) would run with the same grid
  flags, from a device profile (mod.ts calibrate) and acceptance measured without
  speculation (mod.ts acceptance); runs no generation. Writes
  {"predictions":[{"id","tokensPerRound","throughputTokS","speedup":{"seed","leviathan",
  "costAware"}, ...}]}. Static --trees are predicted from the acceptance files' draft ranks
  (measure them with the same --trees) and the device profile's tree pass kinds (calibrate
  --trees); dynamic ones (auto:N) are not predicted.`;

async function readJson(path: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new NeoxError(`${path}: cannot read ${what} (${(e as Error).message.split("\n")[0]})`);
  }
}

/** Reads acceptance files, checking their schema tag. */
export async function readAcceptanceFiles(paths: string[]): Promise<AcceptanceFile[]> {
  const out: AcceptanceFile[] = [];
  for (const p of paths) {
    const j = await readJson(p, "an acceptance file") as AcceptanceFile;
    if (j?.schema !== "neox-spec/acceptance/1" || !Array.isArray(j.prompts)) {
      throw new NeoxError(`${p}: not an acceptance file (schema neox-spec/acceptance/1)`);
    }
    out.push(j);
  }
  return out;
}

/** Runs `predict`. */
export async function run(rawArgs: string[]): Promise<void> {
  const cmd = "predict";
  const { trees, rest } = treesFlag(cmd, rawArgs);
  const f = parse(cmd, joinLists(rest, [...GRID_LISTS, "--acceptance"]), {
    ...GRID_OPTIONS,
    device: { type: "string" },
    acceptance: { type: "string" },
    "output-json": { type: "string" },
  });
  if (f.help) return void console.log(HELP);
  const grid = gridFlags(cmd, f, MAX_K);
  const devicePath = required(cmd, f, "device");
  const accPaths = required(cmd, f, "acceptance").split(",");
  const outPath = str(f, "output-json");
  if (outPath) await checkOutputPath(outPath, "--output-json");
  const { asDeviceCosts } = await import("../profiler/cost_model.ts");
  const { predictGrid } = await import("../profiler/predict.ts");
  let device;
  try {
    device = asDeviceCosts(await readJson(devicePath, "a device profile"), devicePath);
  } catch (e) {
    throw new NeoxError((e as Error).message);
  }
  const acceptance = await readAcceptanceFiles(accPaths);
  let predictions;
  try {
    predictions = predictGrid(device, acceptance, { ...grid, trees: trees.map(parseTreeSpec) });
  } catch (e) {
    throw new NeoxError(`${cmd}: ${(e as Error).message}`);
  }
  const json = JSON.stringify({ device: devicePath, acceptance: accPaths, predictions }, null, 1);
  if (outPath) {
    await writeFileAtomic(outPath, json);
    console.error(`wrote predictions: ${outPath}`);
  }
  for (const r of predictions) {
    const s = r.speedup;
    console.log(
      `${r.id.padEnd(34)} ${r.throughputTokS.toFixed(1).padStart(7)} tok/s  tau ${
        r.tokensPerRound?.toFixed(2) ?? "-"
      }  seed ${s.seed?.toFixed(2) ?? "-"}  leviathan ${
        s.leviathan?.toFixed(2) ?? "-"
      }  costAware ${s.costAware.toFixed(2)}`,
    );
  }
}
