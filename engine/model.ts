/**
 * The GPT-NeoX model on the GPU: weights named after their Hugging Face tensors, one
 * forward pass as a fixed list of dispatches over a `Sequence` (KV cache + token and state
 * buffers). Cache length and token position live in a GPU state buffer, so passes can be
 * replayed step after step with no CPU round trip.
 */
import { NeoxError } from "./errors.ts";
import { type Gpu, storageBuffer } from "./device.ts";
import type { NeoxConfig } from "./config.ts";
import { type Dispatch, KernelLibrary, type WeightType } from "../kernels/kernel.ts";
import { cacheMarks, type CachePolicy, MAX_CACHE_ENTRIES } from "./cache_policy.ts";

/** A weight matrix [N, K], split by rows into chunks that each fit one binding. */
export interface Linear {
  /** Output features. */
  N: number;
  /** Input features. */
  K: number;
  wt: WeightType;
  /** Int8 only: input features per scale, 0 for one scale per output row. */
  group?: number;
  /**
   * buf: [rows, K] (f16/f32) or [rows, ceil(K/4)] u32 (int8, see engine/quantize.ts);
   * scales (int8 only): [rows, 1 or ceil(K/group)] f32.
   */
  chunks: { buf: GPUBuffer; rowStart: number; rows: number; scales?: GPUBuffer }[];
  /** [N] f32, or null for no bias. */
  bias: GPUBuffer | null;
}

/** One transformer block, fields named after `gpt_neox.layers.{i}.*`. */
export interface Layer {
  inputLayernorm: { weight: GPUBuffer; bias: GPUBuffer };
  postAttentionLayernorm: { weight: GPUBuffer; bias: GPUBuffer };
  /** attention.query_key_value: [3d, d] */
  queryKeyValue: Linear;
  /** attention.dense: [d, d] */
  dense: Linear;
  /** mlp.dense_h_to_4h: [ff, d] */
  denseHTo4h: Linear;
  /** mlp.dense_4h_to_h: [d, ff] */
  dense4hToH: Linear;
}

/** All weights of a model on the GPU. */
export interface Weights {
  /** gpt_neox.embed_in: [V, d] */
  embedIn: Linear;
  layers: Layer[];
  /** gpt_neox.final_layer_norm */
  finalLayerNorm: { weight: GPUBuffer; bias: GPUBuffer };
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
 * State buffer layout, u32 words. STATE_CACHE_LEN counts the entries appended so far (a
 * token's stream position); a sink cache keeps only the policy's view of them.
 */
export const STATE_CACHE_LEN = 0;
export const STATE_TOKEN_POS = 1;
/** Cache policy words, read by kernels/sink_window.wgsl (high = 0: full cache). */
export const STATE_SINKS = 13;
export const STATE_HIGH = 14;
export const STATE_LOW = 15;
/** Words in the state buffer (spare words are used by generation loops). */
export const STATE_WORDS = 16;

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
    const key = `${T}|${o.logits}|${o.argmax}|${o.advance}`;
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
  readonly #zero: GPUBuffer;

  constructor(gpu: Gpu, cfg: NeoxConfig, weights: Weights, source: string, lib?: KernelLibrary) {
    this.gpu = gpu;
    this.cfg = cfg;
    this.weights = weights;
    this.source = source;
    this.lib = lib ?? new KernelLibrary(gpu);
    this.#zero = storageBuffer(gpu, 16, "zero");
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

  /** A new sequence (KV cache and scratch) for this model. */
  /** Frees every weight buffer on the GPU (the model is unusable afterwards). */
  destroy(): void {
    const w = this.weights;
    const lin = (m: Linear) => {
      for (const c of m.chunks) {
        c.buf.destroy();
        c.scales?.destroy();
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
    }
  }

  newSequence(opts: SequenceOptions): Sequence {
    return new Sequence(this, opts);
  }

  /** Appends the dispatches of `y (+)= act(x W^T + b)` for T rows of x starting at xRow. */
  linear(
    out: Dispatch[],
    label: string,
    m: Linear,
    x: GPUBuffer,
    y: GPUBuffer,
    T: number,
    o: { xRow?: number; accumulate?: boolean; act?: "gelu" | "gelu_tanh" },
  ): void {
    const flags = (o.accumulate ? 1 : 0) | (o.act === "gelu" ? 2 : 0) |
      (o.act === "gelu_tanh" ? 4 : 0) | (m.bias ? 8 : 0);
    const tok = T === 1 ? 1 : T <= 8 ? 4 : 8;
    for (const c of m.chunks) {
      const bias = m.bias ?? this.#zero;
      const params = this.lib.uniform([
        T,
        m.K,
        c.rows,
        (o.xRow ?? 0) * m.K,
        m.N,
        c.rowStart,
        flags,
        0,
      ]);
      // A chunk's bias slice starts at rowStart: bind the bias buffer whole and shift via yOffset
      // only when there is one chunk; multi-chunk matrices (embed_out) carry no bias.
      if (m.chunks.length > 1 && m.bias) {
        throw new Error("split matrices with bias are not supported");
      }
      // int8 weights: same kernels' layout, scales at binding 5, GROUP per pipeline
      const int8 = m.wt === "int8";
      const name = int8 ? "matmul_int8" : "matmul";
      const group: Record<string, number> = int8 ? { GROUP: m.group ?? 0 } : {};
      const buffers = [params, x, c.buf, bias, y, ...(int8 ? [c.scales!] : [])];
      if (this.naive) {
        const pl = this.lib.pipeline(`${name}_naive`, m.wt, group);
        out.push(
          this.lib.dispatch(label, pl, buffers, [Math.ceil(c.rows / 64), T]),
        );
      } else if (m.wt === "f16" && m.K % 8 === 0) {
        // f16 weights as packed u32: eight per load, no shader-f16 needed.
        const tok4 = T === 1 ? 1 : T <= 4 ? 4 : 8;
        const pl = this.lib.pipeline("matmul_f16x8", "f32", { TOK: tok4, RPT: 4 });
        out.push(
          this.lib.dispatch(label, pl, buffers, [Math.ceil(c.rows / 16), Math.ceil(T / tok4)]),
        );
      } else if (!int8 && m.K % 4 === 0) {
        // 4-wide loads, 4 rows per invocation: weights are read once for up to 8 tokens.
        const tok4 = T === 1 ? 1 : T <= 4 ? 4 : 8;
        const pl = this.lib.pipeline("matmul_vec4", m.wt, { TOK: tok4, RPT: 4 });
        out.push(
          this.lib.dispatch(label, pl, buffers, [Math.ceil(c.rows / 16), Math.ceil(T / tok4)]),
        );
      } else if (int8 && m.K % 16 === 0 && (m.group ?? 0) % 16 === 0) {
        // Sixteen int8 weights per load, activations as vec4.
        const tok4 = T === 1 ? 1 : T <= 4 ? 4 : 8;
        const pl = this.lib.pipeline("matmul_int8x16", "f32", { TOK: tok4, RPT: 4, ...group });
        out.push(
          this.lib.dispatch(label, pl, buffers, [Math.ceil(c.rows / 16), Math.ceil(T / tok4)]),
        );
      } else if (int8) {
        // 4 rows per invocation, as matmul_vec4: one packed word feeds 4 rows x TOK tokens.
        const tok4 = T === 1 ? 1 : T <= 4 ? 4 : 8;
        const pl = this.lib.pipeline(name, m.wt, { TOK: tok4, RPT: 4, ...group });
        out.push(
          this.lib.dispatch(label, pl, buffers, [Math.ceil(c.rows / 16), Math.ceil(T / tok4)]),
        );
      } else {
        const pl = this.lib.pipeline(name, m.wt, { TOK: tok, ...group });
        out.push(
          this.lib.dispatch(label, pl, buffers, [
            Math.ceil(c.rows / 8),
            Math.ceil(T / tok),
          ]),
        );
      }
    }
  }

  /** Builds the dispatch list of one forward pass of T tokens over `seq`. */
  buildPass(seq: Sequence, T: number, o: PassOptions): Dispatch[] {
    const { cfg, lib, weights: w } = this;
    const d = cfg.hiddenSize;
    const H = cfg.numHeads;
    const hd = cfg.headDim;
    const out: Dispatch[] = [];
    const wg64 = (n: number) => Math.ceil(n / 64);

    const embedInt8 = w.embedIn.wt === "int8";
    const embedPipeline = embedInt8
      ? lib.pipeline("embedding_int8", "int8", { GROUP: w.embedIn.group ?? 0 })
      : lib.pipeline("embedding", w.embedIn.wt);
    for (const c of w.embedIn.chunks) {
      out.push(lib.dispatch(
        "embed_in",
        embedPipeline,
        [
          lib.uniform([T, d, c.rowStart, c.rows]),
          seq.state,
          seq.tokens,
          c.buf,
          seq.x,
          ...(embedInt8 ? [c.scales!] : []),
        ],
        [wg64(d), T],
      ));
    }
    const lnParams = lib.uniform([T, d, cfg.layerNormEps, 0], [2]);
    const layerNorm = (
      label: string,
      n: { weight: GPUBuffer; bias: GPUBuffer },
      x: GPUBuffer,
      y: GPUBuffer,
    ) =>
      out.push(
        lib.dispatch(label, lib.pipeline("layernorm"), [lnParams, x, n.weight, n.bias, y], [T]),
      );
    const act = cfg.activation;
    for (let l = 0; l < cfg.numLayers; l++) {
      const L = w.layers[l];
      layerNorm("input_layernorm", L.inputLayernorm, seq.x, seq.h1);
      if (cfg.parallelResidual) {
        layerNorm("post_attention_layernorm", L.postAttentionLayernorm, seq.x, seq.h2);
      }
      this.linear(out, "query_key_value", L.queryKeyValue, seq.h1, seq.qkv, T, {});
      out.push(lib.dispatch(
        "rotary",
        lib.pipeline("rotary"),
        [lib.uniform([T, H, hd, cfg.rotaryDims]), seq.state, seq.qkv, seq.cosSin, seq.q],
        [wg64(hd), T * H],
      ));
      out.push(lib.dispatch(
        "kv_append",
        lib.pipeline("kv_append"),
        [
          lib.uniform([T, H, hd, seq.opts.capacity]),
          seq.state,
          seq.qkv,
          seq.kCache[l],
          seq.vCache[l],
        ],
        [wg64(hd), T * H],
      ));
      out.push(lib.dispatch(
        "attention",
        lib.pipeline("attention"),
        [
          lib.uniform([T, H, hd, cfg.rotaryDims, seq.opts.capacity, 1 / Math.sqrt(hd), 0, 0], [5]),
          seq.state,
          seq.q,
          seq.kCache[l],
          seq.vCache[l],
          seq.cosSin,
          seq.h1,
        ],
        [H, T],
      ));
      this.linear(out, "dense", L.dense, seq.h1, seq.x, T, { accumulate: true });
      if (!cfg.parallelResidual) {
        layerNorm("post_attention_layernorm", L.postAttentionLayernorm, seq.x, seq.h2);
      }
      this.linear(out, "dense_h_to_4h", L.denseHTo4h, seq.h2, seq.ff, T, { act });
      this.linear(out, "dense_4h_to_h", L.dense4hToH, seq.ff, seq.x, T, { accumulate: true });
    }
    if (o.logits !== "none") {
      layerNorm("final_layer_norm", w.finalLayerNorm, seq.x, seq.h1);
      const rows = o.logits === "all" ? T : 1;
      this.linear(out, "embed_out", w.embedOut, seq.h1, seq.logits, rows, { xRow: T - rows });
      if (o.argmax) {
        out.push(lib.dispatch(
          "argmax",
          lib.pipeline("argmax"),
          [lib.uniform([cfg.vocabSize, rows - 1, T, 0]), seq.state, seq.logits, seq.tokens],
          [1],
        ));
      }
    }
    if (o.advance) {
      out.push(
        lib.dispatch("advance", lib.pipeline("advance"), [lib.uniform([T, 0, 0, 0]), seq.state], [
          1,
        ]),
      );
    }
    return out;
  }
}
