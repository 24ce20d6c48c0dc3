/**
 * One device profile per test file (`calibrate` of the embedded draft, fp16, K <= 3), for
 * sweeps that pass it as `--device`: calibrating was most of each short profile run's time
 * (39 s of which 35 s on lavapipe, 2 cores), and the tests that use this are not about it
 * (tests/profile_test.ts is).
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

let device: Promise<string> | null = null;

/** The path of this process's device profile, calibrated on first use. */
export function calibrated(): Promise<string> {
  return device ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "neox-test-device-" });
    addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const out = `${dir}/device.json`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "mod.ts", "calibrate", "--model", "models/pydoc-neox-2.5m"]
        .concat(["--quant", "fp16", "--k-max", "3", "-o", out]),
      cwd: root,
      env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    return out;
  })();
}
