/**
 * Token-tree speculation, GPU-resident (SpecInfer / Medusa / EAGLE's tree verification,
 * greedy). One round: the draft proposes a static tree (each node at depth i gets W_i
 * children, its top-W_i tokens) with one draft pass per depth over that depth's nodes under
 * the ancestor mask; the target verifies every node in ONE pass (node u at position
 * prefix + depth(u), attending to the committed window and its ancestors only); the accept
 * kernel walks from the root along the children the target's argmax agrees with, writes the
 * accepted tokens and the correction/bonus token, moves the path's K/V entries into place
 * in both caches (tree_compact) and drops the rest by moving lengths, as the chain does.
 * Rounds are encoded back to back; accept counts are read once per batch of rounds.
 *
 * Layout: nodes in breadth-first order, node 0 the root (the last committed token, at token
 * index base and stream slot P); node u's token sits at tokens[base + u] and its K/V at
 * stream slot P + u until the accept kernel compacts the accepted path to P + 1 .. P + a.
 */
import { gpuIdle, readBuffer, storageBuffer } from "./device.ts";
import { NeoxError } from "./errors.ts";
import {
  encodePrefill,
  type GenerationStats,
  PREFILL_CHUNK,
  SINK_PREFILL_CHUNK,
} from "./generate.ts";
import {
  attendedKeys,
  type CachePolicy,
  checkCachePolicy,
  FULL_CACHE,
  MAX_CACHE_ENTRIES,
  sinkCacheSlots,
} from "./cache_policy.ts";
import { beginPass, type PassHook } from "./hooks.ts";
import {
  advance,
  MAX_TREE_DEPTH,
  MAX_TREE_NODES,
  treeAccept,
  treeAttentionMaxKeys,
  treeCompact,
  treeExpand,
  treeSelect,
  treeStep,
  treeTopK,
} from "./ops.ts";
import type { NeoxModel, Sequence } from "./model.ts";
import { type Dispatch, encodeDispatches } from "../kernels/kernel.ts";
import { checkPair, roundKeys, roundsStats } from "./speculative.ts";

/**
 * A token tree: `parent[u]` and `depth[u]` of each node, breadth-first, root 0. A static tree
 * keeps its shape; a dynamic one (`budget` set) keeps its node count per depth and picks each
 * round, on the GPU, which candidates fill them (parents here are placeholders).
 */
export interface TokenTree {
  /**
   * Static: children per node at each depth, widths[i] for the nodes of depth i. Dynamic:
   * candidates per node at depth i (its top-widths[i] tokens) that compete for depth i + 1.
   */
  widths: number[];
  /** Dynamic trees (`--tree auto --tree-budget N`): N, the nodes a round verifies. */
  budget?: number;
  parent: number[];
  depth: number[];
  /** Nodes of each depth d = 0 .. D: [start, count). */
  levels: { start: number; count: number }[];
}

/** The static tree where each node of depth i has widths[i] children (`--tree 4,2,1`). */
export function staticTree(widths: number[]): TokenTree {
  if (
    widths.length === 0 || widths.length > MAX_TREE_DEPTH ||
    widths.some((w) => !Number.isInteger(w) || w < 1 || w > 16)
  ) {
    throw new NeoxError(
      `--tree needs 1 to ${MAX_TREE_DEPTH} widths, each an integer from 1 to 16, got ${
        widths.join(",")
      }`,
    );
  }
  const parent = [0];
  const depth = [0];
  const levels = [{ start: 0, count: 1 }];
  for (let d = 0; d < widths.length; d++) {
    const prev = levels[d];
    const start = parent.length;
    for (let r = 0; r < prev.count; r++) {
      for (let j = 0; j < widths[d]; j++) {
        parent.push(prev.start + r);
        depth.push(d + 1);
      }
    }
    levels.push({ start, count: parent.length - start });
    if (parent.length > MAX_TREE_NODES) {
      throw new NeoxError(
        `--tree ${widths.join(",")} has ${parent.length - 1}+ nodes: at most ${
          MAX_TREE_NODES - 1
        } fit the ancestor mask`,
      );
    }
  }
  return { widths, parent, depth, levels };
}

/**
 * The dynamic tree of `budget` nodes (EAGLE-2 style, `--tree auto --tree-budget N`): depth
 * D = round(sqrt(N)), N split evenly over the D depths (the remainder to the shallow ones);
 * each round, depth d + 1's nodes are the candidates (a node of depth d and one of its
 * draft's top tokens) of highest cumulative draft log-probability (kernels/tree_select.wgsl).
 */
export function dynamicTree(budget: number): TokenTree {
  if (!Number.isInteger(budget) || budget < 1 || budget > MAX_TREE_NODES - 1) {
    throw new NeoxError(
      `--tree-budget must be an integer from 1 to ${MAX_TREE_NODES - 1}, got ${budget}`,
    );
  }
  const D = Math.min(MAX_TREE_DEPTH, Math.max(1, Math.round(Math.sqrt(budget))));
  const counts = Array.from(
    { length: D },
    (_, d) => Math.floor(budget / D) + (d < budget % D ? 1 : 0),
  );
  const parent = [0];
  const depth = [0];
  const levels = [{ start: 0, count: 1 }];
  counts.forEach((count, d) => {
    levels.push({ start: parent.length, count });
    for (let i = 0; i < count; i++) {
      parent.push(levels[d].start);
      depth.push(d + 1);
    }
  });
  // The best `count` candidates of a depth are among each parent's top `count` tokens.
  const widths = counts.map((c) => Math.min(c, 16));
  return { widths, budget, parent, depth, levels };
}
/**
 * The tree of a spec: static widths `4,2,1` or a dynamic budget `auto:16` (profile's --trees).
 */
export function parseTreeSpec(spec: string): TokenTree {
  const auto = /^auto:(\d+)$/.exec(spec);
  if (auto) return dynamicTree(Number(auto[1]));
  if (!/^\d+(,\d+)*$/.test(spec)) {
    throw new NeoxError(`a tree is widths like 4,2,1 or auto:N, got "${spec}"`);
  }
  return staticTree(spec.split(",").map(Number));
}

/** A tree's name in configuration ids: `4x2x1` or `auto16`. */
export function treeName(tree: TokenTree): string {
  return tree.budget !== undefined ? `auto${tree.budget}` : tree.widths.join("x");
}

/** Nodes of a tree, root excluded (the drafts a round verifies). */
export function treeNodes(tree: TokenTree): number {
  return tree.parent.length - 1;
}

/**
 * The tree buffer's words: per node [depth, parent, ancestor mask lo, hi], then per node its
 * rank among its siblings (kernels/tree.wgsl).
 */
export function treeWords(tree: TokenTree): Uint32Array {
  const N = tree.parent.length;
  const out = new Uint32Array(N * 5);
  const children = new Array(N).fill(0);
  const masks: bigint[] = [];
  for (let u = 0; u < N; u++) {
    const mask = (u === 0 ? 0n : masks[tree.parent[u]]) | (1n << BigInt(u));
    masks.push(mask);
    out[u * 4] = tree.depth[u];
    out[u * 4 + 1] = tree.parent[u];
    out[u * 4 + 2] = Number(mask & 0xffffffffn);
    out[u * 4 + 3] = Number(mask >> 32n);
    if (u > 0) out[N * 4 + u] = children[tree.parent[u]]++;
  }
  return out;
}

/** Options of a token-tree speculative generation (greedy only). */
export interface TreeOptions {
  tree: TokenTree;
  maxNewTokens: number;
  hook?: PassHook;
  /** Read both models' final [cacheLen, tokenPos] into the result's `state` (tests). */
  readState?: boolean;
  /** KV cache policy of both models (default: full). */
  cache?: CachePolicy;
}

/** Result of a token-tree generation. */
export interface TreeResult extends GenerationStats {
  tokens: number[];
  /** Accepted drafts (path depth) per round. */
  rounds: number[];
  /** Accepted nodes of each round, root excluded. */
  paths: number[][];
  /** Sibling rank of each accepted node (0 = the draft's top token), per round. */
  ranks: number[][];
  state?: { target: [number, number]; draft: [number, number] };
}

/** Both models' GPU state for one tree generation. */
class TreeRun {
  readonly target: Sequence;
  readonly draft: Sequence;
  readonly tokens: GPUBuffer;
  readonly treeBuf: GPUBuffer;
  readonly log: GPUBuffer;
  readonly path: GPUBuffer;
  readonly paths: GPUBuffer;
  /** Dynamic trees: cumulative log-probability per node and the candidates of one depth. */
  readonly cum: GPUBuffer | null;
  readonly cand: GPUBuffer | null;
  readonly tree: TokenTree;
  #verify: Dispatch[] | null = null;
  /** Dispatches made once and encoded every round (bind groups are not made per round). */
  #made = new Map<string, Dispatch[]>();

  #once(key: string, make: () => Dispatch[]): Dispatch[] {
    let d = this.#made.get(key);
    if (!d) this.#made.set(key, d = make());
    return d;
  }

  constructor(targetModel: NeoxModel, draftModel: NeoxModel, promptLen: number, o: TreeOptions) {
    const gpu = targetModel.gpu;
    const cache = o.cache ?? FULL_CACHE;
    const tree = this.tree = o.tree;
    const N = tree.parent.length;
    const D = tree.widths.length;
    checkCachePolicy(cache, D);
    const positions = promptLen + o.maxNewTokens + N + 2;
    if (cache.kind === "full" && positions > MAX_CACHE_ENTRIES) {
      throw new NeoxError(
        `prompt (${promptLen} tokens) + ${o.maxNewTokens} new tokens + the tree exceed the full cache limit of ${MAX_CACHE_ENTRIES} positions (use --cache sink)`,
      );
    }
    this.tokens = storageBuffer(gpu, (positions + 1) * 4, "shared tokens");
    this.treeBuf = storageBuffer(gpu, 0, "token tree", treeWords(tree));
    const prefill = cache.kind === "sink" ? SINK_PREFILL_CHUNK : PREFILL_CHUNK;
    const maxT = Math.max(Math.min(prefill, promptLen), N);
    // A tree pass appends N entries and keeps a + 1: a sink cache needs room for both.
    const capacity = cache.kind === "sink" ? sinkCacheSlots(cache, maxT, N) : positions;
    const wgBytes = gpu.device.limits.maxComputeWorkgroupStorageSize;
    const maxKeys = treeAttentionMaxKeys(wgBytes);
    if (capacity > maxKeys) {
      throw new NeoxError(
        `--tree: this adapter's ${wgBytes} bytes of workgroup memory hold ${maxKeys} attention scores; the ${cache.kind} cache needs ${capacity} positions (use --cache sink, or fewer tokens)`,
      );
    }
    const common = { capacity, maxTokens: positions + 1, maxT, tokens: this.tokens, cache };
    this.target = targetModel.newSequence({ ...common, logitsRows: N });
    const widest = Math.max(1, ...tree.levels.slice(1, D).map((l) => l.count));
    this.draft = draftModel.newSequence({ ...common, logitsRows: widest });
    const maxRounds = o.maxNewTokens + 1;
    this.log = storageBuffer(gpu, (maxRounds + 1) * 4, "round log");
    this.path = storageBuffer(gpu, (MAX_TREE_NODES + 2) * 4, "accepted path");
    this.paths = storageBuffer(gpu, maxRounds * MAX_TREE_DEPTH * 4, "accepted paths");
    const dynamic = tree.budget !== undefined;
    this.cum = dynamic
      ? storageBuffer(gpu, MAX_TREE_NODES * 4, "cumulative log-probability")
      : null;
    this.cand = dynamic ? storageBuffer(gpu, 256 * 2 * 4, "tree candidates") : null;
  }

  /** Buffers of this run, for size and release. */
  get #buffers(): GPUBuffer[] {
    return [this.tokens, this.treeBuf, this.log, this.path, this.paths, this.cum, this.cand]
      .filter((b): b is GPUBuffer => b !== null);
  }

  /** The target's verify pass over every node, the accept kernel, both caches' compaction. */
  verifyDispatches(): Dispatch[] {
    if (this.#verify) return this.#verify;
    const { target, draft, tree } = this;
    const lib = target.model.lib;
    const N = tree.parent.length;
    const compact = (seq: Sequence) =>
      seq.kCache.map((kCache, layer) =>
        treeCompact(lib, {
          layer,
          state: seq.state,
          path: this.path,
          kCache,
          vCache: seq.vCache[layer],
          H: seq.model.cfg.numHeads,
          hd: seq.model.cfg.headDim,
          C: seq.opts.capacity,
          maxDepth: tree.widths.length,
        })
      );
    this.#verify = [
      ...target.plan(N, { logits: "all", argmax: false, advance: false, tree: this.treeBuf }),
      treeAccept(lib, {
        targetState: target.state,
        draftState: draft.state,
        logits: target.logits,
        tokens: this.tokens,
        log: this.log,
        tree: this.treeBuf,
        path: this.path,
        paths: this.paths,
        V: target.model.cfg.vocabSize,
        N,
      }),
      ...compact(target),
      ...compact(draft),
    ];
    return this.#verify;
  }

  /**
   * Encodes one round: the draft's root pass (it re-reads the last accepted token with the
   * root), then one tree pass per depth that expands each node into its top-W children;
   * then the target's verify of all nodes and the accept. `cacheLen`: about the keys the root
   * pass attends (its attention kernel is the one measured nearest; the tree passes' attention
   * is not chosen by length).
   */
  encodeRound(
    enc: GPUCommandEncoder,
    first: boolean,
    promptLen: number,
    hook?: PassHook,
    cacheLen?: number,
  ): void {
    const { draft, tree } = this;
    const lib = draft.model.lib;
    const V = draft.model.cfg.vocabSize;
    const D = tree.widths.length;
    const state = draft.state;
    if (first && promptLen > 1) encodePrefill(this.target, promptLen - 1, enc, false);
    if (first && promptLen > 1) encodePrefill(draft, promptLen - 1, enc, false);
    let pass = beginPass(enc, hook, "draft");
    const root = { logits: "last", argmax: false, advance: false, cacheLen } as const;
    if (first) {
      encodeDispatches(pass, draft.plan(1, root));
    } else {
      encodeDispatches(pass, draft.plan(2, root));
      encodeDispatches(pass, this.#once("advance", () => [advance(lib, { state, T: 1 })]));
    }
    const expand = (d: number): Dispatch[] => this.#once(`expand ${d}`, () => expandAt(d));
    const expandAt = (d: number): Dispatch[] => {
      const rows = tree.levels[d].count;
      const childStart = tree.levels[d + 1].start;
      if (!this.cum || !this.cand) {
        return [
          treeExpand(lib, {
            state,
            logits: draft.logits,
            tokens: this.tokens,
            V,
            rows,
            W: tree.widths[d],
            childStart,
          }),
        ];
      }
      const K = tree.widths[d];
      const parentStart = tree.levels[d].start;
      return [
        treeTopK(lib, {
          logits: draft.logits,
          cum: this.cum,
          cand: this.cand,
          V,
          rows,
          K,
          parentStart,
        }),
        treeSelect(lib, {
          state,
          cand: this.cand,
          tokens: this.tokens,
          tree: this.treeBuf,
          cum: this.cum,
          K,
          rows,
          count: tree.levels[d + 1].count,
          childStart,
          parentStart,
          depth: d + 1,
          N: tree.parent.length,
        }),
      ];
    };
    encodeDispatches(pass, expand(0));
    pass.end();
    for (let d = 1; d < D; d++) {
      const { start, count } = tree.levels[d];
      pass = beginPass(enc, hook, "draft");
      encodeDispatches(
        pass,
        this.#once(`step ${d}`, () => [treeStep(lib, { state, first: start })]),
      );
      encodeDispatches(
        pass,
        draft.plan(count, { logits: "all", argmax: false, advance: false, tree: this.treeBuf }),
      );
      encodeDispatches(pass, expand(d));
      pass.end();
    }
    pass = beginPass(enc, hook, "verify");
    encodeDispatches(pass, this.verifyDispatches());
    pass.end();
  }

  get bytes(): number {
    return this.#buffers.reduce(
      (sum, b) => sum + b.size,
      this.target.bytes + this.draft.bytes,
    );
  }

  destroy(): void {
    this.target.destroy();
    this.draft.destroy();
    for (const b of this.#buffers) b.destroy();
  }
}

/**
 * Token-tree speculative decoding, greedy: output token-identical to the target's greedy
 * output for every tree shape and cache policy.
 */
export async function treeGenerate(
  target: NeoxModel,
  draft: NeoxModel,
  ids: number[],
  o: TreeOptions,
): Promise<TreeResult> {
  checkPair(target, draft);
  const gpu = target.gpu;
  const D = o.tree.widths.length;
  const run = new TreeRun(target, draft, ids.length, o);
  const waits0 = gpu.waits.count;
  try {
    run.target.writeTokens(ids);
    run.target.setState(0, 0);
    run.draft.setState(0, 0);
    gpu.device.queue.writeBuffer(run.log, 0, new Uint32Array([0]));
    const t0 = performance.now();
    const cache = o.cache ?? FULL_CACHE;
    let enc = gpu.device.createCommandEncoder();
    run.encodeRound(enc, true, ids.length, o.hook, attendedKeys(cache, ids.length));
    gpu.device.queue.submit([enc.finish()]);
    await gpuIdle(gpu);
    const t1 = performance.now();
    let accepted = new Uint32Array(await readBuffer(gpu, run.log, 0, 8));
    let produced = accepted[1] + 1;
    let roundsDone = 1;
    while (produced < o.maxNewTokens) {
      // Each round yields at most D+1 tokens, so this many rounds cannot pass the goal.
      const batch = Math.ceil((o.maxNewTokens - produced) / (D + 1));
      enc = gpu.device.createCommandEncoder();
      // The root pass's keys: its two tokens on what the batch's earlier rounds leave.
      const batchAt = { promptLen: ids.length, produced, rounds: roundsDone, most: D + 1 };
      for (let i = 0; i < batch; i++) {
        run.encodeRound(enc, false, ids.length, o.hook, roundKeys(cache, batchAt, i, 2));
      }
      gpu.device.queue.submit([enc.finish()]);
      roundsDone += batch;
      accepted = new Uint32Array(await readBuffer(gpu, run.log, 0, (roundsDone + 1) * 4));
      produced = 0;
      for (let r = 0; r < roundsDone; r++) produced += accepted[1 + r] + 1;
    }
    const out = new Uint32Array(
      await readBuffer(gpu, run.tokens, ids.length * 4, o.maxNewTokens * 4),
    );
    const t2 = performance.now();
    const rounds = Array.from(accepted.subarray(1, 1 + roundsDone));
    const pathWords = new Uint32Array(
      await readBuffer(gpu, run.paths, 0, roundsDone * MAX_TREE_DEPTH * 4),
    );
    const logged = (r: number, a: number) =>
      Array.from(pathWords.subarray(r * MAX_TREE_DEPTH, r * MAX_TREE_DEPTH + a));
    // Each logged word is node | sibling rank << 16 (kernels/tree_accept.wgsl).
    const paths = rounds.map((a, r) => logged(r, a).map((w) => w & 0xffff));
    const ranks = rounds.map((a, r) => logged(r, a).map((w) => w >>> 16));
    return {
      tokens: Array.from(out),
      rounds,
      paths,
      ranks,
      ...(await roundsStats(gpu, run, { ...o, ids, rounds, t0, t1, t2, waits0 })),
    };
  } finally {
    run.destroy();
  }
}

/** Per-round metrics of a tree run: what `generate --json` reports beside `rounds`. */
export interface TreeMetrics {
  /** Draft nodes the target verifies per round (root excluded). */
  nodesPerVerify: number;
  /** Rounds whose accepted path had depth 0, 1, .., D. */
  acceptedDepthHistogram: number[];
  /** P(depth i accepted | depth i-1 accepted), i = 1 .. D. */
  perDepthAcceptance: number[];
  /**
   * Accepted nodes by their draft rank among their siblings (0 = the draft's top token), per
   * depth: how often the target's token was the draft's 2nd, 3rd, .. candidate.
   */
  acceptedRankByDepth: number[][];
  meanTokensPerRound: number;
}

/** Metrics of a finished tree run from its accepted depths and sibling ranks per round. */
export function treeMetrics(
  tree: TokenTree,
  rounds: number[],
  ranksPerRound: number[][],
): TreeMetrics {
  const D = tree.widths.length;
  const hist = new Array(D + 1).fill(0);
  for (const a of rounds) hist[a]++;
  const reached = (i: number) => rounds.filter((a) => a >= i).length;
  const perDepth = [];
  for (let i = 1; i <= D; i++) perDepth.push(reached(i - 1) ? reached(i) / reached(i - 1) : 0);
  const ranks = tree.widths.map((w) => new Array(w).fill(0));
  for (const path of ranksPerRound) path.forEach((rank, i) => ranks[i][rank]++);
  const emitted = rounds.reduce((s, a) => s + a + 1, 0);
  return {
    nodesPerVerify: treeNodes(tree),
    acceptedDepthHistogram: hist,
    perDepthAcceptance: perDepth,
    acceptedRankByDepth: ranks,
    meanTokensPerRound: rounds.length ? emitted / rounds.length : 0,
  };
}
