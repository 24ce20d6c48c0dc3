/**
 * Losing the GPU device in the middle of `profile`: the run stops with one `error:` line,
 * exit code 1, and the results of the configurations finished before the loss are saved
 * (tests/fixtures/lose_device.ts destroys the device when the second group of configurations
 * starts: the sweep interleaves a group's baseline and K values, so a group finishes whole).
 */

import assert from "node:assert/strict";
import type { ResultsFile } from "../profiler/results.ts";
import { calibrated } from "./calibrated.ts";

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
        "[4-6/",
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
        "--quant",
        "fp16",
        "--output-json",
        json,
        "--output-html",
        html,
        "--device",
        await calibrated(),
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
      `error: profile: GPU failure: device was lost; saved the 3 finished configurations to ${json}`,
    ]);
    const saved: ResultsFile = JSON.parse(await Deno.readTextFile(json));
    assert.deepEqual(saved.configs.map((c) => c.id), [
      "base-n8-full-fp16-custom",
      "spec-k2-n8-full-fp16-custom",
      "spec-k3-n8-full-fp16-custom",
    ]);
    assert.equal(saved.interrupted, "GPU failure: device was lost");
    await assert.rejects(Deno.stat(html), Deno.errors.NotFound);
    const left = [];
    for await (const e of Deno.readDir(tmp)) if (e.name.endsWith(".tmp")) left.push(e.name);
    assert.deepEqual(left, [], "temporary files left behind");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("Ctrl-C mid-sweep: finished configurations saved, marked interrupted", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "neox-interrupt-" });
  try {
    const json = `${tmp}/results.json`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "mod.ts",
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
        "--quant",
        "fp16",
        "--output-json",
        json,
        "--device",
        await calibrated(),
      ],
      cwd: root,
      env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(90_000),
    }).spawn();
    // Interrupt as soon as the second group starts (the first group of 3 has finished).
    let stderr = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      if (stderr.includes("[4-6/")) {
        child.kill("SIGINT");
        break;
      }
    }
    const status = await child.status;
    assert.equal(status.code, 1, stderr);
    const saved: ResultsFile = JSON.parse(await Deno.readTextFile(json));
    assert.ok(saved.configs.length >= 1, "at least the finished baseline is saved");
    assert.ok(saved.configs.length < 6, "the sweep stopped early");
    assert.match(saved.interrupted ?? "", /interrupted/);
    const left = [];
    for await (const e of Deno.readDir(tmp)) if (e.name.endsWith(".tmp")) left.push(e.name);
    assert.deepEqual(left, [], "temporary files left behind");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
