/**
 * The StreamingLLM sink-plus-window cache: the policy arithmetic against a literal
 * simulation of DESIGN.md's rule, the streaming golden token for token, every streamed
 * logit against the float64 reference (sink, seed's compress-at variant, pure window; any
 * chunking), lossless speculative decoding under the same cache, and memory that does not
 * grow with generated length. NEOX_STREAM_LONG=1 adds a 10,000-token run.
 */

import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import type { NeoxModel } from "../engine/model.ts";
import { greedyGenerate } from "../engine/generate.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import { streamingPerplexity } from "../engine/perplexity.ts";
import {
  cacheMarks,
  type CachePolicy,
  compressionEvents,
  liveEntries,
  sinkWindowCache,
} from "../engine/cache_policy.ts";
import {
  ATTENTION_MULTI,
  ATTENTION_SPLIT_LANES,
  attentionKey,
  emptyProfile,
  TUNE_BUCKETS,
} from "../engine/autotune.ts";
import { attentionName, type AttentionVariant } from "../engine/ops.ts";
import { loadReferenceModel, referenceForward } from "./reference.ts";
import { modelsDir, readGolden } from "./goldens.ts";

const targetDir = `${modelsDir}pydoc-neox-20m`;
const draftDir = `${modelsDir}pydoc-neox-2.5m`;

let models: Promise<{ target: NeoxModel; draft: NeoxModel }> | null = null;
function loadPair(): Promise<{ target: NeoxModel; draft: NeoxModel }> {
  return models ??= (async () => {
    const gpu = await getGpu();
    return { target: await loadModel(gpu, targetDir), draft: await loadModel(gpu, draftDir) };
  })();
}

interface ModelGolden {
  entries: { prompt: string; ids: number[]; greedy_128: number[] }[];
}

const prompt = async (name: string) =>
  (await readGolden<ModelGolden>("target.json")).entries.find((e) => e.prompt === name)!;

Deno.test("sink cache policy: per-token view and evictions follow DESIGN.md's rule", () => {
  const policies: CachePolicy[] = [
    sinkWindowCache(48, 4),
    sinkWindowCache(10, 0),
    sinkWindowCache(12, 3),
    sinkWindowCache(40, 4, 0.9),
    sinkWindowCache(20, 2, 0.6),
  ];
  for (const policy of policies) {
    const { sinks, high, low } = cacheMarks(policy);
    // Literal rule, one append at a time: past the high mark keep the first S and the most
    // recent (low - S - 1) entries (StreamingLLM: low = high = C, so C - S - 1).
    let cache: number[] = [];
    let events = 0;
    for (let p = 0; p < 200; p++) {
      if (cache.length + 1 > high) {
        cache = [...cache.slice(0, sinks), ...cache.slice(cache.length - (low - sinks - 1))];
        events++;
      }
      cache.push(p);
      const n = liveEntries(policy, p);
      const view = Array.from({ length: n }, (_, i) => (i < sinks ? i : i + p + 1 - n));
      assert.deepEqual(cache, view, `${JSON.stringify(policy)} at position ${p}`);
      assert.equal(compressionEvents(policy, p + 1), events);
    }
  }
  assert.deepEqual(cacheMarks(sinkWindowCache(512, 4, 0.9)), { sinks: 4, high: 460, low: 408 });
});

interface StreamingGolden {
  runs: {
    ids: number[];
    C: number;
    S: number;
    n_new: number;
    tokens: number[];
    evictions: number;
  }[];
}

Deno.test("streaming golden: C=48, S=4, 160 tokens, token for token", async () => {
  const { target } = await loadPair();
  const golden = await readGolden<StreamingGolden>("streaming.json");
  for (const run of golden.runs) {
    const r = await greedyGenerate(target, run.ids, run.n_new, {
      cache: sinkWindowCache(run.C, run.S),
    });
    const at = r.tokens.findIndex((t, i) => t !== run.tokens[i]);
    console.log(`C=${run.C} S=${run.S} ${run.n_new} tokens: first mismatch ${at}`);
    assert.deepEqual(r.tokens, run.tokens);
    assert.equal(r.compressionEvents, run.evictions);
  }
});

Deno.test("streamed logits match the float64 reference under every policy and chunking", async () => {
  const { draft } = await loadPair();
  const ref = await loadReferenceModel(draftDir);
  const golden = await readGolden<ModelGolden>("target.json");
  const ids = golden.entries.flatMap((e) => e.ids).slice(0, 90);
  const V = draft.cfg.vocabSize;
  const policies: CachePolicy[] = [
    sinkWindowCache(24, 4),
    sinkWindowCache(30, 2, 0.8),
    sinkWindowCache(20, 0),
  ];
  const full = referenceForward(ref, ids);
  for (const cache of policies) {
    const want = referenceForward(ref, ids, cache);
    let fromFull = 0;
    for (let t = 0; t < ids.length; t++) {
      for (let v = 0; v < V; v++) fromFull = Math.max(fromFull, Math.abs(full[t][v] - want[t][v]));
    }
    for (const chunk of [1, 32]) {
      let diff = 0;
      await streamingPerplexity(draft, ids, {
        cache,
        chunk,
        onLogits: (rows, s) => {
          for (let i = 0; i < rows.length; i++) {
            diff = Math.max(diff, Math.abs(rows[i] - want[s + Math.floor(i / V)][i % V]));
          }
        },
      });
      console.log(
        `${JSON.stringify(cache)} chunk ${chunk}: max|diff| ${diff.toExponential(2)} ` +
          `(the policy moves logits by ${fromFull.toFixed(2)} from the full cache)`,
      );
      assert(diff < 1e-4, `max|diff| ${diff}`);
      assert(fromFull > 0.1, "the policy must evict something in this check");
    }
  }
});

Deno.test("attention_rows, _split and _multi under sink caches: logits against float64", async () => {
  // Each barrier-free attention kernel forced for every pass size (not left to the tuner),
  // streamed one, 4 and 32 tokens a pass, so the sink-and-ring walk of each is checked.
  const gpu = await getGpu();
  const model = await loadModel(gpu, draftDir, { tune: false });
  const ref = await loadReferenceModel(draftDir);
  const golden = await readGolden<ModelGolden>("target.json");
  const ids = golden.entries.flatMap((e) => e.ids).slice(0, 70);
  const V = model.cfg.vocabSize;
  const heads = { H: model.cfg.numHeads, hd: model.cfg.headDim, rot: model.cfg.rotaryDims };
  const cache = sinkWindowCache(24, 4);
  const want = referenceForward(ref, ids, cache);
  const variants: AttentionVariant[] = [
    { variant: "rows" },
    ...ATTENTION_SPLIT_LANES.map((lanes): AttentionVariant => ({ variant: "split", lanes })),
    // Keys shared by blocks of queries whose windows differ (a chunk of 32 evicts within it).
    ATTENTION_MULTI,
  ];
  try {
    for (const variant of variants) {
      model.profile = emptyProfile("test");
      for (const T of TUNE_BUCKETS) {
        model.profile.attention.set(attentionKey(heads, T), { variant, ticks: {} });
      }
      // 4: a block of attention_multi that appends its own keys while its window moves.
      for (const chunk of [1, 4, 32]) {
        let diff = 0;
        let seen = 0;
        await streamingPerplexity(model, ids, {
          cache,
          chunk,
          onLogits: (rows, s) => {
            seen += rows.length / V;
            for (let i = 0; i < rows.length; i++) {
              diff = Math.max(diff, Math.abs(rows[i] - want[s + Math.floor(i / V)][i % V]));
            }
          },
        });
        console.log(`${attentionName(variant)} chunk ${chunk}: max|diff| ${diff.toExponential(2)}`);
        assert.equal(seen, ids.length - 1, "a row of logits for every predicted token");
        assert(diff < 1e-4, `${attentionName(variant)} chunk ${chunk}: max|diff| ${diff}`);
      }
    }
  } finally {
    model.destroy();
  }
});

Deno.test("speculative + sink cache is token-identical to target-only + sink cache", async () => {
  const { target, draft } = await loadPair();
  // 66 prompt tokens past a 40-entry cache: the prefill evicts too.
  const e = await prompt("long-0");
  const n = 80;
  const cache = sinkWindowCache(40, 4);
  const base = await greedyGenerate(target, e.ids, n, { cache });
  const diverges = base.tokens.findIndex((t, i) => t !== e.greedy_128[i]);
  console.log(
    `target-only: ${base.compressionEvents} evictions; leaves the full cache's output at ${diverges}`,
  );
  assert(diverges >= 0, "the sink cache must change the output in this check");
  for (const k of [3, 5]) {
    const r = await speculativeGenerate(target, draft, e.ids, { k, maxNewTokens: n, cache });
    const rejected = r.rounds.filter((a) => a < k).length;
    console.log(
      `K=${k}: ${r.rounds.length} rounds, ${rejected} with a rejection, ${r.compressionEvents} evictions`,
    );
    assert.deepEqual(r.tokens, base.tokens, `K=${k}`);
    assert(rejected > 3, "rollback must be exercised");
  }
  // The seed's variant: batch evictions between 24 and 32 entries.
  const batched = sinkWindowCache(40, 4, 0.8);
  const want = await greedyGenerate(target, e.ids, 40, { cache: batched });
  const r = await speculativeGenerate(target, draft, e.ids, {
    k: 3,
    maxNewTokens: 40,
    cache: batched,
  });
  console.log(`compress-at 0.8, K=3: ${want.compressionEvents} compressions`);
  assert.deepEqual(r.tokens, want.tokens, "compress-at 0.8, K=3");
});

Deno.test("sink cache memory does not grow with generated length", async () => {
  const { draft } = await loadPair();
  const ids = (await prompt("medium-1")).ids;
  const cache = sinkWindowCache(64, 4);
  const short = await greedyGenerate(draft, ids, 200, { cache });
  const long = await greedyGenerate(draft, ids, 2000, { cache });
  console.log(
    `kvBytes ${short.kvBytes} / ${long.kvBytes}, peakBytes ${short.peakBytes} / ${long.peakBytes}`,
  );
  assert.equal(long.kvBytes, short.kvBytes);
  // Only the token id buffer (4 bytes per token, the output itself) grows.
  assert.equal(long.peakBytes - short.peakBytes, 4 * 1800);
  assert.equal(long.compressionEvents, ids.length + 2000 - 1 - 64);
  const full = await greedyGenerate(draft, ids, 200);
  assert(full.kvBytes > short.kvBytes, "a full cache for 200 tokens outgrows a 64-entry one");
});

Deno.test({
  name: "sink cache: a 10,000-token run of the draft with C=64 (NEOX_STREAM_LONG=1)",
  ignore: Deno.env.get("NEOX_STREAM_LONG") !== "1",
  async fn() {
    const { draft } = await loadPair();
    const ids = (await prompt("medium-1")).ids;
    const cache = sinkWindowCache(64, 4);
    const t0 = performance.now();
    const r = await greedyGenerate(draft, ids, 10_000, { cache });
    const s = (performance.now() - t0) / 1000;
    console.log(
      `10,000 tokens in ${s.toFixed(1)} s (${
        (10_000 / s).toFixed(0)
      } tok/s), kvBytes ${r.kvBytes}, ` +
        `peakBytes ${r.peakBytes}, ${r.compressionEvents} evictions`,
    );
    const short = await greedyGenerate(draft, ids, 200, { cache });
    assert.equal(r.kvBytes, short.kvBytes);
    assert.equal(r.tokens.length, 10_000);
    assert(r.tokens.every((t) => t < draft.cfg.vocabSize));
  },
});

Deno.test("perplexity CLI: JSON figures of a text streamed through a sink cache", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = `${dir}/text.txt`;
    await Deno.writeTextFile(
      text,
      await Deno.readTextFile(new URL("../engine/cache_policy.ts", import.meta.url)),
    );
    const args = ["--model", draftDir, "--text", text, "--max-tokens", "300"];
    const run = async (extra: string[]) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "mod.ts", "perplexity", ...args, ...extra],
        cwd: new URL("..", import.meta.url).pathname,
        env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      return JSON.parse(new TextDecoder().decode(r.stdout));
    };
    const sink = await run(["--cache", "sink", "--cache-size", "32", "--sinks", "4"]);
    console.log(JSON.stringify(sink));
    assert.equal(sink.tokens, 299);
    assert.equal(sink.cache, "sink");
    assert.equal(sink.cacheSize, 32);
    assert.equal(sink.sinks, 4);
    assert(Number.isFinite(sink.nll) && sink.nll > 0);
    assert(Math.abs(sink.perplexity - Math.exp(sink.nll)) < 1e-9 * sink.perplexity);
    const full = await run([]);
    assert.equal(full.cache, "full");
    assert.notEqual(full.nll, sink.nll);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
