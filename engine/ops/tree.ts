/**
 * Token-tree ops: tree rotary and attention under an ancestor mask, expand, top-k, select,
 * accept, compact.
 */
import { type Dispatch, type KernelLibrary } from "../../kernels/kernel.ts";
import { MAX_CACHE_ENTRIES } from "../cache_policy.ts";
import { ATTENTION_MAX_HEAD_DIM, type AttentionOptions, type RotaryOptions } from "./attention.ts";
import { check, F32, meta, type OpPlace } from "./common.ts";

export const MAX_TREE_NODES = 64;
/** Deepest accepted path a round logs (kernels/tree_accept.wgsl MAX_DEPTH). */
export const MAX_TREE_DEPTH = 16;

/** Options of {@link treeRotary}: {@link rotary}'s plus the tree. */
export interface TreeRotaryOptions extends RotaryOptions {
  /** tree: [nodes, 4] u32 [depth, parent, mask lo, mask hi] (kernels/tree.wgsl). */
  tree: GPUBuffer;
}

/** Rotary of a tree pass: each node's query by the cache index of prefix + its depth. */
export function treeRotary(lib: KernelLibrary, o: TreeRotaryOptions): Dispatch {
  const { T, H, hd, rot } = o;
  check(rot % 2 === 0 && rot <= hd, `treeRotary needs an even rot <= hd (rot=${rot}, hd=${hd})`);
  check(T <= MAX_TREE_NODES, `treeRotary needs T <= ${MAX_TREE_NODES} (T=${T})`);
  return lib.dispatch(
    o.label ?? "rotary",
    lib.pipeline("tree_rotary"),
    [lib.uniform([T, H, hd, rot]), o.state, o.qkv, o.cosSin, o.q, o.tree],
    [Math.ceil(hd / 64), T * H],
    meta("rotary", "tree_rotary", o, {
      shape: `${T}x${H}x${hd} rot ${rot}`,
      bytes: 2 * T * H * hd * F32 + T * rot * F32 + T * 16,
      flops: 3 * T * H * rot,
    }),
  );
}

/** Options of {@link treeAttention}: {@link attention}'s plus the tree. */
export interface TreeAttentionOptions extends Omit<AttentionOptions, "variant"> {
  /** tree: [nodes, 4] u32 (kernels/tree.wgsl). */
  tree: GPUBuffer;
  /** Depth of the deepest node (for the cost estimate). */
  maxDepth?: number;
  /** Scores held in workgroup memory (default: {@link treeAttentionMaxKeys} of the device). */
  maxKeys?: number;
}

/**
 * Keys a tree-attention workgroup can hold in `maxWorkgroupBytes`: 4096 (all of
 * MAX_CACHE_ENTRIES, 17.3 KiB) where it fits, else the largest power of two that does (2048 at
 * WebGPU's default 16 KiB). A tree pass needs its cache capacity C within it: the engine
 * refuses larger full caches there (a sink cache keeps C small).
 */
export function treeAttentionMaxKeys(maxWorkgroupBytes: number): number {
  // score[keys] + qv[256] + ancSlot[MAX_TREE_NODES] + the reduction's red[64], f32 / u32
  const bytes = (keys: number) => (keys + ATTENTION_MAX_HEAD_DIM + MAX_TREE_NODES + 64) * F32;
  let keys = MAX_CACHE_ENTRIES;
  while (keys > 64 && bytes(keys) > maxWorkgroupBytes) keys >>= 1;
  return keys;
}

/**
 * Attention of a tree pass: node u sees the committed window of stream position P + depth(u)
 * and its ancestors (ancestor mask), never its siblings; all scores in workgroup memory.
 */
export function treeAttention(lib: KernelLibrary, o: TreeAttentionOptions): Dispatch {
  const { T, H, hd, rot, C } = o;
  check(hd <= ATTENTION_MAX_HEAD_DIM, `attention needs hd <= ${ATTENTION_MAX_HEAD_DIM} (hd=${hd})`);
  check(T <= MAX_TREE_NODES, `treeAttention needs T <= ${MAX_TREE_NODES} (T=${T})`);
  const maxKeys = o.maxKeys ??
    treeAttentionMaxKeys(lib.device.limits.maxComputeWorkgroupStorageSize);
  // Scores past maxKeys would be cut off silently: the cache must fit whole.
  check(C <= maxKeys, `treeAttention holds ${maxKeys} keys, the cache has ${C} (C)`);
  const perKey = H * (4 * hd + 3 * rot + 4);
  const perKeyBytes = 2 * H * hd * F32 + rot * F32;
  const depth = o.maxDepth ?? T - 1;
  return lib.dispatch(
    o.label ?? "attention",
    lib.pipeline("tree_attention", "f32", { MAXKEYS: maxKeys }),
    [
      lib.uniform([T, H, hd, rot, C, 1 / Math.sqrt(hd), o.outStride ?? 0, 0], [5]),
      o.state,
      o.q,
      o.kCache,
      o.vCache,
      o.cosSin,
      o.out,
      o.tree,
    ],
    [H, T],
    meta("attention", "tree_attention", o, {
      shape: `${H}x${hd} rot ${rot} tree`,
      bytes: T * perKeyBytes + 2 * T * H * hd * F32,
      flops: T * (depth / 2 + 1) * perKey,
      perCachedEntry: { bytes: perKeyBytes, flops: T * perKey },
    }),
  );
}

/** Options of {@link treeExpand}. */
export interface TreeExpandOptions extends OpPlace {
  state: GPUBuffer;
  /** logits: [rows, V] f32, one row per node of the depth being expanded. */
  logits: GPUBuffer;
  tokens: GPUBuffer;
  V: number;
  rows: number;
  /** Children per node (1..16). */
  W: number;
  /** Node index of the first child (row r's children are childStart + r*W ..). */
  childStart: number;
}

/** Static tree, draft side: the top-W tokens of each row become that node's children. */
export function treeExpand(lib: KernelLibrary, o: TreeExpandOptions): Dispatch {
  check(o.W >= 1 && o.W <= 16, `treeExpand needs 1 <= W <= 16 (W=${o.W})`);
  return lib.dispatch(
    o.label ?? "tree_expand",
    lib.pipeline("tree_expand"),
    [lib.uniform([o.V, o.W, o.childStart, 0]), o.state, o.logits, o.tokens],
    [o.rows],
    meta("tree_expand", "tree_expand", o, {
      shape: `${o.rows}x${o.V} top ${o.W}`,
      bytes: o.rows * (o.V * F32 + o.W * 4),
      flops: o.rows * o.W * o.V,
    }),
  );
}

/** Options of {@link treeTopK}. */
export interface TreeTopKOptions extends OpPlace {
  /** logits: [rows, V] f32, one row per node of the depth being expanded. */
  logits: GPUBuffer;
  /** cum: [MAX_TREE_NODES] f32 cumulative log-probability per node (cum[0] = 0). */
  cum: GPUBuffer;
  /** cand: [rows, K, 2] u32 (token, f32 score bits). */
  cand: GPUBuffer;
  V: number;
  rows: number;
  /** Candidates per row (1..16). */
  K: number;
  /** Node of logits row 0. */
  parentStart: number;
}

/** Dynamic tree, draft side: each row's top-K tokens scored by cumulative log-probability. */
export function treeTopK(lib: KernelLibrary, o: TreeTopKOptions): Dispatch {
  check(o.K >= 1 && o.K <= 16, `treeTopK needs 1 <= K <= 16 (K=${o.K})`);
  return lib.dispatch(
    o.label ?? "tree_topk",
    lib.pipeline("tree_topk"),
    [lib.uniform([o.V, o.K, o.parentStart, 0]), o.logits, o.cum, o.cand],
    [o.rows],
    meta("tree_expand", "tree_topk", o, {
      shape: `${o.rows}x${o.V} top ${o.K}`,
      bytes: o.rows * (o.V * F32 + o.K * 8),
      flops: o.rows * (o.K + 3) * o.V,
    }),
  );
}

/** Options of {@link treeSelect}. */
export interface TreeSelectOptions extends OpPlace {
  state: GPUBuffer;
  cand: GPUBuffer;
  tokens: GPUBuffer;
  /** tree: [N, 4] u32 then [N] u32 sibling ranks (kernels/tree.wgsl), rewritten per depth. */
  tree: GPUBuffer;
  cum: GPUBuffer;
  K: number;
  rows: number;
  /** Nodes kept for the next depth. */
  count: number;
  childStart: number;
  parentStart: number;
  /** Depth of the kept nodes. */
  depth: number;
  /** Nodes of the tree, root included. */
  N: number;
}

/** Dynamic tree: the next depth's nodes are the candidates of highest cumulative log-probability. */
export function treeSelect(lib: KernelLibrary, o: TreeSelectOptions): Dispatch {
  check(o.rows * o.K <= 256, `treeSelect needs rows*K <= 256 (${o.rows}x${o.K})`);
  check(o.count <= o.rows * o.K, `treeSelect keeps at most rows*K nodes (${o.count})`);
  check(o.N <= MAX_TREE_NODES, `treeSelect needs N <= ${MAX_TREE_NODES}`);
  return lib.dispatch(
    o.label ?? "tree_select",
    lib.pipeline("tree_select"),
    [
      lib.uniform([o.K, o.rows, o.count, o.childStart, o.parentStart, o.depth, o.N, 0]),
      o.state,
      o.cand,
      o.tokens,
      o.tree,
      o.cum,
    ],
    [1],
    meta("tree_expand", "tree_select", o, {
      shape: `${o.rows}x${o.K} keep ${o.count}`,
      bytes: o.rows * o.K * 8 + o.count * 28,
      flops: o.count * o.rows * o.K,
    }),
  );
}

/** Options of {@link treeStep}. */
export interface TreeStepOptions extends OpPlace {
  state: GPUBuffer;
  /** First node of the next tree pass. */
  first: number;
}

/** Points a sequence's state at the tree pass over nodes [first, ...). */
export function treeStep(lib: KernelLibrary, o: TreeStepOptions): Dispatch {
  return lib.dispatch(
    o.label ?? "tree_step",
    lib.pipeline("tree_step"),
    [lib.uniform([o.first, 0, 0, 0]), o.state],
    [1],
    meta("tree_step", "tree_step", o, { shape: "state", bytes: 24, flops: 4 }),
  );
}

/** Options of {@link treeAccept}. */
export interface TreeAcceptOptions extends OpPlace {
  targetState: GPUBuffer;
  draftState: GPUBuffer;
  /** logits: [N, V] f32 target rows of the tree's nodes. */
  logits: GPUBuffer;
  tokens: GPUBuffer;
  /** Round log [rounds, accepted_0, ...] u32. */
  log: GPUBuffer;
  tree: GPUBuffer;
  /** path: [a, P, n_1 .. n_a] u32, read by {@link treeCompact}. */
  path: GPUBuffer;
  /** paths: [rounds, MAX_TREE_DEPTH] u32, each round's accepted nodes (metrics). */
  paths: GPUBuffer;
  V: number;
  /** Nodes, root included. */
  N: number;
}

/** Greedy verification of a tree: the longest path the target agrees with, then commit. */
export function treeAccept(lib: KernelLibrary, o: TreeAcceptOptions): Dispatch {
  check(o.N >= 2 && o.N <= MAX_TREE_NODES, `treeAccept needs 2 <= N <= ${MAX_TREE_NODES}`);
  return lib.dispatch(
    o.label ?? "accept",
    lib.pipeline("tree_accept"),
    [
      lib.uniform([o.V, o.N, 0, 0]),
      o.targetState,
      o.draftState,
      o.logits,
      o.tokens,
      o.log,
      o.tree,
      o.path,
      o.paths,
    ],
    [1],
    meta("tree_accept", "tree_accept", o, {
      shape: `${o.N}x${o.V}`,
      bytes: o.N * o.V * F32 + o.N * 20,
      flops: o.N * o.V,
    }),
  );
}

/** Options of {@link treeCompact}. */
export interface TreeCompactOptions extends OpPlace {
  state: GPUBuffer;
  path: GPUBuffer;
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  H: number;
  hd: number;
  C: number;
  /** Longest path (for the cost estimate). */
  maxDepth: number;
}

/** Copies the accepted path's K/V entries of one layer to the slots after the prefix. */
export function treeCompact(lib: KernelLibrary, o: TreeCompactOptions): Dispatch {
  const HD = o.H * o.hd;
  return lib.dispatch(
    o.label ?? "tree_compact",
    lib.pipeline("tree_compact"),
    [lib.uniform([HD, o.C, 0, 0]), o.state, o.path, o.kCache, o.vCache],
    [Math.ceil(HD / 64)],
    meta("tree_compact", "tree_compact", o, {
      shape: `${o.maxDepth}x${o.H}x${o.hd}`,
      bytes: 4 * o.maxDepth * HD * F32,
      flops: 0,
    }),
  );
}
