/**
 * Token-level negative log-likelihood of a long text streamed through a KV cache policy.
 * Tokens go through in chunks; the sink cache gives every token the window a
 * token-by-token run would have (engine/cache_policy.ts), so the figures do not depend on
 * the chunk size. This is StreamingLLM's language-modelling experiment: with sinks the
 * NLL stays flat past the cache size; a pure window (no sinks) degrades.
 */
import { readBuffer } from "./device.ts";
import { NeoxError } from "./errors.ts";
import type { NeoxModel } from "./model.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { type CachePolicy, checkCachePolicy, FULL_CACHE, sinkCacheSlots } from "./cache_policy.ts";
import { PREFILL_CHUNK, SINK_PREFILL_CHUNK } from "./generate.ts";

/** NLL of a text under one cache policy. */
export interface PerplexityResult {
  /** Tokens predicted (the text's tokens but the first). */
  tokens: number;
  /** Mean NLL in nats per predicted token. */
  nll: number;
  /** exp(nll). */
  perplexity: number;
  /** NLL of each predicted token: entry i is -log p(ids[i + 1] | ids[..i]). */
  nllPerToken: Float64Array;
}

/** Options of {@link streamingPerplexity}. */
export interface PerplexityOptions {
  cache?: CachePolicy;
  /** Tokens per pass (default 32 with a sink cache, 256 with a full cache). */
  chunk?: number;
  /** Observer of each chunk's logits, rows [T, V] for ids[start .. start + T). */
  onLogits?: (rows: Float32Array, start: number) => void;
}

/** Streams `ids` through `model` under a cache policy and scores every next token. */
export async function streamingPerplexity(
  model: NeoxModel,
  ids: number[],
  o: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const cache = o.cache ?? FULL_CACHE;
  checkCachePolicy(cache);
  if (ids.length < 2) throw new NeoxError(`perplexity needs at least 2 tokens, got ${ids.length}`);
  const { gpu, cfg } = model;
  const V = cfg.vocabSize;
  const chunk = Math.min(
    ids.length,
    o.chunk ?? (cache.kind === "sink" ? SINK_PREFILL_CHUNK : PREFILL_CHUNK),
  );
  const seq = model.newSequence({
    capacity: cache.kind === "sink" ? sinkCacheSlots(cache, chunk) : ids.length,
    maxTokens: ids.length,
    maxT: chunk,
    logitsRows: chunk,
    cache,
  });
  const nll = new Float64Array(ids.length - 1);
  try {
    seq.writeTokens(ids);
    seq.setState(0, 0);
    for (let s = 0; s < ids.length - 1; s += chunk) {
      const T = Math.min(chunk, ids.length - 1 - s);
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass({ label: "perplexity" });
      encodeDispatches(pass, seq.plan(T, { logits: "all", argmax: false, advance: true }));
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      const rows = new Float32Array(await readBuffer(gpu, seq.logits, 0, T * V * 4));
      o.onLogits?.(rows, s);
      for (let t = 0; t < T; t++) {
        const row = rows.subarray(t * V, (t + 1) * V);
        let mx = -Infinity;
        for (let v = 0; v < V; v++) if (row[v] > mx) mx = row[v];
        let sum = 0;
        for (let v = 0; v < V; v++) sum += Math.exp(row[v] - mx);
        nll[s + t] = mx + Math.log(sum) - row[ids[s + t + 1]];
      }
    }
  } finally {
    seq.destroy();
  }
  const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
  return { tokens: nll.length, nll: mean, perplexity: Math.exp(mean), nllPerToken: nll };
}
