/**
 * One error path for the whole tool: every failure a user can cause becomes a
 * `NeoxError` whose message is one line naming the file or flag and what is wrong.
 * The CLI prints `error: <message>` to stderr and exits with `exitCode`.
 */

/** Exit code for a wrong flag or a missing argument. */
export const EXIT_USAGE = 2;
/** Exit code for a bad input file or a runtime failure. */
export const EXIT_FAILURE = 1;

/** A user-facing error: a one-line message and the exit code the CLI should use. */
export class NeoxError extends Error {
  /** 2 for usage errors, 1 for bad inputs and runtime failures. */
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_FAILURE) {
    super(message);
    this.name = "NeoxError";
    this.exitCode = exitCode;
  }
}

/** A usage error (wrong flag, flag value or subcommand): exit code 2. */
export class UsageError extends NeoxError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = "UsageError";
  }
}
