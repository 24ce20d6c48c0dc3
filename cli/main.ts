/**
 * The command line: `deno run -A mod.ts <command> [flags]`. One file per subcommand beside
 * this one; every failure a user can cause is one `error: ...` line on stderr and a non-zero
 * exit (2 for usage, 1 for inputs and runtime), with the stack only under `--debug`.
 */
import { EXIT_FAILURE, NeoxError, UsageError } from "../engine/errors.ts";
import { VERSION } from "../engine/version.ts";
import * as acceptance from "./acceptance.ts";
import * as bench from "./bench.ts";
import * as calibrate from "./calibrate.ts";
import * as generate from "./generate.ts";
import * as logits from "./logits.ts";
import * as perplexity from "./perplexity.ts";
import * as predict from "./predict.ts";
import * as profile from "./profile.ts";
import * as report from "./report.ts";
import * as simulate from "./simulate.ts";

/** A subcommand: `run` parses its own flags (and prints `HELP` for `--help`). */
interface Command {
  HELP: string;
  run(args: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  acceptance,
  bench,
  calibrate,
  simulate,
  logits,
  generate,
  perplexity,
  predict,
  profile,
  report,
};

const USAGE = `neox-spec ${VERSION}: GPT-NeoX on WebGPU with speculative decoding
usage: deno run -A mod.ts <command> [flags]   (each command has --help)
commands: ${Object.keys(COMMANDS).join(", ")}`;

/** Runs the CLI; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  const [cmd, ...rest] = args;
  try {
    if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
      console.log(USAGE);
      return cmd ? 0 : 2;
    }
    const command = COMMANDS[cmd];
    if (!command) {
      throw new UsageError(
        `unknown command "${cmd}" (commands: ${Object.keys(COMMANDS).join(", ")})`,
      );
    }
    await command.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof NeoxError) {
      console.error(`error: ${e.message}`);
      if (debug) console.error(e.stack);
      return e.exitCode;
    }
    const err = e as Error;
    console.error(
      `error: ${String(err?.message ?? err).split("\n")[0]} (run with --debug for details)`,
    );
    if (debug) console.error(err?.stack);
    return EXIT_FAILURE;
  }
}
