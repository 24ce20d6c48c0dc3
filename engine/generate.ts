/**
 * Plain (autoregressive) generation on the GPU. The prompt is prefilled in chunks; each
 * decode step embeds the token the previous step's argmax wrote into the token buffer,
 * so many steps are encoded per submit and the tokens are read back once at the end.
 */
import { gpuIdle, readBuffer, storageBuffer } from "./device.ts";
import type { NeoxModel, Sequence } from "./model.ts";
import { type Dispatch, encodeDispatches } from "../kernels/kernel.ts";
import { NeoxError } from "./errors.ts";
import { beginPass, type PassHook } from "./hooks.ts";
import {
  attendedKeys,
  type CachePolicy,
  checkCachePolicy,
  compressionEvents,
  FULL_CACHE,
  MAX_CACHE_ENTRIES,
  sinkCacheSlots,
} from "./cache_policy.ts";
import {
  checkSampling,
  isSampling,
  sampleDispatch,
  type SamplingOptions,
  STREAM,
} from "./sampling.ts";

/** Largest prefill chunk (tokens per pass). */
export const PREFILL_CHUNK = 256;
/** Largest prefill chunk with a sink cache: its slots exceed its size by one chunk. */
export const SINK_PREFILL_CHUNK = 32;

/** What every generation loop reports besides its tokens. */
export interface GenerationStats {
  /** Wall time from the first submit until the first new token was computed. */
  ttftMs: number;
  /** Wall time of the decode steps after the first token. */
  decodeMs: number;
  /** CPU waits on the GPU during this generation. */
  gpuWaits: number;
  kvBytes: number;
  /** Weights (of both models when speculative) plus every GPU buffer of the run. */
  peakBytes: number;
  /** Appends that evicted entries from the (target's) cache (0 with a full cache). */
  compressionEvents: number;
}

/** Result of a plain greedy generation. */
export interface GreedyResult extends GenerationStats {
  /** New token ids (length maxNewTokens). */
  tokens: number[];
}

/** Options of greedy generation. */
export interface GreedyOptions {
  /** Decode steps encoded into one command buffer. */
  stepsPerSubmit?: number;
  /** Reuse this sequence (its capacity must fit) instead of allocating one. */
  sequence?: Sequence;
  /** Observer of passes; with a hook every decode step is its own compute pass. */
  hook?: PassHook;
  /** Sample instead of argmax when temperature > 0 (`kernels/sample.wgsl`). */
  sampling?: SamplingOptions;
  /** KV cache policy of the sequence this allocates (default: full). */
  cache?: CachePolicy;
}

/**
 * Allocates a sequence sized for a prompt and a number of new tokens (`extra`: passes of up
 * to that many tokens, and as many more positions). A sink cache's slots do not depend on
 * the number of tokens.
 */
export function sequenceFor(
  model: NeoxModel,
  promptLen: number,
  maxNewTokens: number,
  extra = 0,
  cache: CachePolicy = FULL_CACHE,
): Sequence {
  if (cache.kind === "sink") {
    checkCachePolicy(cache);
    const maxT = Math.max(1, extra, Math.min(SINK_PREFILL_CHUNK, promptLen));
    return model.newSequence({
      capacity: sinkCacheSlots(cache, maxT),
      maxTokens: promptLen + maxNewTokens + extra + 1,
      maxT,
      cache,
    });
  }
  const capacity = promptLen + maxNewTokens + extra;
  if (capacity > MAX_CACHE_ENTRIES) {
    throw new NeoxError(
      `prompt (${promptLen} tokens) + ${maxNewTokens} new tokens exceed the full cache limit of ${MAX_CACHE_ENTRIES} positions (use --cache sink)`,
    );
  }
  return model.newSequence({
    capacity,
    maxTokens: capacity + 1,
    maxT: Math.max(1, Math.min(PREFILL_CHUNK, Math.max(promptLen, extra))),
  });
}

/** Encodes the prefill of `ids` (already written at tokens[0..]) with an argmax at the end. */
export function encodePrefill(
  seq: Sequence,
  n: number,
  enc: GPUCommandEncoder,
  argmax = true,
  hook?: PassHook,
): void {
  const pass = beginPass(enc, hook, "prefill");
  for (let s = 0; s < n; s += seq.opts.maxT) {
    const T = Math.min(seq.opts.maxT, n - s);
    const last = s + T >= n;
    encodeDispatches(
      pass,
      seq.plan(T, { logits: last ? "last" : "none", argmax: last && argmax, advance: true }),
    );
  }
  pass.end();
}

/** Greedy decoding: the target alone, token by token, all on the GPU. */
export async function greedyGenerate(
  model: NeoxModel,
  ids: number[],
  maxNewTokens: number,
  opts: GreedyOptions = {},
): Promise<GreedyResult> {
  const { gpu } = model;
  const seq = opts.sequence ?? sequenceFor(model, ids.length, maxNewTokens, 0, opts.cache);
  const waits0 = gpu.waits.count;
  if (opts.sampling) checkSampling(opts.sampling);
  const sampling = isSampling(opts.sampling) ? opts.sampling : undefined;
  // Sampling: the draw runs after the pass has advanced, into the slot argmax would fill.
  const scratch = sampling ? storageBuffer(gpu, 16, "sample scratch") : undefined;
  const draw = sampling &&
    sampleDispatch(seq, sampling, {
      rows: 1,
      srcRow: 0,
      probs: null,
      dstRow: 0,
      draw: { stream: STREAM.plain, offset: 0 },
    }, scratch!);
  seq.writeTokens(ids);
  seq.setState(0, 0);
  const t0 = performance.now();
  let enc = gpu.device.createCommandEncoder();
  encodePrefill(seq, ids.length, enc, !draw, opts.hook);
  if (draw) {
    const pass = enc.beginComputePass({ label: "sample" });
    encodeDispatches(pass, [draw]);
    pass.end();
  }
  gpu.device.queue.submit([enc.finish()]);
  await gpuIdle(gpu);
  const t1 = performance.now();
  // Step k (k >= 1) appends token k's entry and attends ids.length + k keys (a sink cache at
  // most its size): the plan of that length picks the one-token attention measured nearest to
  // it (engine/autotune.ts tunedAttention).
  const cache = seq.opts.cache ?? FULL_CACHE;
  const withDraw = new Map<Dispatch[], Dispatch[]>(); // a plan and the draw after it, built once
  const step = (k: number) => {
    const cacheLen = attendedKeys(cache, ids.length + k);
    const plan = seq.plan(1, { logits: "last", argmax: !draw, advance: true, cacheLen });
    if (!draw) return plan;
    if (!withDraw.has(plan)) withDraw.set(plan, [...plan, draw]);
    return withDraw.get(plan)!;
  };
  const per = opts.stepsPerSubmit ?? 32;
  for (let done = 1; done < maxNewTokens;) {
    const n = Math.min(per, maxNewTokens - done);
    enc = gpu.device.createCommandEncoder();
    if (opts.hook) {
      for (let i = 0; i < n; i++) {
        const pass = beginPass(enc, opts.hook, "target");
        encodeDispatches(pass, step(done + i));
        pass.end();
      }
    } else {
      const pass = enc.beginComputePass();
      for (let i = 0; i < n; i++) encodeDispatches(pass, step(done + i));
      pass.end();
    }
    gpu.device.queue.submit([enc.finish()]);
    done += n;
  }
  const out = new Uint32Array(await readBuffer(gpu, seq.tokens, ids.length * 4, maxNewTokens * 4));
  const t2 = performance.now();
  const result = {
    tokens: Array.from(out),
    ttftMs: t1 - t0,
    decodeMs: t2 - t1,
    gpuWaits: gpu.waits.count - waits0,
    kvBytes: seq.kvBytes,
    peakBytes: model.weightBytes + seq.bytes + (scratch?.size ?? 0),
    // The last new token is never appended.
    compressionEvents: compressionEvents(
      seq.opts.cache ?? FULL_CACHE,
      ids.length + maxNewTokens - 1,
    ),
  };
  if (!opts.sequence) seq.destroy();
  scratch?.destroy();
  return result;
}

/** Logits of every position of `ids` (a fresh full cache), row-major [len(ids), vocab]. */
export async function allLogits(model: NeoxModel, ids: number[]): Promise<Float32Array> {
  const { gpu, cfg } = model;
  const maxT = Math.min(PREFILL_CHUNK, ids.length);
  const seq = model.newSequence({
    capacity: ids.length,
    maxTokens: ids.length + 1,
    maxT,
    logitsRows: maxT,
  });
  seq.writeTokens(ids);
  seq.setState(0, 0);
  const V = cfg.vocabSize;
  const out = new Float32Array(ids.length * V);
  for (let s = 0; s < ids.length; s += maxT) {
    const T = Math.min(maxT, ids.length - s);
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, seq.plan(T, { logits: "all", argmax: false, advance: true }));
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    out.set(new Float32Array(await readBuffer(gpu, seq.logits, 0, T * V * 4)), s * V);
  }
  seq.destroy();
  return out;
}
