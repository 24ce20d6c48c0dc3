/** layerNorm(s), rotary, kvAppend (fused or not) and attention with its fallback variant. */
import { type Dispatch, type KernelLibrary } from "../../kernels/kernel.ts";
import { MAX_CACHE_ENTRIES } from "../cache_policy.ts";
import { check, F32, meta, type OpPlace } from "./common.ts";

export interface LayerNormOptions extends OpPlace {
  /** x, y: [T, d] f32. */
  x: GPUBuffer;
  y: GPUBuffer;
  /** weight, bias: [d] f32. */
  norm: { weight: GPUBuffer; bias: GPUBuffer };
  T: number;
  d: number;
  eps: number;
}

/** y[t] = (x[t] - mean) / sqrt(var + eps) * weight + bias (biased variance, per row). */
export function layerNorm(lib: KernelLibrary, o: LayerNormOptions): Dispatch {
  const { T, d } = o;
  check(T >= 1 && d >= 1, `layerNorm needs T, d >= 1 (T=${T}, d=${d})`);
  return lib.dispatch(
    o.label ?? "layer_norm",
    lib.pipeline("layernorm"),
    [
      lib.uniform([T, d, o.eps, 0], [2]),
      o.x,
      o.norm.weight,
      o.norm.bias,
      o.y,
    ],
    [T],
    meta("layer_norm", "layernorm", o, {
      shape: `${T}x${d}`,
      bytes: 2 * T * d * F32 + 2 * d * F32,
      flops: 8 * T * d,
    }),
  );
}

/** Options of {@link layerNormPair}. */
export interface LayerNormPairOptions extends OpPlace {
  /** x, y1, y2: [T, d] f32. */
  x: GPUBuffer;
  y1: GPUBuffer;
  y2: GPUBuffer;
  /** The two norms' weight and bias: [d] f32 each. */
  norm1: { weight: GPUBuffer; bias: GPUBuffer };
  norm2: { weight: GPUBuffer; bias: GPUBuffer };
  T: number;
  d: number;
  eps: number;
  /**
   * One invocation per row, no barrier (kernels/layernorm_pair_rows.wgsl; d % 4 == 0), the
   * shape a software adapter runs fastest; default: one workgroup per row.
   */
  rows?: boolean;
  /** The one-workgroup-per-row kernel's invocations (a power of two); default 64. */
  wg?: number;
}

/** Invocations of layernorm_pair's workgroup unless tuned otherwise (lavapipe's). */
export const NORM_WG = 64;

/**
 * Invocations per workgroup of the one-invocation-per-row kernels (layernorm_pair_rows,
 * attention_rows): one 256-bit vector of lavapipe's; 4 and 2 were no faster (PERF.md).
 */
const ROWS_WGS = 8;

/**
 * Both LayerNorms of a parallel-residual block in one dispatch: y1 = ln1(x), y2 = ln2(x), the
 * row statistics computed once (kernels/layernorm_pair.wgsl; same math as {@link layerNorm}).
 */
export function layerNormPair(lib: KernelLibrary, o: LayerNormPairOptions): Dispatch {
  const { T, d } = o;
  check(T >= 1 && d >= 1, `layerNormPair needs T, d >= 1 (T=${T}, d=${d})`);
  check(!o.rows || d % 4 === 0, `layernorm_pair_rows needs d % 4 == 0 (d=${d})`);
  const kernel = o.rows ? "layernorm_pair_rows" : "layernorm_pair";
  return lib.dispatch(
    o.label ?? "layer_norm_pair",
    o.rows
      ? lib.pipeline(kernel, "f32", { WGS: ROWS_WGS })
      : lib.pipeline(kernel, "f32", { WG: o.wg ?? NORM_WG }),
    [
      lib.uniform([T, d, o.eps, 0], [2]),
      o.x,
      o.norm1.weight,
      o.norm1.bias,
      o.y1,
      o.norm2.weight,
      o.norm2.bias,
      o.y2,
    ],
    [o.rows ? Math.ceil(T / ROWS_WGS) : T],
    meta("layer_norm", kernel, o, {
      shape: `${T}x${d} x2`,
      bytes: 3 * T * d * F32 + 4 * d * F32,
      flops: 12 * T * d,
    }),
  );
}

// ---- rotary, KV cache, attention -----------------------------------------------------------

/** Heads of a pass: T tokens, H heads of hd dims, the first rot dims rotated. */
export interface HeadShape {
  T: number;
  H: number;
  hd: number;
  rot: number;
}

/** Options of {@link rotary}. */
export interface RotaryOptions extends OpPlace, HeadShape {
  state: GPUBuffer;
  /** qkv: [T, H, 3*hd] f32 (q, k, v consecutive per head). */
  qkv: GPUBuffer;
  /** cosSin: [C, rot/2, 2] f32 (engine/model.ts rotaryTable). */
  cosSin: GPUBuffer;
  /** q: [T, H, hd] f32, the rotated queries. */
  q: GPUBuffer;
}

/** q = rotate_half rotary of the query slices of qkv, by each query's cache index. */
export function rotary(lib: KernelLibrary, o: RotaryOptions): Dispatch {
  const { T, H, hd, rot } = o;
  check(rot % 2 === 0 && rot <= hd, `rotary needs an even rot <= hd (rot=${rot}, hd=${hd})`);
  return lib.dispatch(
    o.label ?? "rotary",
    lib.pipeline("rotary"),
    [
      lib.uniform([T, H, hd, rot]),
      o.state,
      o.qkv,
      o.cosSin,
      o.q,
    ],
    [Math.ceil(hd / 64), T * H],
    meta("rotary", "rotary", o, {
      shape: `${T}x${H}x${hd} rot ${rot}`,
      bytes: 2 * T * H * hd * F32 + T * rot * F32,
      flops: 3 * T * H * rot,
    }),
  );
}

/** Options of {@link kvAppend}. */
export interface KvAppendOptions extends OpPlace {
  state: GPUBuffer;
  /** qkv: [T, H, 3*hd] f32. */
  qkv: GPUBuffer;
  /** kCache, vCache: [C, H, hd] f32 (keys before rotary). */
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  T: number;
  H: number;
  hd: number;
  /** Cache slots. */
  C: number;
}

/** Appends this pass's keys and values to one layer's cache (sink + ring layout). */
export function kvAppend(lib: KernelLibrary, o: KvAppendOptions): Dispatch {
  const { T, H, hd, C } = o;
  return lib.dispatch(
    o.label ?? "kv_append",
    lib.pipeline("kv_append"),
    [
      lib.uniform([T, H, hd, C]),
      o.state,
      o.qkv,
      o.kCache,
      o.vCache,
    ],
    [Math.ceil(hd / 64), T * H],
    meta("kv_append", "kv_append", o, {
      shape: `${T}x${H}x${hd}`,
      bytes: 4 * T * H * hd * F32,
      flops: 0,
    }),
  );
}

/** Options of {@link rotaryAppend}: {@link rotary}'s and {@link kvAppend}'s. */
export interface RotaryAppendOptions extends RotaryOptions {
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  /** Cache slots. */
  C: number;
}

/**
 * {@link rotary} and {@link kvAppend} in one dispatch (kernels/rotary_append.wgsl): the
 * rotated queries, and this pass's keys (before rotary) and values appended to the cache.
 */
export function rotaryAppend(lib: KernelLibrary, o: RotaryAppendOptions): Dispatch {
  const { T, H, hd, rot, C } = o;
  check(rot % 2 === 0 && rot <= hd, `rotary needs an even rot <= hd (rot=${rot}, hd=${hd})`);
  return lib.dispatch(
    o.label ?? "rotary_append",
    lib.pipeline("rotary_append"),
    [
      lib.uniform([T, H, hd, rot, C, 0, 0, 0]),
      o.state,
      o.qkv,
      o.cosSin,
      o.q,
      o.kCache,
      o.vCache,
    ],
    [Math.ceil(hd / 64), T * H],
    meta("rotary_append", "rotary_append", o, {
      shape: `${T}x${H}x${hd} rot ${rot}`,
      bytes: 2 * T * H * hd * F32 + T * rot * F32 + 4 * T * H * hd * F32,
      flops: 3 * T * H * rot,
    }),
  );
}

/** Largest head dimension of the attention kernels (their `qv` array). */
export const ATTENTION_MAX_HEAD_DIM = 256;

/**
 * Attention kernels: all scores in workgroup memory, tiles of them (online softmax), or one
 * invocation per query and head with no workgroup memory (attention_rows.wgsl; hd and rot
 * multiples of 4), the shape a software adapter runs fastest.
 */
export type AttentionVariant =
  | { variant: "full" }
  | { variant: "tiled"; tile: number }
  | { variant: "rows" }
  | { variant: "split"; lanes: number }
  | { variant: "multi"; lanes: number; tq: number };

/** The kernel a variant runs, with its lanes where it has a choice (for reports). */
export function attentionName(v: AttentionVariant): string {
  switch (v.variant) {
    case "full":
      return "attention";
    case "tiled":
      return `attention_tiled TILE=${v.tile}`;
    case "rows":
      return "attention_rows";
    case "split":
      return `attention_split LANES=${v.lanes}`;
    case "multi":
      return `attention_multi LANES=${v.lanes} TQ=${v.tq}`;
  }
}

/** Whether attention_rows can run heads of hd dims with the first rot rotated. */
export function attentionRowsFits(hd: number, rot: number): boolean {
  return hd % 4 === 0 && rot % 4 === 0;
}

/**
 * Whether attention_split can run heads of hd dims with `lanes` invocations a head: hd and rot
 * multiples of 4, and each invocation's partial output (hd floats), max and sum in workgroup
 * memory.
 */
export function attentionSplitFits(
  hd: number,
  rot: number,
  lanes: number,
  maxWorkgroupBytes: number,
): boolean {
  return attentionRowsFits(hd, rot) && lanes * (hd + 2) * F32 <= maxWorkgroupBytes;
}

/**
 * The largest head attention_multi runs: its per-query loops are unrolled, and lavapipe took 3.3
 * s to compile it for hd 64, 4.1 s for hd 80 (Pythia-2.8B) and 58 s for hd 128 with all dims
 * rotated, at the first load that tunes such heads (PERF.md).
 */
export const ATTENTION_MULTI_MAX_HEAD_DIM = 80;

/**
 * Whether attention_multi can run heads of hd dims with `lanes` invocations over the keys and
 * blocks of `tq` queries: hd and rot multiples of 4, hd at most ATTENTION_MULTI_MAX_HEAD_DIM,
 * and each invocation's partial outputs, maxima and sums of its block's queries in workgroup
 * memory.
 */
export function attentionMultiFits(
  hd: number,
  rot: number,
  lanes: number,
  tq: number,
  maxWorkgroupBytes: number,
): boolean {
  return hd <= ATTENTION_MULTI_MAX_HEAD_DIM &&
    attentionSplitFits(hd, rot, lanes * tq, maxWorkgroupBytes);
}

/** Workgroup bytes of attention.wgsl / attention_tiled.wgsl with `keys` scores held. */
function attentionWorkgroupBytes(keys: number): number {
  // score[keys] + qv[256] + the reduction's red[64]
  return (keys + ATTENTION_MAX_HEAD_DIM + 64) * F32;
}

/**
 * The attention kernel for a device's workgroup memory: all 4096 scores (17 KiB) when they
 * fit, else tiles of the largest power of two of keys that fits (1024 keys at most).
 */
export function attentionChoice(maxWorkgroupBytes: number): AttentionVariant {
  if (attentionWorkgroupBytes(MAX_CACHE_ENTRIES) <= maxWorkgroupBytes) return { variant: "full" };
  let tile = 1024;
  while (tile > 64 && attentionWorkgroupBytes(tile) > maxWorkgroupBytes) tile >>= 1;
  return { variant: "tiled", tile };
}

/**
 * Whether a pass of T tokens with attention `v` rotates and appends in the attention kernel
 * (its `qkv` option) instead of a rotary_append dispatch before it: attention_rows at any T,
 * attention_split at one token (its workgroup per query and head would store the keys of
 * every earlier token of the pass again: tried at T > 1 and slower, PERF.md), attention_multi
 * where the pass is one block of its queries (T <= TQ: a workgroup per head, whose keys no
 * other workgroup reads).
 */
export function appendsInAttention(v: AttentionVariant | undefined, T: number): boolean {
  return v?.variant === "rows" || (v?.variant === "split" && T === 1) ||
    (v?.variant === "multi" && T <= v.tq);
}

/** Options of {@link attention}. */
export interface AttentionOptions extends OpPlace, HeadShape {
  state: GPUBuffer;
  /** q: [T, H, hd] f32, rotated. */
  q: GPUBuffer;
  /** kCache, vCache: [C, H, hd] f32 (keys before rotary). */
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  /** cosSin: [C, rot/2, 2] f32. */
  cosSin: GPUBuffer;
  /** out: [T, H*hd] f32, or rows `outStride` apart (a slice of a wider buffer). */
  out: GPUBuffer;
  outStride?: number;
  /** Cache slots. */
  C: number;
  /** Force a kernel (default: `attentionChoice` of the device's limit). */
  variant?: AttentionVariant;
  /**
   * attention_rows, or attention_split of a one-token pass: the pass's qkv ([T, H, 3*hd]); the
   * kernel then rotates the queries and appends the keys and values itself (no rotary_append
   * dispatch), and `q` is not read.
   */
  qkv?: GPUBuffer;
}

/**
 * Causal attention of T queries over one layer's cache, keys rotated here by their cache
 * index; softmax(q k^T / sqrt(hd)) v per head. Bytes and FLOPs grow by `perCachedEntry` for
 * each entry cached before the pass.
 */
export function attention(lib: KernelLibrary, o: AttentionOptions): Dispatch {
  const { T, H, hd, rot, C } = o;
  check(hd <= ATTENTION_MAX_HEAD_DIM, `attention needs hd <= ${ATTENTION_MAX_HEAD_DIM} (hd=${hd})`);
  const v = o.variant ?? attentionChoice(lib.device.limits.maxComputeWorkgroupStorageSize);
  check(
    v.variant === "full" || v.variant === "tiled" || attentionRowsFits(hd, rot),
    `${attentionName(v)} needs hd and rot multiples of 4 (hd=${hd}, rot=${rot})`,
  );
  const wgBytes = lib.device.limits.maxComputeWorkgroupStorageSize;
  check(
    (v.variant !== "split" || attentionSplitFits(hd, rot, v.lanes, wgBytes)) &&
      (v.variant !== "multi" || attentionMultiFits(hd, rot, v.lanes, v.tq, wgBytes)),
    `${attentionName(v)} does not fit the device's workgroup memory (hd=${hd})`,
  );
  const heads = { HD4: hd / 4, HALF: rot / 2, ROT4: rot / 4 };
  const [kernel, consts]: [string, Record<string, number>] = v.variant === "full"
    ? ["attention", { MAXKEYS: MAX_CACHE_ENTRIES }]
    : v.variant === "tiled"
    ? ["attention_tiled", { MAXKEYS: MAX_CACHE_ENTRIES, TILE: v.tile }]
    : v.variant === "rows"
    ? ["attention_rows", { ...heads, WGS: ROWS_WGS, APPEND: o.qkv ? 1 : 0 }]
    : v.variant === "split"
    ? ["attention_split", { ...heads, LANES: v.lanes, APPEND: o.qkv ? 1 : 0 }]
    : ["attention_multi", { ...heads, LANES: v.lanes, TQ: v.tq, APPEND: o.qkv ? 1 : 0 }];
  check(
    !o.qkv || appendsInAttention(v, T),
    "attention appends only in attention_rows, attention_split of a one-token pass and attention_multi of one block",
  );
  const pl = lib.pipeline(kernel, "f32", consts);
  // Query t sees cacheLen + t + 1 keys; each key costs a rotated dot and a weighted sum.
  const perKey = H * (4 * hd + 3 * rot + 4);
  const perKeyBytes = 2 * H * hd * F32 + rot * F32;
  return lib.dispatch(
    o.label ?? "attention",
    pl,
    [
      lib.uniform([T, H, hd, rot, C, 1 / Math.sqrt(hd), o.outStride ?? 0, 0], [5]),
      o.state,
      o.qkv ?? o.q,
      o.kCache,
      o.vCache,
      o.cosSin,
      o.out,
    ],
    v.variant === "rows"
      ? [Math.ceil((T * H) / ROWS_WGS)]
      : v.variant === "multi"
      ? [H, Math.ceil(T / v.tq)]
      : [H, T],
    meta("attention", kernel, o, {
      // Keys depend on the cache length: the profiler prefixes "Tq x Nk, ".
      shape: `${H}x${hd} rot ${rot}`,
      bytes: T * perKeyBytes + 2 * T * H * hd * F32 + (o.qkv ? 2 * T * H * hd * F32 : 0),
      flops: ((T * (T + 1)) / 2) * perKey + (o.qkv ? 3 * T * H * rot : 0),
      perCachedEntry: { bytes: perKeyBytes, flops: T * perKey },
    }),
  );
}

// ---- token selection and state -------------------------------------------------------------

/** Options of {@link argmax}. */
