/**
 * KV cache policies: the full cache, and the StreamingLLM sink-plus-window cache
 * (DESIGN.md, "StreamingLLM cache policy"). Before appending an entry to a sink cache
 * that holds C, keep the first S (the attention sinks) and the most recent C - S - 1;
 * every key is rotated by its index in the cache and every query by its own index.
 *
 * The policy is applied per token: a pass of T tokens (prefill chunk, speculative verify)
 * gives each token exactly the cache that T single-token appends would have shown it, so
 * output never depends on how tokens are grouped into passes. On the GPU nothing is
 * copied or compacted: entries stay in a ring (kernels/sink_window.wgsl) and each query
 * maps its cache indices to slots, so eviction and speculative rollback are free.
 */
import { NeoxError } from "./errors.ts";

/** Attention sinks StreamingLLM keeps by default. */
export const DEFAULT_SINKS = 4;

/**
 * Most cache entries one attention query can see: the attention kernels' MAXKEYS (its
 * workgroup score array), set from here by engine/ops.ts.
 */
export const MAX_CACHE_ENTRIES = 4096;

/** StreamingLLM's sink-plus-window cache. */
export interface SinkWindowCache {
  kind: "sink";
  /** Capacity C: most entries kept. */
  size: number;
  /** Leading entries never evicted (S). */
  sinks: number;
  /**
   * The seed's variant: compress only when an append would take the cache past
   * floor(compressAt * C) entries, evicting in one step down to the low mark
   * (see {@link cacheMarks}). Absent or 1: StreamingLLM's one-by-one eviction at C.
   */
  compressAt?: number;
}

/** Which entries a sequence keeps. */
export type CachePolicy = { kind: "full" } | SinkWindowCache;

/** The full cache: every entry is kept. */
export const FULL_CACHE: CachePolicy = { kind: "full" };

/** A sink-plus-window cache of capacity `size`. */
export function sinkWindowCache(
  size: number,
  sinks: number = DEFAULT_SINKS,
  compressAt?: number,
): SinkWindowCache {
  return { kind: "sink", size, sinks, ...(compressAt !== undefined ? { compressAt } : {}) };
}

/**
 * The marks the kernels work from (state words, see kernels/sink_window.wgsl): `high`, the
 * most entries kept (0: full cache); `low`, entries kept right after an eviction, the new
 * entry included. StreamingLLM: high = low = C. With compressAt F: high = floor(F C), and a
 * compression evicts as many entries as the headroom C - high, down to low = 2 high - C
 * (at least S + 1): at F = 0.9 the cache swings between about 0.8 C and 0.9 C.
 */
export function cacheMarks(policy: CachePolicy): { sinks: number; high: number; low: number } {
  if (policy.kind === "full") return { sinks: 0, high: 0, low: 0 };
  const f = policy.compressAt ?? 1;
  const high = Math.floor(f * policy.size);
  const low = f === 1 ? high : Math.max(policy.sinks + 1, 2 * high - policy.size);
  return { sinks: policy.sinks, high, low };
}

/** Keys a pass attends after n positions: n, or a sink cache's size at most. */
export function attendedKeys(policy: CachePolicy, n: number): number {
  return policy.kind === "sink" ? Math.min(n, policy.size) : n;
}

/** Entries cached right after stream position `pos` was appended (mirror of the kernels). */
export function liveEntries(policy: CachePolicy, pos: number): number {
  const { high, low } = cacheMarks(policy);
  if (high === 0 || pos < high) return pos + 1;
  return low + (pos - high) % (high - low + 1);
}

/** Compression events (appends that evicted entries) after `appended` entries. */
export function compressionEvents(policy: CachePolicy, appended: number): number {
  const { high, low } = cacheMarks(policy);
  if (high === 0 || appended <= high) return 0;
  return Math.floor((appended - 1 - high) / (high - low + 1)) + 1;
}

/**
 * Storage slots a sink cache needs: the high mark, plus room for the entries a pass appends
 * (`maxT`) or a rollback drops (`rollback`, K for speculative sequences) so that no entry a
 * query still sees is overwritten before it is read.
 */
export function sinkCacheSlots(policy: SinkWindowCache, maxT: number, rollback = 0): number {
  return cacheMarks(policy).high + Math.max(maxT, rollback) - 1;
}

/**
 * Throws a NeoxError unless `policy` is usable with draft length `k` (0 without a draft):
 * the capacity must exceed sinks + K + 1 so that a verify pass of K + 1 tokens still
 * leaves a window after the sinks.
 */
export function checkCachePolicy(policy: CachePolicy, k = 0): void {
  if (policy.kind === "full") return;
  const { size, sinks, compressAt } = policy;
  if (!Number.isInteger(sinks) || sinks < 0) {
    throw new NeoxError(`sinks must be a non-negative integer, got ${sinks}`);
  }
  if (!Number.isInteger(size) || size <= sinks + k + 1) {
    throw new NeoxError(
      `cache size ${size} must be an integer larger than sinks (${sinks}) + K (${k}) + 1`,
    );
  }
  if (size > MAX_CACHE_ENTRIES) {
    throw new NeoxError(`cache size ${size} exceeds the attention kernel's ${MAX_CACHE_ENTRIES}`);
  }
  if (compressAt !== undefined) {
    if (!(compressAt > 0 && compressAt <= 1)) {
      throw new NeoxError(`compress-at must be in (0, 1], got ${compressAt}`);
    }
    const { high } = cacheMarks(policy);
    if (high <= sinks + k + 1) {
      throw new NeoxError(
        `compress-at ${compressAt} of cache size ${size} keeps ${high} entries, not more than sinks (${sinks}) + K (${k}) + 1`,
      );
    }
  }
}
