/**
 * Losing the GPU device in the middle of `profile`: the run stops with one `error:` line,
 * exit code 1, and the results of the configurations finished before the loss are saved
 * (tests/fixtures/lose_device.ts destroys the device when the second configuration starts).
 */

import assert from "node:assert/strict";
import type { ResultsFile } from "../profiler/results.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("device lost mid-sweep: clean stop, finished configurations kept", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "neox-device-loss-" });
  try {
    const json = `${tmp}/results.json`;
    const html = `${tmp}/report.html`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "tests/fixtures/lose_device.ts",
        "--lose-at",
        "[2/",
        "profile",
        "--target-model",
        "models/pydoc-neox-2.5m",
        "--k-values",
        "2",
        "3",
        "--max-new-tokens",
        "8",
        "--prompt",
        "def parse(argv):",
        "--num-samples",
        "1",
        "--output-json",
        json,
        "--output-html",
        html,
      ],
      cwd: root,
      env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    const errors = stderr.split("\n").filter((l) => l.startsWith("error: "));
    assert.equal(r.code, 1, stderr);
    assert.ok(!stderr.includes("    at "), `stack trace:\n${stderr}`);
    assert.deepEqual(errors, [
      `error: profile: GPU failure: device was lost; saved the 1 finished configuration to ${json}`,
    ]);
    const saved: ResultsFile = JSON.parse(await Deno.readTextFile(json));
    assert.deepEqual(saved.configs.map((c) => c.id), ["base-n8-full-fp16-custom"]);
    assert.equal(saved.interrupted, "GPU failure: device was lost");
    await assert.rejects(Deno.stat(html), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${json}.tmp`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
