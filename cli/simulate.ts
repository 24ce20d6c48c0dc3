/** `simulate`: predicts throughput of shapes and acceptance that were not run. */
import { NeoxError } from "../engine/errors.ts";
import { MAX_K } from "../engine/speculative.ts";
import { type DeviceProfile, simulate } from "../profiler/simulator.ts";
import { int, intList, joinLists, num, parse, quantFlag, required } from "./flags.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts simulate --device device.json --target synthetic:pythia-2.8b
    --draft synthetic:pythia-70m --alpha 0.8 [--k-values 1 3 5 7 9] [--max-new-tokens 128]
    [--quant fp16|int8] [--json]
  Predicts baseline and speculative throughput for shapes and acceptance you did not run.`;

/** Runs `simulate`. */
export async function run(rawArgs: string[]): Promise<void> {
  const cmd = "simulate";
  const f = parse(cmd, joinLists(rawArgs, ["--k-values"]), {
    device: { type: "string" },
    target: { type: "string" },
    draft: { type: "string" },
    alpha: { type: "string" },
    "k-values": { type: "string" },
    "max-new-tokens": { type: "string" },
    quant: { type: "string" },
    json: { type: "boolean" },
  });
  if (f.help) return void console.log(HELP);
  const devicePath = required(cmd, f, "device");
  const targetSpec = required(cmd, f, "target");
  const draftSpec = required(cmd, f, "draft");
  const alpha = num(cmd, f, "alpha", 0.8, 0, 1);
  const kValues = intList(cmd, f, "k-values", [1, 3, 5, 7, 9], 1, MAX_K);
  const newTokens = int(cmd, f, "max-new-tokens", 128, 1, 100000);
  const quant = quantFlag(cmd, f, "quant");
  let profile: DeviceProfile;
  try {
    profile = JSON.parse(await Deno.readTextFile(devicePath));
  } catch (e) {
    throw new NeoxError(
      `${devicePath}: cannot read a device profile (${(e as Error).message.split("\n")[0]})`,
    );
  }
  if (typeof profile?.gemvGBs?.f32 !== "number" || typeof profile?.dispatchMs !== "number") {
    throw new NeoxError(
      `${devicePath}: not a device profile (run mod.ts calibrate -o ${devicePath})`,
    );
  }
  const { shapeOf } = await import("../profiler/calibrate.ts");
  const { loadConfig } = await import("../engine/config.ts");
  const cfgOf = async (spec: string) =>
    spec.startsWith("synthetic:") ? null : await loadConfig(spec);
  const target = shapeOf(targetSpec, await cfgOf(targetSpec), quant ? 1 : 2);
  const draft = shapeOf(draftSpec, await cfgOf(draftSpec), 2);
  const rows = simulate(profile, { target, draft, alpha, kValues, newTokens, waitsPerToken: 0.05 });
  if (f.json) return void console.log(JSON.stringify({ device: profile.description, alpha, rows }));
  console.log(
    `device: ${profile.description}; target ${targetSpec}, draft ${draftSpec}, alpha ${alpha}`,
  );
  console.log(
    "K   tDraftMs  tTargetMs  tVerifyMs      c  tokens/round  baseline tok/s  spec tok/s  speedup",
  );
  for (const r of rows) {
    console.log(
      [
        String(r.k).padEnd(3),
        r.tDraftMs.toFixed(3).padStart(8),
        r.tTargetMs.toFixed(3).padStart(10),
        r.tVerifyMs.toFixed(3).padStart(10),
        r.c.toFixed(3).padStart(6),
        r.expectedTokensPerRound.toFixed(2).padStart(13),
        r.baselineTokS.toFixed(1).padStart(15),
        r.speculativeTokS.toFixed(1).padStart(11),
        r.speedup.toFixed(2).padStart(8),
      ].join(" "),
    );
  }
}
