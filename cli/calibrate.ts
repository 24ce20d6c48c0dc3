/** `calibrate`: measures a device profile. */
import { getGpu } from "../engine/device_deno.ts";
import { checkOutputPath, writeFileAtomic } from "../engine/output.ts";
import { parse, required } from "./flags.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts calibrate -o device.json
  Measures a device profile (GEMV/GEMM rates per weight type, dispatch and wait costs)
  for the simulator.`;

/** Runs `calibrate`. */
export async function run(args: string[]): Promise<void> {
  const f = parse("calibrate", args, { out: { type: "string", short: "o" } });
  if (f.help) return void console.log(HELP);
  const out = required("calibrate", f, "out");
  await checkOutputPath(out, "--out");
  const { calibrateDevice } = await import("../profiler/calibrate.ts");
  const profile = await calibrateDevice(await getGpu());
  await writeFileAtomic(out, JSON.stringify(profile, null, 1));
  console.log(JSON.stringify(profile));
}
