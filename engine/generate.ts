/**
 * Plain (autoregressive) generation on the GPU. The prompt is prefilled in chunks; each
 * decode step embeds the token the previous step's argmax wrote into the token buffer,
 * so many steps are encoded per submit and the tokens are read back once at the end.
 */
import { gpuIdle, readBuffer } from "./device.ts";
import type { NeoxModel, Sequence } from "./model.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { NeoxError } from "./errors.ts";
import { beginPass, type PassHook } from "./hooks.ts";

/** Largest prefill chunk (tokens per pass). */
export const PREFILL_CHUNK = 256;

/** Result of a plain greedy generation. */
export interface GreedyResult {
  /** New token ids (length maxNewTokens). */
  tokens: number[];
  /** Wall time from the first submit until the first new token was computed. */
  ttftMs: number;
  /** Wall time of the decode steps after the first token. */
  decodeMs: number;
  /** CPU waits on the GPU during this generation. */
  gpuWaits: number;
  kvBytes: number;
}

/** Options of greedy generation. */
export interface GreedyOptions {
  /** Decode steps encoded into one command buffer. */
  stepsPerSubmit?: number;
  /** Reuse this sequence (its capacity must fit) instead of allocating one. */
  sequence?: Sequence;
  /** Observer of passes; with a hook every decode step is its own compute pass. */
  hook?: PassHook;
}

/** Allocates a full-cache sequence sized for a prompt and a number of new tokens. */
export function sequenceFor(
  model: NeoxModel,
  promptLen: number,
  maxNewTokens: number,
  extra = 0,
): Sequence {
  const capacity = promptLen + maxNewTokens + extra;
  if (capacity > 4096) {
    throw new NeoxError(
      `prompt (${promptLen} tokens) + ${maxNewTokens} new tokens exceed the full cache limit of 4096 positions (use --cache sink)`,
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
  const seq = opts.sequence ?? sequenceFor(model, ids.length, maxNewTokens);
  const waits0 = gpu.waits.count;
  seq.writeTokens(ids);
  seq.setState(0, 0);
  const t0 = performance.now();
  let enc = gpu.device.createCommandEncoder();
  encodePrefill(seq, ids.length, enc, true, opts.hook);
  gpu.device.queue.submit([enc.finish()]);
  await gpuIdle(gpu);
  const t1 = performance.now();
  const step = seq.plan(1, { logits: "last", argmax: true, advance: true });
  const per = opts.stepsPerSubmit ?? 32;
  for (let done = 1; done < maxNewTokens;) {
    const n = Math.min(per, maxNewTokens - done);
    enc = gpu.device.createCommandEncoder();
    if (opts.hook) {
      for (let i = 0; i < n; i++) {
        const pass = beginPass(enc, opts.hook, "target");
        encodeDispatches(pass, step);
        pass.end();
      }
    } else {
      const pass = enc.beginComputePass();
      for (let i = 0; i < n; i++) encodeDispatches(pass, step);
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
  };
  if (!opts.sequence) seq.destroy();
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
