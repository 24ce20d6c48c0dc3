/** `report`: renders a saved results file as one HTML report. */
import { UsageError } from "../engine/errors.ts";
import { checkOutputPath } from "../engine/output.ts";
import { parse, required } from "./flags.ts";

/** `--help` text. */
export const HELP = `deno run -A mod.ts report results.json -o report.html
  Renders a saved results file as one self-contained HTML report.`;

/** Runs `report`. */
export async function run(args: string[]): Promise<void> {
  const f = parse("report", args, { out: { type: "string", short: "o" } });
  if (f.help) return void console.log(HELP);
  const pos = f._ as unknown as string[];
  if (pos.length !== 1) throw new UsageError("report: give one results.json (see --help)");
  const out = required("report", f, "out");
  await checkOutputPath(out, "--out");
  const { writeReport } = await import("../report/mod.ts");
  await writeReport(pos[0], out);
}
