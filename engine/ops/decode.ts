/** The ops around a pass: argmax, advance, sample, the accept kernels, fill, streamRead. */
import { type Dispatch, type KernelLibrary, type WeightType } from "../../kernels/kernel.ts";
import { check, F32, meta, type OpPlace } from "./common.ts";

export interface ArgmaxOptions extends OpPlace {
  state: GPUBuffer;
  /** logits: [rows, V] f32. */
  logits: GPUBuffer;
  tokens: GPUBuffer;
  V: number;
  /** Logits row to pick from. */
  row: number;
  /** Tokens of the pass: the pick goes to tokens[tokenPos + T]. */
  T: number;
  /** Then commit the pass as {@link advance} does (the one-token passes' tail). */
  advance?: boolean;
  /** Invocations of its one workgroup (a power of two); default {@link ARGMAX_WG}. */
  wg?: number;
}

/** argmax's invocations unless tuned otherwise (lavapipe's). */
export const ARGMAX_WG = 32;

/** tokens[tokenPos + T] = argmax(logits[row]) (first index on ties). Before `advance`. */
export function argmax(lib: KernelLibrary, o: ArgmaxOptions): Dispatch {
  return lib.dispatch(
    o.label ?? "argmax",
    lib.pipeline("argmax", "f32", { ADVANCE: o.advance ? 1 : 0, WG: o.wg ?? ARGMAX_WG }),
    [
      lib.uniform([o.V, o.row, o.T, 0]),
      o.state,
      o.logits,
      o.tokens,
    ],
    [1],
    meta("argmax", "argmax", o, {
      shape: `1x${o.V}`,
      bytes: o.V * F32 + 4 + (o.advance ? 16 : 0),
      flops: o.V,
    }),
  );
}

/** Options of {@link advance}. */
export interface AdvanceOptions extends OpPlace {
  state: GPUBuffer;
  T: number;
}

/** Commits a pass: cacheLen += T, tokenPos += T. */
export function advance(lib: KernelLibrary, o: AdvanceOptions): Dispatch {
  return lib.dispatch(
    o.label ?? "advance",
    lib.pipeline("advance"),
    [
      lib.uniform([o.T, 0, 0, 0]),
      o.state,
    ],
    [1],
    meta("advance", "advance", o, { shape: "state", bytes: 16, flops: 2 }),
  );
}

/** Options of {@link sample}. */
export interface SampleOptions extends OpPlace {
  state: GPUBuffer;
  /** logits: [srcRow + rows, V] f32. */
  logits: GPUBuffer;
  /** probs: [dstRow + rows, V] f32, or null to keep no probabilities. */
  probs: GPUBuffer | null;
  tokens: GPUBuffer;
  V: number;
  rows: number;
  srcRow: number;
  dstRow: number;
  temperature: number;
  topP?: number;
  seed?: number;
  /** Draw a token into tokens[tokenPos + offset] from random stream `stream` (rows = 1). */
  draw: { stream: number; offset: number } | null;
}

/** Temperature / top-p probabilities of logits rows, optionally drawing one token. */
export function sample(lib: KernelLibrary, o: SampleOptions): Dispatch {
  check(!o.draw || o.rows === 1, "sample: a draw needs exactly one row");
  const flags = (o.draw ? 1 : 0) | (o.probs ? 2 : 0);
  return lib.dispatch(
    o.label ?? "sample",
    lib.pipeline("sample"),
    [
      lib.uniform([
        o.V,
        o.srcRow,
        o.dstRow,
        o.draw?.offset ?? 0,
        o.seed ?? 0,
        o.draw?.stream ?? 0,
        flags,
        0,
        1 / o.temperature,
        o.topP ?? 1,
        0,
        0,
      ], [8, 9]),
      o.state,
      o.logits,
      o.probs ?? lib.zero(),
      o.tokens,
    ],
    [o.rows],
    meta("sample", "sample", o, {
      shape: `${o.rows}x${o.V}`,
      bytes: o.rows * o.V * F32 * (o.probs ? 2 : 1) + (o.draw ? 4 : 0),
      flops: 4 * o.rows * o.V,
    }),
  );
}

/** The buffers of a speculative round's accept kernels. */
export interface AcceptBuffers extends OpPlace {
  targetState: GPUBuffer;
  draftState: GPUBuffer;
  tokens: GPUBuffer;
  /** Round log [rounds, accepted_0, ...] u32. */
  log: GPUBuffer;
  V: number;
  K: number;
  /**
   * A round that starts with the target's tokenPos >= stop commits nothing: both states are
   * left as before the round and nothing is logged (kernels/accept_commit.wgsl), so a loop
   * may encode rounds past its goal. Default: never.
   */
  stop?: number;
}

/** `stop` of a round that never stops. */
const NEVER = 0xffffffff;

/** Options of {@link acceptGreedy}. */
export interface AcceptGreedyOptions extends AcceptBuffers {
  /** logits: [K+1, V] f32 target rows. */
  logits: GPUBuffer;
  /** Replayed accept counts [n, a_0, ...] instead of the comparison, or null. */
  replay: GPUBuffer | null;
}

/** Greedy verification of K drafts: longest matching prefix, correction/bonus, rollback. */
export function acceptGreedy(lib: KernelLibrary, o: AcceptGreedyOptions): Dispatch {
  check(o.K >= 1 && o.K <= 16, `acceptGreedy needs 1 <= K <= 16 (K=${o.K})`);
  const pl = lib.pipeline("accept_greedy", "f32", { REPLAY: o.replay ? 1 : 0 });
  return lib.dispatch(
    o.label ?? "accept",
    pl,
    [
      lib.uniform([o.V, o.K, o.stop ?? NEVER, 0]),
      o.targetState,
      o.draftState,
      o.logits,
      o.tokens,
      o.log,
      o.replay ?? lib.zero(),
    ],
    [1],
    meta("accept_greedy", "accept_greedy", o, {
      shape: `${o.K + 1}x${o.V}`,
      bytes: (o.K + 1) * o.V * F32 + 4 * (2 * o.K + 8),
      flops: (o.K + 1) * o.V,
    }),
  );
}

/** Options of {@link acceptSample}. */
export interface AcceptSampleOptions extends AcceptBuffers {
  /** p: [K+1, V] f32 target probabilities; q: [K, V] f32 draft probabilities. */
  p: GPUBuffer;
  q: GPUBuffer;
  seed: number;
  /** 0: Leviathan/Chen; 1 and 2: test rules (kernels/accept_sample.wgsl). */
  rule: number;
}

/** Speculative-sampling verification of K drafts (Leviathan et al. / Chen et al.). */
export function acceptSample(lib: KernelLibrary, o: AcceptSampleOptions): Dispatch {
  return lib.dispatch(
    o.label ?? "accept",
    lib.pipeline("accept_sample"),
    [
      lib.uniform([o.V, o.K, o.seed, o.rule, o.stop ?? NEVER, 0, 0, 0]),
      o.targetState,
      o.draftState,
      o.p,
      o.q,
      o.tokens,
      o.log,
    ],
    [1],
    meta("accept_sample", "accept_sample", o, {
      shape: `${o.K + 1}x${o.V}`,
      bytes: (2 * o.K + 1) * o.V * F32 + 4 * (2 * o.K + 8),
      flops: 2 * (2 * o.K + 1) * o.V,
    }),
  );
}

// ---- synthetic weights and probes ----------------------------------------------------------

/** Options of {@link fill}. */
export interface FillOptions extends OpPlace {
  /** out: count values as f32, packed f16 pairs, or int8 quadruples per u32. */
  out: GPUBuffer;
  count: number;
  type: WeightType;
  seed: number;
  /** Values offset + scale * u, u uniform in [-1, 1) (int8: q in [-127, 127], unused). */
  scale: number;
  offset: number;
  /** Workgroups in x (default: up to 65535; the rest in y). */
  xGroups?: number;
}

/** Seeded random values written on the GPU (synthetic weights). */
export function fill(lib: KernelLibrary, o: FillOptions): Dispatch {
  const perWord = o.type === "int8" ? 4 : o.type === "f16" ? 2 : 1;
  const words = Math.ceil(o.count / perWord);
  check(o.out.size >= words * 4, `fill: ${o.count} values need ${words * 4} bytes`);
  const groups = Math.ceil(words / 256);
  const x = o.xGroups || Math.min(groups, 65535);
  const pl = lib.pipeline("fill", "f32", {
    PACKED: o.type === "int8" ? 2 : o.type === "f16" ? 1 : 0,
  });
  return lib.dispatch(
    o.label ?? "fill",
    pl,
    [lib.uniform([o.count, o.seed, o.scale, o.offset], [2, 3]), o.out],
    [x, Math.ceil(groups / x)],
    meta("fill", "fill", o, {
      shape: `${o.count} ${o.type}`,
      bytes: words * 4,
      flops: 2 * o.count,
    }),
  );
}

/** Options of {@link streamRead}. */
export interface StreamReadOptions extends OpPlace {
  /** src: [bytes / 16] vec4 f32; out: [workgroups * 64] vec4 f32. */
  src: GPUBuffer;
  out: GPUBuffer;
  bytes: number;
  workgroups: number;
  /** FMA rounds per element read (0: a pure read). */
  fma: number;
  /** 0: grid-strided reads; 1: one contiguous run per invocation. */
  layout: 0 | 1;
}

/** The adapter probe of kernels/stream_read.wgsl: streaming read or FMA rate. */
export function streamRead(lib: KernelLibrary, o: StreamReadOptions): Dispatch {
  check(o.bytes % 16 === 0, "streamRead: bytes must be a multiple of 16");
  const n = o.bytes / 16;
  return lib.dispatch(
    o.label ?? "stream_read",
    lib.pipeline("stream_read", "f32", { FMA: o.fma, LAYOUT: o.layout }),
    [lib.uniform([n, 0, 0, 0]), o.src, o.out],
    [o.workgroups],
    meta("stream_read", "stream_read", o, {
      shape: `${o.bytes} bytes`,
      bytes: o.bytes + o.workgroups * 64 * 16,
      flops: n * o.fma * 32,
    }),
  );
}

// ---- token trees (kernels/tree*.wgsl) -------------------------------------------------------

/** Most nodes of a token tree, root included: the ancestor mask is two u32 words. */
