/** `calibrate`: measures a device profile (pass costs of the given models, overheads). */
import { getGpu } from "../engine/device_deno.ts";
import { checkModel } from "../engine/load.ts";
import { refreshTuning } from "../engine/tune_cache.ts";
import { loadTokenizer } from "../engine/tokenizer.ts";
import { MAX_K } from "../engine/speculative.ts";
import { checkOutputPath, writeFileAtomic } from "../engine/output.ts";
import { BUILTIN_PROMPTS } from "../profiler/prompts.ts";
import { int, joinLists, parse, required, str, treesFlag } from "./flags.ts";
import { parseTreeSpec } from "../engine/tree_speculative.ts";
import { UsageError } from "../engine/errors.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts calibrate [--model T --draft D] [--quant fp16,int8]
    [--k-max 9] [--prefill-lengths 20,66] [--trees 2,2,1 4,2,1,1 ...] -o device.json
  Measures, apart from any sweep, the GPU time of every pass kind of the given models (target
  decode/prefill, target verify, draft; with --trees also each tree's verify and the draft's
  passes over its levels) as a function of tokens per pass T (1..k-max+1 and prefill
  lengths: by default the built-in prompts' lengths) and cache length L (16, 128), in three
  rounds over the grid (each point's median), fits T_pass(T, L) = a(T) + (b + c T) L (a
  piecewise linear, non-decreasing in T) and prints its fit error, then fits per-wait and
  per-pass CPU overheads on real generation loops of a calibration prompt (samples
  interleaved across loops). Also writes the simulator's rates. Loading the models re-measures
  their kernel choices and replaces them in the tuning cache (other commands read them from
  it; NEOX_TUNE_CACHE names its file, "off" turns it off). Models default to the embedded
  pair.`;

/** Runs `calibrate`. */
export async function run(rawArgs: string[]): Promise<void> {
  const cmd = "calibrate";
  const { trees, rest } = treesFlag(cmd, rawArgs);
  const f = parse(cmd, joinLists(rest, ["--quant", "--prefill-lengths"]), {
    out: { type: "string", short: "o" },
    model: { type: "string" },
    draft: { type: "string" },
    quant: { type: "string" },
    "k-max": { type: "string" },
    "prefill-lengths": { type: "string" },
  });
  if (f.help) return void console.log(HELP);
  const out = required(cmd, f, "out");
  await checkOutputPath(out, "--out");
  const here = decodeURIComponent(new URL("../", import.meta.url).pathname);
  const target = str(f, "model") ?? `${here}models/pydoc-neox-20m`;
  const draft = str(f, "draft") ?? `${here}models/pydoc-neox-2.5m`;
  const quant = (str(f, "quant") ?? "fp16,int8").split(",");
  for (const q of quant) {
    if (q !== "fp16" && q !== "int8") {
      throw new UsageError(`${cmd}: --quant: "${q}" is not fp16 or int8`);
    }
  }
  const kMax = int(cmd, f, "k-max", 9, 1, MAX_K);
  let prefillLengths: number[] = [];
  const given = str(f, "prefill-lengths");
  if (given !== undefined) {
    prefillLengths = given.split(",").map((s) => {
      const n = Number(s);
      if (!/^\d+$/.test(s) || n < 1 || n > 256) {
        throw new UsageError(`${cmd}: --prefill-lengths: "${s}" must be an integer 1..256`);
      }
      return n;
    });
  } else {
    await checkModel(target);
    const codec = await loadTokenizer(target);
    // The sweep's prefills: P tokens (baseline), P - 1 (the target before the first verify).
    for (const p of BUILTIN_PROMPTS) {
      const n = codec ? codec.encode(p.text).length : p.kind === "long" ? 66 : 20;
      prefillLengths.push(n, Math.max(1, n - 1));
    }
  }
  const { calibrateCosts } = await import("../profiler/calibrate.ts");
  const gpu = await getGpu();
  refreshTuning(gpu);
  const costs = await calibrateCosts(gpu, {
    target,
    draft,
    quant: quant as ("fp16" | "int8")[],
    kMax,
    prefillLengths,
    trees: trees.map(parseTreeSpec),
    progress: (line) => console.error(line),
  });
  await writeFileAtomic(out, JSON.stringify(costs, null, 1));
  const e = costs.fitError;
  console.log(`form: ${costs.form}`);
  for (const [key, p] of Object.entries(costs.passes)) {
    console.log(
      `${key}: a(1) ${p.knots[0].ms.toFixed(3)} ms, b ${
        ((p.msPerCachedKey ?? 0) * 1e6).toFixed(1)
      } ns/key, c ${(p.msPerKey * 1e6).toFixed(1)} ns/(token x key); ` +
        `fit error mean ${p.fitError.meanRelPct.toFixed(1)}%, max ${
          p.fitError.maxRelPct.toFixed(1)
        }%`,
    );
  }
  const o = costs.overheads;
  console.log(
    `overheads: pass scale ${o.passScale.toFixed(3)}, ${o.perWaitMs.toFixed(3)} ms/wait, ${
      o.perPassMs.toFixed(3)
    } ms/pass; loop fit error mean ${o.fitError.meanRelPct.toFixed(1)}%, max ${
      o.fitError.maxRelPct.toFixed(1)
    }%`,
  );
  const sf = costs.passFit;
  if (sf) {
    console.log(
      `simulator: ${sf.form}; fitted on ${sf.calibratedOn.join(", ")}: fit error mean ${
        sf.fitError.meanRelPct.toFixed(1)
      }%, max ${sf.fitError.maxRelPct.toFixed(1)}% (${sf.fitError.points} points)`,
    );
  }
  for (const v of costs.simulatorValidation ?? []) {
    console.log(
      `simulator on left-out ${v.key} (a shape it was not fitted on): error mean ${
        v.error.meanRelPct.toFixed(1)
      }%, max ${v.error.maxRelPct.toFixed(1)}%`,
    );
  }
  console.log(
    `pass fit error over all kinds: mean ${e.meanRelPct.toFixed(1)}%, max ${
      e.maxRelPct.toFixed(1)
    }% (${e.points} points); wrote ${out}`,
  );
}
