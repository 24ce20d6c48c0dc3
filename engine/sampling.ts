/**
 * Sampling settings and the GPU dispatches that apply them: `kernels/sample.wgsl` turns a
 * logits row into softmax(logits / T) restricted to the top-p nucleus and, when asked,
 * draws a token from it with a counter-based generator keyed by (seed, token position,
 * stream) (`kernels/rng.wgsl`), so a seed gives the same tokens however the work is batched.
 */
import { NeoxError } from "./errors.ts";
import type { Sequence } from "./model.ts";
import type { Dispatch } from "../kernels/kernel.ts";
import { sample } from "./ops.ts";

/** Sampling settings; temperature 0 means greedy (argmax). */
export interface SamplingOptions {
  /** Softmax temperature T > 0 (0: greedy). */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 (the default) keeps every token. */
  topP?: number;
  /** Random seed, an integer in [0, 2^32); the default is 0. */
  seed?: number;
  /**
   * Accept rule of speculative sampling, for tests that show a wrong rule is caught:
   * "leviathan" (the default and the only correct one), "always-accept" (keep every draft
   * token), "resample-p" (after a rejection draw from p instead of norm(max(0, p - q))).
   */
  rule?: "leviathan" | "always-accept" | "resample-p";
}

/** Random streams of `kernels/rng.wgsl`. */
export const STREAM = { plain: 0, draft: 1, accept: 2, resample: 3 } as const;

/** Accept-rule codes of `kernels/accept_sample.wgsl`. */
export const RULE_CODE = { "leviathan": 0, "always-accept": 1, "resample-p": 2 } as const;

/** True when `s` asks for sampling (a temperature above 0). */
export function isSampling(s: SamplingOptions | undefined): s is SamplingOptions {
  return s !== undefined && s.temperature > 0;
}

/** Checks sampling settings; throws NeoxError naming the bad value. */
export function checkSampling(s: SamplingOptions): void {
  if (!(Number.isFinite(s.temperature) && s.temperature >= 0)) {
    throw new NeoxError(`temperature must be a number >= 0, got ${s.temperature}`);
  }
  const topP = s.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new NeoxError(`top-p must be in (0, 1], got ${topP}`);
  const seed = s.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new NeoxError(`seed must be an integer from 0 to 4294967295, got ${seed}`);
  }
  if (s.rule !== undefined && !(s.rule in RULE_CODE)) {
    throw new NeoxError(`unknown accept rule "${s.rule}"`);
  }
}

/** Where one `sample.wgsl` dispatch reads, writes and draws. */
export interface SampleTarget {
  /** Logits rows to transform (one workgroup each), from `srcRow`. */
  rows: number;
  srcRow: number;
  /** Destination of the probability rows (row dstRow + r), or null to not keep them. */
  probs: GPUBuffer | null;
  dstRow: number;
  /**
   * Draw a token from row srcRow into tokens[tokenPos + offset] with this random stream
   * (only with rows = 1); null: no draw.
   */
  draw: { stream: number; offset: number } | null;
}

/**
 * A `sample.wgsl` dispatch over `seq`'s logits. Encode it after the pass (after `advance`,
 * so offset 0 is the slot of the next token).
 */
export function sampleDispatch(
  seq: Sequence,
  s: SamplingOptions,
  t: SampleTarget,
  scratch: GPUBuffer,
): Dispatch {
  return sample(seq.model.lib, {
    state: seq.state,
    logits: seq.logits,
    probs: t.probs ?? scratch,
    tokens: seq.tokens,
    V: seq.model.cfg.vocabSize,
    rows: t.rows,
    srcRow: t.srcRow,
    dstRow: t.dstRow,
    temperature: s.temperature,
    topP: s.topP,
    seed: s.seed,
    draw: t.draw,
  });
}

/**
 * The distribution `sample.wgsl` draws from, on the CPU in float64: softmax(logits / T)
 * restricted to the top-p nucleus (ties at the threshold kept) and renormalized.
 */
export function samplingProbs(logits: ArrayLike<number>, temperature: number, topP = 1): number[] {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  const e = Array.from(logits, (l) => Math.exp((l - m) / temperature));
  const total = e.reduce((a, b) => a + b, 0);
  let keep = 0;
  if (topP < 1) {
    const sorted = [...e].sort((a, b) => b - a);
    let acc = 0;
    for (const w of sorted) {
      acc += w;
      keep = w;
      if (acc >= topP * total) break;
    }
  }
  const w = e.map((x) => (x >= keep ? x : 0));
  const z = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / z);
}
