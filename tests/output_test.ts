/**
 * Atomic output: a unique temporary file beside the target, fsynced and renamed; a failed
 * write leaves neither the target nor the temporary file; Ctrl-C mid-sweep keeps what finished
 * (tests/device_loss_test.ts covers the save path itself).
 */
import assert from "node:assert/strict";
import { writeFileAtomic } from "../engine/output.ts";
import { NeoxError } from "../engine/errors.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("writeFileAtomic: replaces the file whole and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "neox-out-" });
  try {
    const path = `${dir}/a.json`;
    await writeFileAtomic(path, "first");
    await writeFileAtomic(path, new TextEncoder().encode("second, longer"));
    assert.equal(await Deno.readTextFile(path), "second, longer");
    // Two writers at once use distinct temporary names: both complete, one wins whole.
    await Promise.all([writeFileAtomic(path, "x".repeat(100_000)), writeFileAtomic(path, "y")]);
    const got = await Deno.readTextFile(path);
    assert.ok(got === "y" || got === "x".repeat(100_000));
    assert.deepEqual(await names(dir), ["a.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic: a failed rename removes the temporary file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "neox-out-" });
  try {
    await Deno.mkdir(`${dir}/taken`);
    await Deno.writeTextFile(`${dir}/taken/inside`, "keeps the folder non-empty");
    await assert.rejects(writeFileAtomic(`${dir}/taken`, "data"), NeoxError);
    assert.deepEqual(await names(dir), ["taken"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
