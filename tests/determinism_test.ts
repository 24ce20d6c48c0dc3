/**
 * The same flags give the same output: `generate --json` (plain and speculative) twice
 * gives the same tokens, text and rounds, and `profile` twice (one device profile) gives the
 * same results JSON once the timings (and what is computed from them) are taken out.
 */

import assert from "node:assert/strict";
import { calibrated } from "./calibrated.ts";

const root = new URL("..", import.meta.url).pathname;
const target = "models/pydoc-neox-20m";
const draft = "models/pydoc-neox-2.5m";

/** Runs `deno run -A mod.ts ...args`; returns stdout, failing on a non-zero exit. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", ...args],
    cwd: root,
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const stderr = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, `mod.ts ${args.join(" ")}\n${stderr}`);
  return new TextDecoder().decode(r.stdout);
}

/** Fields measured with a clock, or computed from such measurements. */
const TIMED = new Set([
  "createdAt",
  "throughputTokS",
  "ttftMs",
  "tpotMs",
  "tDraftMs",
  "tTargetMs",
  "tVerifyMs",
  "c",
  "measuredSpeedup",
  "predictions",
  "predicted",
  "accounting",
  "throughputCi",
  "timing",
  "analytic",
  "kernels",
  "simulator",
]);

/** A copy of a parsed JSON value without the {@link TIMED} fields, at any depth. */
function untimed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(untimed);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(
    Object.entries(v).filter(([k]) => !TIMED.has(k)).map(([k, x]) => [k, untimed(x)]),
  );
}

Deno.test("generate --json: same tokens twice, plain and with --draft", async () => {
  const runs = [
    ["--ids", "5,17,300,9", "--max-new-tokens", "24"],
    ["--prompt", "def parse(argv):", "--max-new-tokens", "16", "--draft", draft, "--k", "3"],
  ];
  for (const flags of runs) {
    const args = ["generate", "--model", target, "--json", ...flags];
    const [a, b] = [JSON.parse(await cli(args)), JSON.parse(await cli(args))];
    const keep = (r: { tokens: number[]; text: string; rounds?: number[] }) => ({
      tokens: r.tokens,
      text: r.text,
      rounds: r.rounds,
    });
    assert.equal(a.tokens.length, Number(flags[flags.indexOf("--max-new-tokens") + 1]));
    assert.deepEqual(keep(b), keep(a), `generate ${flags.join(" ")}`);
    if (flags.includes("--draft")) assert.ok(a.rounds.length > 0);
  }
});

Deno.test("generate --no-tune: the rule kernels give the tuned run's tokens, no tuning file", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "neox-notune-" });
  const cache = `${tmp}/tuning.json`;
  try {
    const flags = ["--prompt", "def parse(argv):", "--max-new-tokens", "16", "--json"];
    for (const extra of [[], ["--draft", draft, "--k", "3"]]) {
      const args = ["generate", "--model", target, ...flags, ...extra];
      const tuned = JSON.parse(await cli(args, { NEOX_TUNE_CACHE: cache }));
      await Deno.stat(cache); // the tuned load wrote its choices there
      await Deno.remove(cache);
      const rule = JSON.parse(await cli([...args, "--no-tune"], { NEOX_TUNE_CACHE: cache }));
      assert.deepEqual(rule.tokens, tuned.tokens, `generate ${extra.join(" ")}`);
      // Nothing timed, nothing written: the file a tuned load writes stays absent.
      await assert.rejects(Deno.stat(cache), Deno.errors.NotFound);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("profile: same results JSON twice apart from timings", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "neox-determinism-" });
  try {
    const results = [];
    for (const name of ["a", "b"]) {
      const out = `${tmp}/${name}.json`;
      await cli([
        "profile",
        "--k-values",
        "2",
        "--max-new-tokens",
        "8",
        "--prompt-types",
        "medium",
        "--num-samples",
        "1",
        "--max-cache-lens",
        "full",
        "--quant",
        "fp16",
        "--prompt",
        "def parse(argv):",
        "--output-json",
        out,
        "--device",
        await calibrated(),
      ]);
      results.push(JSON.parse(await Deno.readTextFile(out)));
    }
    assert.equal(results[0].configs.length, 2);
    assert.deepEqual(untimed(results[1]), untimed(results[0]));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
