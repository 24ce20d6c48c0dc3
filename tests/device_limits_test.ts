/**
 * Adapter limits and missing or lost devices, without a GPU: a fake `Gpu` with small limits
 * whose device fails the test if anything touches it, so each message is shown to come
 * before any allocation.
 */

import assert from "node:assert/strict";
import { type Gpu, NO_ADAPTER_MESSAGE, storageBuffer } from "../engine/device.ts";
import { NeoxError } from "../engine/errors.ts";
import { loadModel } from "../engine/load.ts";

const draftDir = new URL("../models/pydoc-neox-2.5m", import.meta.url).pathname;

/** A Gpu with the given limits; its device throws on any use. */
function fakeGpu(o: { maxBindingBytes: number; maxBufferBytes: number; lost?: string }): Gpu {
  const device = new Proxy({}, {
    get(_, key) {
      throw new Error(`the GPU device was used (${String(key)})`);
    },
  }) as GPUDevice;
  return {
    device,
    adapterInfo: {} as GPUAdapterInfo,
    hasF16: true,
    hasTimestamps: false,
    maxBindingBytes: o.maxBindingBytes,
    maxBufferBytes: o.maxBufferBytes,
    waits: { count: 0 },
    lost: { reason: o.lost ?? null },
  };
}

/** Asserts that `fn` throws a one-line NeoxError; returns its message. */
async function neoxMessage(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof NeoxError, `expected a NeoxError, got ${e}`);
    assert.ok(!e.message.includes("\n"), `message has several lines: ${e.message}`);
    return e.message;
  }
  throw new assert.AssertionError({ message: "nothing was thrown" });
}

Deno.test("adapter limits: buffer and binding sizes are refused with bytes, limit and a hint", async () => {
  const small = fakeGpu({ maxBindingBytes: 1024, maxBufferBytes: 1024 });
  assert.equal(
    await neoxMessage(() => storageBuffer(small, 4096, "embed_out.weight[0:]")),
    "embed_out.weight[0:] needs 4096 bytes but the adapter allows at most 1024 per buffer (try --quant int8)",
  );

  // 2.5m: d 128, ff 512, fp16 weights kept as f16: a 4h->h row is 1024 bytes, 512 as int8.
  const tight = fakeGpu({ maxBindingBytes: 1000, maxBufferBytes: 1 << 20 });
  const fp16 = await neoxMessage(() => loadModel(tight, draftDir));
  assert.match(fp16, /model\.safetensors: the weights \(\d+ bytes\) do not fit this adapter/);
  assert.ok(fp16.endsWith("needs 1024 bytes, the adapter binds at most 1000 (try --quant int8)"));

  const tiny = fakeGpu({ maxBindingBytes: 256, maxBufferBytes: 1 << 20 });
  const int8 = await neoxMessage(() => loadModel(tiny, draftDir, { quant: "int8" }));
  assert.ok(int8.endsWith("needs 512 bytes, the adapter binds at most 256"), int8);
});

Deno.test("no adapter and lost device: one-line messages that say what to do", async () => {
  assert.ok(NO_ADAPTER_MESSAGE.startsWith("no WebGPU adapter found: "));
  assert.ok(NO_ADAPTER_MESSAGE.includes("apt-get install mesa-vulkan-drivers"));
  assert.ok(!NO_ADAPTER_MESSAGE.includes("\n"));

  const lost = fakeGpu({ maxBindingBytes: 1024, maxBufferBytes: 1024, lost: "device was lost" });
  assert.equal(
    await neoxMessage(() => storageBuffer(lost, 16, "state")),
    "GPU failure: device was lost",
  );
});
