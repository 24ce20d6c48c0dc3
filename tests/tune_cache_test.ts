/**
 * The tuning cache (engine/tune_cache.ts): a load times only the shapes the file lacks and
 * writes them; a later load reads them and times nothing (its choices are the file's, even
 * ones no timing would pick, and the model still decodes the golden tokens); `calibrate`'s
 * refresh times everything again and replaces the file's choices; a file that is absent,
 * not JSON, of another format or with malformed entries is read as empty or without them.
 *
 * Each test loads the embedded draft under an adapter of its own name (a copy of the device
 * with another description), so the process-wide profiles of the tests do not meet.
 */
import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import type { Gpu } from "../engine/device.ts";
import { loadModel } from "../engine/load.ts";
import { greedyGenerate } from "../engine/generate.ts";
import { ATTENTION_TUNE_LENGTHS, TUNE_BUCKETS, tuneKey } from "../engine/autotune.ts";
import {
  kernelSourcesHash,
  readTuneCache,
  refreshTuning,
  TUNE_CACHE_FORMAT,
  type TuneCacheEntry,
  tuneIdentity,
} from "../engine/tune_cache.ts";
import type { NeoxModel } from "../engine/model.ts";
import { modelsDir, readGolden } from "./goldens.ts";

const DRAFT = `${modelsDir}pydoc-neox-2.5m`;

/** The device under another adapter description: a profile and a cache identity of its own. */
async function adapterNamed(name: string): Promise<Gpu> {
  const gpu = await getGpu();
  const i = gpu.adapterInfo;
  const adapterInfo = {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: `${i.description} [${name}]`,
  } as GPUAdapterInfo;
  return { ...gpu, adapterInfo };
}

/**
 * Runs `fn` with a fresh cache file in a temporary folder, which the loads name
 * (LoadOptions.tuneCache): not through NEOX_TUNE_CACHE, since the environment is the whole
 * process's and `deno task test` runs test files side by side in it.
 */
async function withCacheFile(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "neox-tune-" });
  try {
    await fn(`${dir}/sub/tuning.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every (matrix shape, bucket) key the draft's tuner times. */
function draftKeys(model: NeoxModel): string[] {
  const { layers, embedOut } = model.weights;
  // As engine/load.ts lists them: attention.dense and dense_4h_to_h are one matrix where fused.
  const mats = [
    ...layers.flatMap((l) =>
      l.denseOut
        ? [l.queryKeyValue, l.denseHTo4h, l.denseOut]
        : [l.queryKeyValue, l.dense!, l.denseHTo4h, l.dense4hToH!]
    ),
    embedOut,
  ];
  return [...new Set(mats.flatMap((m) => TUNE_BUCKETS.map((T) => tuneKey(m, T))))];
}

Deno.test("tuning cache: a load times what the file lacks and writes it", async () => {
  await withCacheFile(async (path) => {
    const gpu = await adapterNamed("write");
    const id = tuneIdentity(gpu);
    assert(id.includes(`kernels ${kernelSourcesHash()}`), id);
    assert(id.includes(`deno ${Deno.version.deno}`), id);
    const model = await loadModel(gpu, DRAFT, { tuneCache: path });
    assert.equal(model.profile?.restored, undefined, "nothing was read");
    const file = await readTuneCache(path);
    assert.equal(file.format, TUNE_CACHE_FORMAT);
    assert.deepEqual(Object.keys(file.devices), [id]);
    const e = file.devices[id];
    for (const key of draftKeys(model)) {
      const m = e.matmul[key] as { variant: string; ticks: Record<string, number> };
      assert(m, `${key} written`);
      // Timed: every candidate has ticks, and the choice is the fastest.
      const t = Object.values(m.ticks);
      assert(t.length >= 2 && t.every((x) => x > 0), `${key}: ${JSON.stringify(m.ticks)}`);
      assert.deepEqual(model.profile!.matmul.get(key), m);
    }
    // One per bucket, and each bucket's at each tuned length alone.
    assert.deepEqual(
      Object.keys(e.attention).length,
      TUNE_BUCKETS.length * (1 + ATTENTION_TUNE_LENGTHS.length),
      "attention per bucket and per length",
    );
    assert.equal(
      Object.keys(e.fused).length,
      1 + ATTENTION_TUNE_LENGTHS.length,
      "the one-token pass choice, and at each length alone",
    );
  });
});

/** The draft's golden: its first prompt's greedy tokens. */
async function draftGolden(): Promise<{ ids: number[]; greedy_128: number[] }> {
  const g = await readGolden<{ entries: { ids: number[]; greedy_128: number[] }[] }>(
    "draft.json",
  );
  return g.entries[0];
}

/** An entry whose every matmul choice is matmul_rows at one row per invocation, marked. */
function craftedEntry(keys: string[], measuredAt: string): TuneCacheEntry {
  const crafted = { variant: "rows", rpt: 1, ticks: { crafted: 1 } };
  return {
    measuredAt,
    matmul: Object.fromEntries(keys.map((k) => [k, crafted])),
    attention: {},
    norm: {},
    fused: {},
  };
}

async function writeCache(path: string, devices: Record<string, unknown>): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify({ format: TUNE_CACHE_FORMAT, devices }));
}

Deno.test("tuning cache: a later load reads the file's choices and times no matmul", async () => {
  await withCacheFile(async (path) => {
    const gpu = await adapterNamed("read");
    const keys = draftKeys(await loadModel(gpu, DRAFT, { tune: false }));
    const at = "2026-01-02T03:04:05.000Z";
    await writeCache(path, {
      [tuneIdentity(gpu)]: craftedEntry(keys, at),
      "another adapter": craftedEntry(["f16 1x1 T<=1"], at),
    });
    const model = await loadModel(gpu, DRAFT, { tuneCache: path });
    assert.deepEqual(model.profile?.restored, { path, measuredAt: at, entries: keys.length });
    for (const key of keys) {
      assert.deepEqual(model.profile!.matmul.get(key)?.ticks, { crafted: 1 }, key);
    }
    // What it lacked (attention, norms, the one-token pass) was timed and added.
    const e = (await readTuneCache(path)).devices[tuneIdentity(gpu)];
    assert.equal(
      Object.keys(e.attention).length,
      TUNE_BUCKETS.length * (1 + ATTENTION_TUNE_LENGTHS.length),
    );
    assert.deepEqual((e.matmul[keys[0]] as { ticks: unknown }).ticks, { crafted: 1 });
    assert(e.measuredAt > at, e.measuredAt);
    assert("another adapter" in (await readTuneCache(path)).devices, "other entries kept");
    // A read choice still decodes what transformers decoded.
    const g = await draftGolden();
    const { tokens } = await greedyGenerate(model, g.ids, 32);
    assert.deepEqual(tokens, g.greedy_128.slice(0, 32));
  });
});

Deno.test("tuning cache: calibrate's refresh times every shape again", async () => {
  await withCacheFile(async (path) => {
    const gpu = await adapterNamed("refresh");
    const keys = draftKeys(await loadModel(gpu, DRAFT, { tune: false }));
    // A second model loaded after the first one's choices were written (as calibrate loads
    // the draft, then the target): the file's old choices must not come back through that write.
    const SECOND = "synthetic:pythia-14m";
    const second = draftKeys(await loadModel(gpu, SECOND, { tune: false }));
    const crafted = craftedEntry([...keys, ...second], "2026-01-02T03:04:05Z");
    await writeCache(path, { [tuneIdentity(gpu)]: crafted });
    refreshTuning(gpu);
    const model = await loadModel(gpu, DRAFT, { tuneCache: path });
    assert.equal(model.profile?.restored, undefined);
    const model2 = await loadModel(gpu, SECOND, { tuneCache: path });
    const e = (await readTuneCache(path)).devices[tuneIdentity(gpu)];
    for (const key of [...keys, ...second]) {
      const m = e.matmul[key] as { ticks: Record<string, number> };
      assert(!("crafted" in m.ticks), `${key} timed again: ${JSON.stringify(m.ticks)}`);
      assert.deepEqual(model2.profile!.matmul.get(key), m);
    }
  });
});

Deno.test("tuning cache: unreadable files and malformed entries are read as absent", async () => {
  await withCacheFile(async (path) => {
    assert.deepEqual(await readTuneCache(path), { format: TUNE_CACHE_FORMAT, devices: {} });
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, "{ not json");
    assert.deepEqual((await readTuneCache(path)).devices, {});
    const good = craftedEntry(["f16 8x8 T<=1"], "2026-01-02T03:04:05Z");
    await Deno.writeTextFile(path, JSON.stringify({ format: 0, devices: { a: good } }));
    assert.deepEqual((await readTuneCache(path)).devices, {}, "another format");
    const bad = (patch: Record<string, unknown>) => ({ ...good, ...patch });
    await writeCache(path, {
      good,
      variant: bad({ matmul: { k: { variant: "gemm9", ticks: {} } } }),
      rpt: bad({ matmul: { k: { variant: "rows", rpt: 0.5, ticks: {} } } }),
      ticks: bad({ matmul: { k: { variant: "rows", ticks: { a: "fast" } } } }),
      attention: bad({ attention: { k: { variant: { variant: "split" }, ticks: {} } } }),
      norm: bad({ norm: { k: { rows: "yes", ticks: {} } } }),
      // Workgroup sizes no test runs: argmax at layernorm_pair's 64, tiled lanes of 32.
      argmaxWg: bad({ norm: { "argmax V=8": { rows: false, wg: 64, ticks: {} } } }),
      argmaxRows: bad({ norm: { "argmax V=8": { rows: true, ticks: {} } } }),
      normWg: bad({ norm: { "layernorm_pair d=8 T<=1": { rows: false, wg: 32, ticks: {} } } }),
      lanes: bad({ matmul: { k: { variant: "f16x8", lanes: 32, ticks: {} } } }),
      matmulT: bad({ fused: { k: { fused: false, matmulT: 3, ticks: {} } } }),
      date: bad({ measuredAt: 5 }),
      list: [],
      wide: bad({
        norm: {
          "argmax V=8": { rows: false, wg: 256, ticks: {} },
          "layernorm_pair d=8 T<=1": { rows: false, wg: 256, ticks: {} },
        },
        matmul: { k: { variant: "f16x8", rpt: 1, lanes: 64, ticks: {} } },
        fused: { k: { fused: false, matmulT: 4, ticks: {} } },
      }),
    });
    assert.deepEqual(Object.keys((await readTuneCache(path)).devices), ["good", "wide"]);
  });
});
