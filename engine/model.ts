/**
 * The GPT-NeoX model on the GPU: weights named after their Hugging Face tensors, one
 * forward pass as a fixed list of dispatches over a `Sequence` (KV cache + token and state
 * buffers). Cache length and token position live in a GPU state buffer, so passes can be
 * replayed step after step with no CPU round trip.
 */
import { NeoxError } from "./errors.ts";
import { type Gpu, storageBuffer } from "./device.ts";
import type { NeoxConfig } from "./config.ts";
import { type Dispatch, KernelLibrary } from "../kernels/kernel.ts";
import {
  type DeviceProfile,
  nearestTuneLength,
  oneTokenMatmulT,
  tunedArgmaxWg,
  tunedAttention,
  tunedChoice,
  tunedFused,
  tunedNorm,
} from "./autotune.ts";
import { cacheMarks, type CachePolicy, MAX_CACHE_ENTRIES } from "./cache_policy.ts";
import {
  advance,
  appendsInAttention,
  argmax,
  attention,
  decodeLayer,
  decodeLayerFits,
  decodeLayerSplit,
  embedding,
  kvAppend,
  layerNorm,
  layerNormPair,
  type Linear,
  linear,
  type LinearOptions,
  type MatmulChoice,
  MAX_LAYER_GROUPS,
  rotaryAppend,
  treeAttention,
  treeRotary,
} from "./ops.ts";

export type { Linear } from "./ops.ts";

/** A LayerNorm's weight and bias: [d] f32 each. */
export interface LayerNormWeights {
  weight: GPUBuffer;
  bias: GPUBuffer;
}

/** One transformer block, fields named after `gpt_neox.layers.{i}.*`. */
export interface Layer {
  inputLayernorm: LayerNormWeights;
  postAttentionLayernorm: LayerNormWeights;
  /** attention.query_key_value: [3d, d] */
  queryKeyValue: Linear;
  /** attention.dense: [d, d] */
  dense: Linear;
  /** mlp.dense_h_to_4h: [ff, d] */
  denseHTo4h: Linear;
  /** mlp.dense_4h_to_h: [d, ff] */
  dense4hToH: Linear;
  /**
   * Parallel residual only, optional: attention.dense and mlp.dense_4h_to_h side by side,
   * [d, d + ff] with bias b_dense + b_4h_to_h, so x += [attn | gelu(..)] W^T is one matmul
   * (engine/load.ts makes it for small f16 checkpoints and their int8 quantizations; the two
   * above stay for the rest).
   */
  denseOut?: Linear;
}

/** A layer's matrices, by field name. */
export type LayerMatrix = "queryKeyValue" | "dense" | "denseHTo4h" | "dense4hToH" | "denseOut";

/**
 * The epilogue a layer matrix runs with in every pass (its bias comes with the matrix): the
 * activation after the mlp's first matmul, the residual add into x after the projections.
 * The passes (NeoxModel.buildPass) and the tuner (engine/load.ts) both take it from here: the
 * kernels compile it in as a constant, so the tuner times the pipelines the passes run.
 */
export function layerEpilogue(
  cfg: NeoxConfig,
  which: LayerMatrix,
): Pick<LinearOptions, "act" | "accumulate"> {
  if (which === "queryKeyValue") return {};
  if (which === "denseHTo4h") return { act: cfg.activation };
  return { accumulate: true };
}

/** All weights of a model on the GPU. */
export interface Weights {
  /** gpt_neox.embed_in: [V, d] */
  embedIn: Linear;
  layers: Layer[];
  /** gpt_neox.final_layer_norm */
  finalLayerNorm: LayerNormWeights;
  /** embed_out: [V, d] */
  embedOut: Linear;
}

/** What a pass leaves behind after its last layer. */
export interface PassOptions {
  /** "none": no logits; "last": logits of the last token; "all": logits of every token. */
  logits: "none" | "last" | "all";
  /** Write argmax of the last logits row to tokens[tokenPos + T]. */
  argmax: boolean;
  /** Commit the pass: cacheLen += T, tokenPos += T. */
  advance: boolean;
  /**
   * A tree pass (token-tree speculation): queries attend by the ancestor mask of this
   * [nodes, 4] u32 buffer (kernels/tree.wgsl) and are rotated by their depth.
   */
  tree?: GPUBuffer;
  /**
   * The keys the pass attends (cache length + T, or the sink cache's window), where the caller
   * knows it (plain decoding) or about (a speculative round, from the tokens produced before
   * its batch). It picks the attention kernel and the one-token pass's form measured at the
   * nearest tuned length (engine/autotune.ts tunedAttention, tunedFused); without it, those
   * measured over all of them.
   */
  cacheLen?: number;
  /**
   * One-token passes layer by layer: run the matmul choices of this token bucket (the tuner's
   * whole-pass comparison, engine/autotune.ts tuneFused; default: the profile's measured one).
   */
  matmulT?: number;
}

/** Capacity of a sequence's buffers. */
export interface SequenceOptions {
  /** KV cache slots (a sink cache needs room beyond its size: `sinkCacheSlots`). */
  capacity: number;
  /** Which entries the cache keeps (default: the full cache, every position up to capacity). */
  cache?: CachePolicy;
  /** Length of the token buffer (prompt + generated + slack). */
  maxTokens: number;
  /** Largest number of tokens in one pass. */
  maxT: number;
  /** Rows of the logits buffer: passes with `logits: "all"` need T rows (default 1). */
  logitsRows?: number;
  /** Share this token buffer (speculative decoding: draft and target read the same tokens). */
  tokens?: GPUBuffer;
}

/**
 * State buffer layout, u32 words: [0] cacheLen counts the entries appended so far (a token's
 * stream position; a sink cache keeps only the policy's view of them), [1] tokenPos, [2] the
 * first node of a tree pass (kernels/tree.wgsl; 0 outside token-tree speculation); the
 * cache policy words below are read by kernels/sink_window.wgsl (high = 0: full cache).
 * Spare words are used by generation loops.
 */
const STATE_SINKS = 13;
const STATE_HIGH = 14;
const STATE_LOW = 15;
const STATE_WORDS = 16;

/**
 * One generation's GPU state: per-layer KV caches [capacity, H, hd] (keys before rotary),
 * the token buffer, the state buffer [cacheLen, tokenPos, ...] and activation scratch.
 */
export class Sequence {
  readonly model: NeoxModel;
  readonly opts: SequenceOptions;
  readonly kCache: GPUBuffer[];
  readonly vCache: GPUBuffer[];
  readonly state: GPUBuffer;
  readonly tokens: GPUBuffer;
  /** cos/sin of every cache slot: [capacity, rot/2, 2] f32 */
  readonly cosSin: GPUBuffer;
  readonly x: GPUBuffer; // [maxT, d] residual stream
  readonly h1: GPUBuffer; // [maxT, d] ln1 out, later attention out
  readonly h2: GPUBuffer; // [maxT, d] ln2 out
  readonly qkv: GPUBuffer; // [maxT, 3d]
  readonly q: GPUBuffer; // [maxT, d] rotated queries
  readonly ff: GPUBuffer; // [maxT, ff]
  readonly af: GPUBuffer; // [maxT, d + ff] attention out | mlp hidden (Layer.denseOut's input)
  /** A split one-token pass (decode_layer_split): the x of odd layers, and two part buffers. */
  readonly xAlt: GPUBuffer;
  readonly parts: [GPUBuffer, GPUBuffer];
  readonly logits: GPUBuffer; // [maxT or 1, V]
  readonly kvBytes: number;
  /** Bytes of all of this sequence's GPU buffers (KV cache, state, tokens, scratch). */
  readonly bytes: number;
  #plans = new Map<string, Dispatch[]>();

  constructor(model: NeoxModel, opts: SequenceOptions) {
    this.model = model;
    this.opts = opts;
    const { cfg, gpu } = model;
    const d = cfg.hiddenSize;
    const entryBytes = cfg.numHeads * cfg.headDim * 4;
    const marks = cacheMarks(opts.cache ?? { kind: "full" });
    if (marks.high === 0 && opts.capacity > MAX_CACHE_ENTRIES) {
      throw new NeoxError(
        `cache capacity ${opts.capacity} exceeds the attention kernel's ${MAX_CACHE_ENTRIES}`,
      );
    }
    if (marks.high > 0 && opts.capacity < marks.high + opts.maxT - 1) {
      throw new NeoxError(
        `sink cache of ${marks.high} entries needs ${
          marks.high + opts.maxT - 1
        } slots for passes of ${opts.maxT} tokens, got ${opts.capacity}`,
      );
    }
    this.kCache = [];
    this.vCache = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      this.kCache.push(storageBuffer(gpu, opts.capacity * entryBytes, `k cache ${l}`));
      this.vCache.push(storageBuffer(gpu, opts.capacity * entryBytes, `v cache ${l}`));
    }
    this.kvBytes = 2 * cfg.numLayers * opts.capacity * entryBytes;
    const state = new Uint32Array(STATE_WORDS);
    state[STATE_SINKS] = marks.sinks;
    state[STATE_HIGH] = marks.high;
    state[STATE_LOW] = marks.low;
    this.state = storageBuffer(gpu, 0, "state", state);
    this.tokens = opts.tokens ?? storageBuffer(gpu, opts.maxTokens * 4, "tokens");
    this.cosSin = storageBuffer(gpu, 0, "cos/sin", rotaryTable(cfg, opts.capacity));
    const T = opts.maxT;
    this.x = storageBuffer(gpu, T * d * 4, "x");
    this.h1 = storageBuffer(gpu, T * d * 4, "h1");
    this.h2 = storageBuffer(gpu, T * d * 4, "h2");
    this.qkv = storageBuffer(gpu, T * 3 * d * 4, "qkv");
    this.q = storageBuffer(gpu, T * d * 4, "q");
    this.ff = storageBuffer(gpu, T * cfg.intermediateSize * 4, "ff");
    const fused = model.weights.layers.some((l) => l.denseOut);
    this.af = storageBuffer(gpu, fused ? T * (d + cfg.intermediateSize) * 4 : 4, "af");
    const split = fused ? MAX_LAYER_GROUPS * d * 4 : 4;
    this.xAlt = storageBuffer(gpu, fused ? d * 4 : 4, "x alt");
    this.parts = [storageBuffer(gpu, split, "parts 0"), storageBuffer(gpu, split, "parts 1")];
    this.logits = storageBuffer(
      gpu,
      (opts.logitsRows ?? 1) * cfg.vocabSize * 4,
      "logits",
    );
    this.bytes = this.#owned().reduce((sum, b) => sum + b.size, 0);
  }

  /** The buffers this sequence allocated (a shared token buffer belongs to its owner). */
  #owned(): GPUBuffer[] {
    return [
      ...this.kCache,
      ...this.vCache,
      ...(this.opts.tokens ? [] : [this.tokens]),
      this.state,
      this.cosSin,
      this.x,
      this.h1,
      this.h2,
      this.qkv,
      this.q,
      this.ff,
      this.af,
      this.xAlt,
      ...this.parts,
      this.logits,
    ];
  }

  /** Sets cacheLen and tokenPos (queued; takes effect before later submitted work). */
  setState(cacheLen: number, tokenPos: number): void {
    this.model.gpu.device.queue.writeBuffer(this.state, 0, new Uint32Array([cacheLen, tokenPos]));
  }

  /** Writes token ids into the token buffer at `at`. */
  writeTokens(ids: number[], at = 0): void {
    this.model.gpu.device.queue.writeBuffer(this.tokens, at * 4, new Uint32Array(ids));
  }

  /** The dispatches of one pass of T tokens, built once per (T, options). */
  plan(T: number, o: PassOptions): Dispatch[] {
    const len = o.cacheLen !== undefined ? nearestTuneLength(o.cacheLen) : "";
    const key = `${T}|${o.logits}|${o.argmax}|${o.advance}|${o.tree?.label ?? ""}|${len}`;
    let p = this.#plans.get(key);
    if (!p) {
      if (T > this.opts.maxT) throw new Error(`pass of ${T} tokens exceeds maxT ${this.opts.maxT}`);
      if (o.logits === "all" && T > (this.opts.logitsRows ?? 1)) {
        throw new Error(`logits buffer has ${this.opts.logitsRows ?? 1} rows, pass needs ${T}`);
      }
      p = this.model.buildPass(this, T, o);
      this.#plans.set(key, p);
    }
    return p;
  }

  /** Frees the GPU buffers. */
  destroy(): void {
    for (const b of this.#owned()) b.destroy();
  }
}

/** cos/sin(p * inv_freq_i) for p < positions, computed in float32 as transformers does. */
export function rotaryTable(cfg: NeoxConfig, positions: number): Float32Array {
  const half = cfg.rotaryDims / 2;
  const out = new Float32Array(Math.max(1, positions * half * 2));
  const f = Math.fround;
  const invFreq: number[] = [];
  for (let i = 0; i < half; i++) {
    invFreq.push(f(1 / f(Math.pow(cfg.rotaryBase, f((2 * i) / cfg.rotaryDims)))));
  }
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const a = f(p * invFreq[i]);
      out[(p * half + i) * 2] = Math.cos(a);
      out[(p * half + i) * 2 + 1] = Math.sin(a);
    }
  }
  return out;
}

/** A GPT-NeoX model whose weights live on the GPU. */
export class NeoxModel {
  readonly gpu: Gpu;
  readonly cfg: NeoxConfig;
  readonly lib: KernelLibrary;
  readonly weights: Weights;
  /** Where the weights came from: a folder or `synthetic:pythia-70m`. */
  readonly source: string;
  /** Bytes of all weights on the GPU. */
  readonly weightBytes: number;
  readonly params: number;
  /** Use the naive kernels (the oracles) instead of the tiled ones. */
  naive = false;
  /**
   * Measured matmul choices of this adapter (engine/autotune.ts; set by loadModel), or null
   * for the deterministic rule of ops.ts matmulChoice.
   */
  profile: DeviceProfile | null = null;

  constructor(gpu: Gpu, cfg: NeoxConfig, weights: Weights, source: string, lib?: KernelLibrary) {
    this.gpu = gpu;
    this.cfg = cfg;
    this.weights = weights;
    this.source = source;
    this.lib = lib ?? new KernelLibrary(gpu.device);
    let bytes = 0;
    let params = 0;
    const visit = (b: GPUBuffer | null) => {
      if (b) bytes += b.size;
    };
    const lin = (m: Linear) => {
      m.chunks.forEach((c) => {
        visit(c.buf);
        visit(c.scales ?? null);
      });
      visit(m.bias);
      params += m.N * m.K + (m.bias ? m.N : 0);
    };
    const ln = (n: { weight: GPUBuffer; bias: GPUBuffer }) => {
      visit(n.weight);
      visit(n.bias);
      params += 2 * cfg.hiddenSize;
    };
    lin(weights.embedIn);
    lin(weights.embedOut);
    ln(weights.finalLayerNorm);
    for (const l of weights.layers) {
      ln(l.inputLayernorm);
      ln(l.postAttentionLayernorm);
      [l.queryKeyValue, l.dense, l.denseHTo4h, l.dense4hToH].forEach(lin);
    }
    this.weightBytes = bytes;
    this.params = params;
  }

  /** Frees every weight buffer on the GPU (the model is unusable afterwards). */
  destroy(): void {
    const w = this.weights;
    const lin = (m: Linear) => {
      for (const c of m.chunks) {
        c.buf.destroy();
        c.scales?.destroy();
        c.inter?.destroy();
        c.tex?.destroy();
      }
      m.bias?.destroy();
    };
    lin(w.embedIn);
    lin(w.embedOut);
    w.finalLayerNorm.weight.destroy();
    w.finalLayerNorm.bias.destroy();
    for (const l of w.layers) {
      for (const n of [l.inputLayernorm, l.postAttentionLayernorm]) {
        n.weight.destroy();
        n.bias.destroy();
      }
      [l.queryKeyValue, l.dense, l.denseHTo4h, l.dense4hToH].forEach(lin);
      if (l.denseOut) lin(l.denseOut);
    }
  }

  /** A new sequence (KV cache and scratch) for this model. */
  newSequence(opts: SequenceOptions): Sequence {
    return new Sequence(this, opts);
  }

  /**
   * Builds the dispatch list of one forward pass of T tokens over `seq`; reads as the math
   * (llama2.c's forward): x = embed(tokens); per layer x += attn(ln1(x)) + mlp(ln2(x))
   * (parallel residual) or h = x + attn(ln1(x)); x = h + mlp(ln2(h)); logits = ln_f(x) W^T.
   */
  buildPass(seq: Sequence, T: number, o: PassOptions): Dispatch[] {
    const { cfg, lib, weights: w } = this;
    const d = cfg.hiddenSize;
    const heads = { T, H: cfg.numHeads, hd: cfg.headDim, rot: cfg.rotaryDims };
    const { state, tokens, x, h1, h2, qkv, q, ff, af, cosSin } = seq;
    // The measured attention kernel (engine/autotune.ts), else the device's default.
    const variant = this.naive ? undefined : tunedAttention(this.profile, heads, T, o.cacheLen);
    const normChoice = this.naive ? { rows: false } : tunedNorm(this.profile, d, T);
    // attention_rows, and attention_split in a one-token pass, rotate the queries and append
    // the keys and values themselves: one dispatch a layer fewer.
    const appendInAttention = !o.tree && appendsInAttention(variant, T);
    const attQkv = appendInAttention ? qkv : undefined;
    const attLabel = appendInAttention ? "rotary+kv_append+attention" : "attention";
    const mT = this.#matmulT(T, o);
    const norm = (label: string, layer: number, n: LayerNormWeights, x: GPUBuffer, y: GPUBuffer) =>
      layerNorm(lib, { label, layer, x, y, norm: n, T, d, eps: cfg.layerNormEps });
    const mm = (
      label: string,
      layer: number,
      m: Linear,
      x: GPUBuffer,
      y: GPUBuffer,
      more: Partial<LinearOptions> = {},
    ) =>
      linear(lib, m, {
        label,
        layer,
        x,
        y,
        T,
        variant: this.#choose(m, more.T ?? T, more.T === undefined ? mT : more.T),
        ...more,
      });
    const epilogue = (which: LayerMatrix) => layerEpilogue(cfg, which);
    const groups = T === 1 && !o.tree && !this.naive
      ? tunedFused(this.profile, this.cfg, o.cacheLen)
      : null;
    if (groups !== null) {
      const fused = this.fusedPass(seq, o, groups);
      if (fused) return fused;
    }
    const out: Dispatch[] = [];
    out.push(...embedding(lib, w.embedIn, { label: "embed_in", state, tokens, x, T }));
    for (let l = 0; l < cfg.numLayers; l++) {
      const L = w.layers[l];
      const cache = { state, kCache: seq.kCache[l], vCache: seq.vCache[l], C: seq.opts.capacity };
      if (cfg.parallelResidual) {
        // ln1(x) and ln2(x) of the same x: one dispatch.
        out.push(layerNormPair(lib, {
          label: "input+post_attention_layernorm",
          layer: l,
          x,
          y1: h1,
          y2: h2,
          norm1: L.inputLayernorm,
          norm2: L.postAttentionLayernorm,
          T,
          d,
          eps: cfg.layerNormEps,
          ...normChoice,
        }));
      } else {
        out.push(norm("input_layernorm", l, L.inputLayernorm, x, h1));
      }
      // attention: qkv = ln1(x) Wqkv^T; q = rope(q); cache += (k, v); x += softmax(q k^T) v Wo^T
      out.push(...mm("query_key_value", l, L.queryKeyValue, h1, qkv, epilogue("queryKeyValue")));
      const place = { layer: l, ...heads, state };
      const tree = o.tree;
      if (tree) {
        out.push(treeRotary(lib, { label: "rotary", ...place, qkv, cosSin, q, tree }));
        out.push(kvAppend(lib, { label: "kv_append", layer: l, ...heads, ...cache, qkv }));
      } else if (!appendInAttention) {
        out.push(
          rotaryAppend(lib, { label: "rotary+kv_append", ...place, ...cache, qkv, cosSin, q }),
        );
      }
      if (cfg.parallelResidual && L.denseOut) {
        // x += [attn | gelu(ln2 W1^T)] [Wo | W2]^T: attention and the mlp's hidden layer write
        // side by side into af, and one matmul adds both projections.
        const ffw = cfg.intermediateSize;
        const att = { label: attLabel, ...place, ...cache, q, qkv: attQkv, cosSin, out: af };
        const outStride = d + ffw;
        out.push(
          tree
            ? treeAttention(lib, { ...att, tree, outStride })
            : attention(lib, { ...att, outStride, variant }),
        );
        out.push(...mm("dense_h_to_4h", l, L.denseHTo4h, h2, af, {
          ...epilogue("denseHTo4h"),
          yStride: outStride,
          yCol: d,
        }));
        out.push(...mm("dense+dense_4h_to_h", l, L.denseOut, af, x, epilogue("denseOut")));
        continue;
      }
      const att = { label: attLabel, ...place, ...cache, q, qkv: attQkv, cosSin, out: h1 };
      out.push(tree ? treeAttention(lib, { ...att, tree }) : attention(lib, { ...att, variant }));
      out.push(...mm("dense", l, L.dense, h1, x, epilogue("dense")));
      if (!cfg.parallelResidual) {
        out.push(norm("post_attention_layernorm", l, L.postAttentionLayernorm, x, h2));
      }
      // mlp: x += gelu(ln2 W1^T) W2^T
      out.push(...mm("dense_h_to_4h", l, L.denseHTo4h, h2, ff, epilogue("denseHTo4h")));
      out.push(...mm("dense_4h_to_h", l, L.dense4hToH, ff, x, epilogue("dense4hToH")));
    }
    if (o.logits !== "none") out.push(norm("final_layer_norm", -1, w.finalLayerNorm, x, h1));
    out.push(...this.#tail(seq, T, o));
    return out;
  }

  /**
   * The measured matmul kernel for `m` in a pass of T tokens (the naive one in naive mode): the
   * choice measured for passes of `lookupT` ({@link #matmulT}), run at T.
   */
  #choose(m: Linear, T: number, lookupT = T): MatmulChoice {
    return this.naive ? { variant: "naive" } : tunedChoice(this.profile, m, lookupT, T);
  }

  /** The token bucket whose matmul choices a pass of T runs (tuneFused measured it for T = 1). */
  #matmulT(T: number, o: PassOptions): number {
    return T === 1 ? o.matmulT ?? oneTokenMatmulT(this.profile, this.cfg, o.cacheLen) : T;
  }

  /**
   * What follows the final LayerNorm (its output in h1) in a pass of T tokens: the logits of
   * the last row or of all rows, the last row's argmax into the token buffer, and the state's
   * advance, as `o` asks (by the argmax kernel where there is one).
   */
  #tail(seq: Sequence, T: number, o: PassOptions): Dispatch[] {
    const { cfg, lib, weights: w } = this;
    const { state, tokens, h1, logits } = seq;
    const out: Dispatch[] = [];
    if (o.logits !== "none") {
      const rows = o.logits === "all" ? T : 1;
      out.push(...linear(lib, w.embedOut, {
        label: "embed_out",
        layer: -1,
        x: h1,
        y: logits,
        T: rows,
        xRow: T - rows,
        variant: this.#choose(w.embedOut, rows, T === 1 ? this.#matmulT(T, o) : rows),
      }));
      if (o.argmax) {
        const V = cfg.vocabSize;
        const label = o.advance ? "argmax+advance" : "argmax";
        const row = rows - 1;
        const wg = this.naive ? undefined : tunedArgmaxWg(this.profile, V);
        out.push(argmax(lib, { label, state, logits, tokens, V, row, T, advance: o.advance, wg }));
        return out;
      }
    }
    if (o.advance) out.push(advance(lib, { label: "advance", state, T }));
    return out;
  }

  /**
   * Whether every layer of a one-token pass over `seq` can run as one decode_layer (groups 1)
   * or decode_layer_split dispatch.
   */
  fusedLayersFit(seq: Sequence, groups = 1): boolean {
    const { cfg, weights: w } = this;
    const shape = this.#layerShape(seq);
    return cfg.parallelResidual &&
      w.layers.every((L) =>
        L.denseOut !== undefined &&
        decodeLayerFits(
          this.gpu.device.limits,
          shape,
          [
            L.queryKeyValue,
            L.denseHTo4h,
            L.denseOut,
          ],
          w.embedIn,
          groups,
        )
      );
  }

  #layerShape(seq: Sequence) {
    const { cfg } = this;
    return {
      d: cfg.hiddenSize,
      ff: cfg.intermediateSize,
      H: cfg.numHeads,
      hd: cfg.headDim,
      rot: cfg.rotaryDims,
      C: seq.opts.capacity,
    };
  }

  /**
   * A one-token pass with each layer in one decode_layer dispatch (embed_in folded into the
   * first, final_layer_norm into the last): 4-5 dispatches where the layer-by-layer pass has
   * 6 per layer + 5. With `groups` > 1 each layer is one decode_layer_split dispatch of that
   * many workgroups and a last one adds the parts and normalizes. Null where a layer does not
   * fit (then the plain pass runs).
   */
  fusedPass(seq: Sequence, o: PassOptions, groups = 1): Dispatch[] | null {
    if (!this.fusedLayersFit(seq, groups)) return null;
    if (groups > 1) return this.#splitPass(seq, o, groups);
    const { cfg, lib, weights: w } = this;
    const last = cfg.numLayers - 1;
    const out: Dispatch[] = w.layers.map((_L, l) =>
      decodeLayer(lib, {
        ...this.#layerOptions(seq, l),
        label: "decode_layer",
        layer: l,
        embed: l === 0 ? w.embedIn : undefined,
        x: seq.x,
        final: l === last && o.logits !== "none"
          ? { norm: w.finalLayerNorm, y: seq.h1 }
          : undefined,
      })
    );
    out.push(...this.#tail(seq, 1, o));
    return out;
  }

  /** What decode_layer and decode_layer_split take of layer l and the sequence. */
  #layerOptions(seq: Sequence, l: number) {
    const { cfg, weights: w } = this;
    const L = w.layers[l];
    return {
      ...this.#layerShape(seq),
      eps: cfg.layerNormEps,
      act: cfg.activation,
      state: seq.state,
      tokens: seq.tokens,
      ln1: L.inputLayernorm,
      ln2: L.postAttentionLayernorm,
      qkv: L.queryKeyValue,
      h4h: L.denseHTo4h,
      out: L.denseOut!,
      kCache: seq.kCache[l],
      vCache: seq.vCache[l],
      cosSin: seq.cosSin,
    };
  }

  /** {@link fusedPass} in decode_layer_split dispatches of `groups` workgroups. */
  #splitPass(seq: Sequence, o: PassOptions, groups: number): Dispatch[] {
    const { cfg, lib, weights: w } = this;
    // Layer l writes its x and parts to buffers l % 2 and reads layer l - 1's from the others.
    const xs = [seq.x, seq.xAlt];
    const prev = (l: number) => ({
      x: xs[(l - 1) & 1],
      parts: seq.parts[(l - 1) & 1],
      bias: w.layers[l - 1].denseOut!.bias!,
    });
    const layer = (l: number) => ({ ...this.#layerOptions(seq, l), groups });
    const out = w.layers.map((_L, l) =>
      decodeLayerSplit(lib, {
        ...layer(l),
        label: "decode_layer",
        layer: l,
        embed: l === 0 ? w.embedIn : undefined,
        prev: l === 0 ? undefined : prev(l),
        xOut: xs[l & 1],
        parts: seq.parts[l & 1],
      })
    );
    const L = cfg.numLayers;
    if (o.logits !== "none") {
      out.push(decodeLayerSplit(lib, {
        ...layer(L - 1),
        layer: -1,
        prev: prev(L),
        xOut: seq.h1,
        parts: seq.parts[L & 1],
        finish: w.finalLayerNorm,
      }));
    }
    out.push(...this.#tail(seq, 1, o));
    return out;
  }
}
