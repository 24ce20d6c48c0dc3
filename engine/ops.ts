/**
 * Typed operations: one function per WGSL kernel (web-rwkv's `TensorOp` constructors are the
 * model). Each owns its kernel's contract - uniform layout, binding order, variant choice,
 * shape checks and dispatch size - and returns dispatches that carry their metadata
 * (`DispatchMeta`: op, layer, shape, bytes, FLOPs), so the model, the tests, the benches and
 * the profiler cannot disagree about a kernel. All activations are f32; shapes are row-major.
 */
import {
  type Dispatch,
  type DispatchMeta,
  type KernelLibrary,
  type WeightType,
} from "../kernels/kernel.ts";
import { MAX_CACHE_ENTRIES } from "./cache_policy.ts";

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
   * scales (int8 only): [rows, 1 or ceil(K/group)] f32;
   * inter (f16 only, optional): the same rows repacked k8-interleaved ({@link interleaveF16})
   * for matmul_rows, made at load beside buf (buf stays: the naive oracle, embeddings and the
   * other variants read it).
   */
  chunks: {
    buf: GPUBuffer;
    rowStart: number;
    rows: number;
    scales?: GPUBuffer;
    inter?: GPUBuffer;
  }[];
  /** [N] f32, or null for no bias. */
  bias: GPUBuffer | null;
}

/** Where a dispatch sits in the model (for the profiler) and its dispatch label. */
export interface OpPlace {
  /** Dispatch label (default: the op name), e.g. "query_key_value". */
  label?: string;
  /** Transformer layer, -1 (default) outside the layers. */
  layer?: number;
}

const F32 = 4;

function meta(
  op: string,
  kernel: string,
  place: OpPlace,
  m: Omit<DispatchMeta, "op" | "kernel" | "layer">,
): DispatchMeta {
  return { op, kernel, layer: place.layer ?? -1, ...m };
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`ops: ${what}`);
}

// ---- linear (matmul) --------------------------------------------------------------------

/** Flag bits of the linear kernels' `flags` uniform (kernels/matmul_tile.wgsl). */
export const LINEAR_FLAGS = { accumulate: 1, gelu: 2, geluTanh: 4, bias: 8 } as const;

/** The linear kernels: the naive oracle and the tiled forms by weight type and K. */
export type MatmulVariant =
  | "naive"
  | "tiled"
  | "vec4"
  | "f16x8"
  | "rows"
  | "int8"
  | "int8x16";

/**
 * The k8-interleaved layout of matmul_rows ("8-row panels"): f16 rows [R, K] (bits) are cut
 * into 16-byte words of 8 halves (zero past K), K8 = ceil(K/8) per row, and rows are grouped in
 * panels of 8 (R padded to a multiple of 8 with zero rows); word j of row n sits at index
 * ((n >> 3) * K8 + j) * 8 + (n & 7). Rows n..n+7 of a panel are neighbouring 16-byte words at
 * every step j (neighbouring invocations read neighbouring words, what lavapipe runs fastest,
 * GPU.md), and each panel is one contiguous run that 8 invocations stream through in order.
 */
export function interleaveF16(bits: Uint16Array, R: number, K: number): Uint16Array {
  const K8 = Math.ceil(K / 8);
  const out = new Uint16Array(Math.ceil(R / 8) * 8 * K8 * 8);
  for (let n = 0; n < R; n++) {
    const src = n * K;
    const panel = (n >> 3) * K8;
    const lane = n & 7;
    for (let k = 0; k < K; k++) out[((panel + (k >> 3)) * 8 + lane) * 8 + (k & 7)] = bits[src + k];
  }
  return out;
}

/**
 * Invocations per workgroup of matmul_rows for S row-owning invocations: 64, halved down to 8
 * until there are at least 8 workgroups (a software adapter runs each workgroup on one CPU
 * thread: one big workgroup would leave the other cores idle).
 */
export function rowsWorkgroup(S: number): number {
  let w = 64;
  while (w > 8 && Math.ceil(S / w) < 8) w >>= 1;
  return w;
}

/** Tokens per invocation of matmul_rows for T tokens: all of them up to 16, else even groups. */
export function rowsTok(T: number): number {
  return Math.ceil(T / Math.ceil(T / 16));
}

/** A matmul kernel with its tuning: TOK tokens and RPT rows per invocation. */
export interface MatmulChoice {
  variant: MatmulVariant;
  /** Tokens per workgroup (tiled kernels; default from T). */
  tok?: number;
  /** Rows per invocation (vec4, f16x8, rows, int8, int8x16; default 4, rows 1). */
  rpt?: number;
}

/**
 * The engine's deterministic matmul rule (the fallback of engine/autotune.ts, which measures),
 * in one place: f16 weights with a k8-interleaved copy run matmul_rows (all T <= 16 tokens per
 * invocation; 4 rows per invocation when the matrix has 256 rows or more, else 1: the fastest
 * in most shapes measured on lavapipe); f16 weights with K % 8 == 0 read eight per load
 * (matmul_f16x8); float weights with K % 4 == 0 four per load (matmul_vec4); int8 weights with
 * K and group multiples of 16 sixteen per load (matmul_int8x16), other int8 matmul_int8;
 * else the tiled matmul. TOK grows with T so each weight is loaded once for TOK tokens.
 */
export function matmulChoice(
  m: Pick<Linear, "wt" | "K" | "group"> & { N?: number; chunks?: Linear["chunks"] },
  T: number,
): MatmulChoice {
  if (m.wt === "f16" && m.chunks?.every((c) => c.inter)) {
    return { variant: "rows", tok: rowsTok(T), rpt: (m.N ?? 0) >= 256 ? 4 : 1 };
  }
  const int8 = m.wt === "int8";
  const variant: MatmulVariant = m.wt === "f16" && m.K % 8 === 0
    ? "f16x8"
    : !int8 && m.K % 4 === 0
    ? "vec4"
    : int8 && m.K % 16 === 0 && (m.group ?? 0) % 16 === 0
    ? "int8x16"
    : int8
    ? "int8"
    : "tiled";
  return matmulTuning(variant, T);
}

/** The default TOK and RPT of a matmul variant for passes of T tokens. */
export function matmulTuning(variant: MatmulVariant, T: number): MatmulChoice {
  if (variant === "naive") return { variant };
  if (variant === "rows") return { variant, tok: rowsTok(T), rpt: 1 };
  if (variant === "tiled") return { variant, tok: T === 1 ? 1 : T <= 8 ? 4 : 8 };
  return { variant, tok: T === 1 ? 1 : T <= 4 ? 4 : 8, rpt: 4 };
}

/** Pipeline, constants and tile (rows x tokens per workgroup) of a matmul choice. */
function matmulKernel(
  m: Pick<Linear, "wt" | "K" | "group" | "N">,
  c: MatmulChoice,
): {
  name: string;
  wt: WeightType;
  consts: Record<string, number>;
  rows: number;
  tok: number;
  /** matmul_rows: one invocation per RPT rows, bound to the chunks' k8-interleaved copies. */
  inter?: boolean;
} {
  const int8 = m.wt === "int8";
  const group: Record<string, number> = int8 ? { GROUP: m.group ?? 0 } : {};
  const rpt = c.rpt ?? 4;
  const tok = c.tok ?? 1;
  switch (c.variant) {
    case "naive":
      return {
        name: int8 ? "matmul_int8_naive" : "matmul_naive",
        wt: m.wt,
        consts: group,
        rows: 64,
        tok: 1,
      };
    case "tiled":
      check(!int8, "the tiled float matmul needs f16 or f32 weights");
      return { name: "matmul", wt: m.wt, consts: { TOK: tok }, rows: 8, tok };
    case "vec4":
      check(!int8 && m.K % 4 === 0, `matmul_vec4 needs float weights and K % 4 == 0 (K=${m.K})`);
      return { name: "matmul_vec4", wt: m.wt, consts: { TOK: tok, RPT: rpt }, rows: 4 * rpt, tok };
    case "f16x8":
      check(
        m.wt === "f16" && m.K % 8 === 0,
        `matmul_f16x8 needs f16 weights, K % 8 == 0 (K=${m.K})`,
      );
      // f16 weights as packed u32: no shader-f16 needed.
      return {
        name: "matmul_f16x8",
        wt: "f32",
        consts: { TOK: tok, RPT: rpt },
        rows: 4 * rpt,
        tok,
      };
    case "rows": {
      check(m.wt === "f16", "matmul_rows needs f16 weights (k8-interleaved)");
      const rpt1 = c.rpt ?? 1;
      const wgs = rowsWorkgroup(Math.ceil(m.N / rpt1));
      return {
        name: m.K % 4 === 0 ? "matmul_rows" : "matmul_rows_any",
        wt: "f32",
        consts: { TOK: tok, RPT: rpt1, WGS: wgs },
        rows: wgs * rpt1,
        tok,
        inter: true,
      };
    }
    case "int8":
      check(int8, "matmul_int8 needs int8 weights");
      return {
        name: "matmul_int8",
        wt: m.wt,
        consts: { TOK: tok, RPT: rpt, ...group },
        rows: 4 * rpt,
        tok,
      };
    case "int8x16":
      check(
        int8 && m.K % 16 === 0 && (m.group ?? 0) % 16 === 0,
        `matmul_int8x16 needs int8 weights, K and group multiples of 16 (K=${m.K})`,
      );
      return {
        name: "matmul_int8x16",
        wt: "f32",
        consts: { TOK: tok, RPT: rpt, ...group },
        rows: 4 * rpt,
        tok,
      };
  }
}

/** Options of {@link linear}. */
export interface LinearOptions extends OpPlace {
  /** x: [xRow + T, K] f32; rows xRow .. xRow+T-1 are used. */
  x: GPUBuffer;
  /** y: [T, N] f32 (chunk c writes columns rowStart .. rowStart+rows-1). */
  y: GPUBuffer;
  /** y rows are yStride columns apart and columns start at yCol (default N and 0). */
  yStride?: number;
  yCol?: number;
  T: number;
  xRow?: number;
  /** y += result instead of y = result (the residual add). */
  accumulate?: boolean;
  act?: "gelu" | "gelu_tanh";
  /** Force a kernel (tests and benches: the naive oracle, or a named variant and tuning). */
  variant?: MatmulVariant | MatmulChoice;
}

/**
 * y (+)= act(x W^T + b): one dispatch per chunk of W. Shapes: x [xRow+T, K], W [N, K],
 * b [N], y [T, N]. The kernel is `matmulChoice` unless `variant` forces one.
 */
export function linear(lib: KernelLibrary, m: Linear, o: LinearOptions): Dispatch[] {
  const { T } = o;
  check(T >= 1 && m.K >= 1, `linear needs T >= 1 and K >= 1 (T=${T}, K=${m.K})`);
  check(!(m.chunks.length > 1 && m.bias), "split matrices with bias are not supported");
  const flags = (o.accumulate ? LINEAR_FLAGS.accumulate : 0) |
    (o.act === "gelu" ? LINEAR_FLAGS.gelu : 0) |
    (o.act === "gelu_tanh" ? LINEAR_FLAGS.geluTanh : 0) |
    (m.bias ? LINEAR_FLAGS.bias : 0);
  const choice: MatmulChoice = o.variant === undefined
    ? matmulChoice(m, T)
    : typeof o.variant === "string"
    ? matmulTuning(o.variant, T)
    : o.variant;
  const k = matmulKernel(m, choice);
  const pl = lib.pipeline(k.name, k.wt, k.consts);
  const op = "linear";
  return m.chunks.map((c) => {
    check(c.rowStart + c.rows <= m.N, `chunk rows ${c.rowStart}+${c.rows} exceed N=${m.N}`);
    check(m.wt !== "int8" || c.scales !== undefined, "int8 chunks need their scales");
    check(!k.inter || c.inter !== undefined, "matmul_rows needs the chunks' k8-interleaved copies");
    // A chunk's bias slice starts at rowStart: only a single chunk carries a bias.
    const params = lib.uniform([
      T,
      m.K,
      c.rows,
      (o.xRow ?? 0) * m.K,
      o.yStride ?? m.N,
      (o.yCol ?? 0) + c.rowStart,
      flags,
      0,
    ]);
    const buffers = [
      params,
      o.x,
      k.inter ? c.inter! : c.buf,
      m.bias ?? lib.zero(),
      o.y,
      ...(c.scales ? [c.scales] : []),
    ];
    return lib.dispatch(
      o.label ?? op,
      pl,
      buffers,
      k.inter
        ? [
          Math.ceil(Math.ceil(Math.ceil(c.rows / (k.rows / k.consts.WGS)) / 8) * 8 / k.consts.WGS),
          1,
          Math.ceil(T / k.tok),
        ]
        : [Math.ceil(c.rows / k.rows), Math.ceil(T / k.tok)],
      meta(op, k.name, o, {
        shape: `${T}x${m.K} * ${m.N}x${m.K}^T ${m.wt}`,
        bytes: c.buf.size + (c.scales?.size ?? 0) + (m.bias ? c.rows * F32 : 0) + T * m.K * F32 +
          T * c.rows * F32 * (o.accumulate ? 2 : 1),
        flops: 2 * T * c.rows * m.K + (m.bias ? T * c.rows : 0),
      }),
    );
  });
}

// ---- embedding ----------------------------------------------------------------------------

/** Options of {@link embedding}. */
export interface EmbeddingOptions extends OpPlace {
  /** state: [cacheLen, tokenPos, ...] u32 (engine/model.ts STATE_*). */
  state: GPUBuffer;
  /** tokens: u32 ids; tokens[tokenPos .. tokenPos+T-1] are gathered. */
  tokens: GPUBuffer;
  /** x: [T, d] f32. */
  x: GPUBuffer;
  T: number;
}

/**
 * x[t, :] = table[tokens[tokenPos + t], :], one dispatch per chunk of the table [V, d]
 * (embedding.wgsl for f16/f32, embedding_int8.wgsl dequantizing int8 rows).
 */
export function embedding(lib: KernelLibrary, table: Linear, o: EmbeddingOptions): Dispatch[] {
  const d = table.K;
  const int8 = table.wt === "int8";
  const kernel = int8 ? "embedding_int8" : "embedding";
  const pl = int8
    ? lib.pipeline(kernel, "int8", { GROUP: table.group ?? 0 })
    : lib.pipeline(kernel, table.wt);
  return table.chunks.map((c) => {
    check(!int8 || c.scales !== undefined, "int8 embedding chunks need their scales");
    // Each token reads one row of one chunk: its share of the bytes goes to each chunk.
    const share = c.rows / table.N;
    const rowBytes = (c.buf.size + (c.scales?.size ?? 0)) / c.rows;
    return lib.dispatch(
      o.label ?? "embedding",
      pl,
      [
        lib.uniform([o.T, d, c.rowStart, c.rows]),
        o.state,
        o.tokens,
        c.buf,
        o.x,
        ...(c.scales ? [c.scales] : []),
      ],
      [Math.ceil(d / 64), o.T],
      meta("embedding", kernel, o, {
        shape: `${o.T} rows of ${table.N}x${d} ${table.wt}`,
        bytes: share * o.T * (rowBytes + d * F32 + 4),
        flops: 0,
      }),
    );
  });
}

// ---- layer norm ----------------------------------------------------------------------------

/** Options of {@link layerNorm}. */
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
}

/**
 * Both LayerNorms of a parallel-residual block in one dispatch: y1 = ln1(x), y2 = ln2(x), the
 * row statistics computed once (kernels/layernorm_pair.wgsl; same math as {@link layerNorm}).
 */
export function layerNormPair(lib: KernelLibrary, o: LayerNormPairOptions): Dispatch {
  const { T, d } = o;
  check(T >= 1 && d >= 1, `layerNormPair needs T, d >= 1 (T=${T}, d=${d})`);
  return lib.dispatch(
    o.label ?? "layer_norm_pair",
    lib.pipeline("layernorm_pair"),
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
    [T],
    meta("layer_norm", "layernorm_pair", o, {
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

/** Attention kernels: all scores in workgroup memory, or tiles of them (online softmax). */
export type AttentionVariant = { variant: "full" } | { variant: "tiled"; tile: number };

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
  const kernel = v.variant === "full" ? "attention" : "attention_tiled";
  const pl = v.variant === "full"
    ? lib.pipeline(kernel, "f32", { MAXKEYS: MAX_CACHE_ENTRIES })
    : lib.pipeline(kernel, "f32", { MAXKEYS: MAX_CACHE_ENTRIES, TILE: v.tile });
  // Query t sees cacheLen + t + 1 keys; each key costs a rotated dot and a weighted sum.
  const perKey = H * (4 * hd + 3 * rot + 4);
  const perKeyBytes = 2 * H * hd * F32 + rot * F32;
  return lib.dispatch(
    o.label ?? "attention",
    pl,
    [
      lib.uniform([T, H, hd, rot, C, 1 / Math.sqrt(hd), o.outStride ?? 0, 0], [5]),
      o.state,
      o.q,
      o.kCache,
      o.vCache,
      o.cosSin,
      o.out,
    ],
    [H, T],
    meta("attention", kernel, o, {
      // Keys depend on the cache length: the profiler prefixes "Tq x Nk, ".
      shape: `${H}x${hd} rot ${rot}`,
      bytes: T * perKeyBytes + 2 * T * H * hd * F32,
      flops: ((T * (T + 1)) / 2) * perKey,
      perCachedEntry: { bytes: perKeyBytes, flops: T * perKey },
    }),
  );
}

// ---- token selection and state -------------------------------------------------------------

/** Options of {@link argmax}. */
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
}

/** tokens[tokenPos + T] = argmax(logits[row]) (first index on ties). Before `advance`. */
export function argmax(lib: KernelLibrary, o: ArgmaxOptions): Dispatch {
  return lib.dispatch(
    o.label ?? "argmax",
    lib.pipeline("argmax"),
    [
      lib.uniform([o.V, o.row, o.T, 0]),
      o.state,
      o.logits,
      o.tokens,
    ],
    [1],
    meta("argmax", "argmax", o, {
      shape: `1x${o.V}`,
      bytes: o.V * F32 + 4,
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
}

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
      lib.uniform([o.V, o.K, 0, 0]),
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
      lib.uniform([o.V, o.K, o.seed, o.rule]),
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
}

/**
 * Attention of a tree pass: node u sees the committed window of stream position P + depth(u)
 * and its ancestors (ancestor mask), never its siblings; all scores in workgroup memory.
 */
export function treeAttention(lib: KernelLibrary, o: TreeAttentionOptions): Dispatch {
  const { T, H, hd, rot, C } = o;
  check(hd <= ATTENTION_MAX_HEAD_DIM, `attention needs hd <= ${ATTENTION_MAX_HEAD_DIM} (hd=${hd})`);
  check(T <= MAX_TREE_NODES, `treeAttention needs T <= ${MAX_TREE_NODES} (T=${T})`);
  const perKey = H * (4 * hd + 3 * rot + 4);
  const perKeyBytes = 2 * H * hd * F32 + rot * F32;
  const depth = o.maxDepth ?? T - 1;
  return lib.dispatch(
    o.label ?? "attention",
    lib.pipeline("tree_attention", "f32", { MAXKEYS: MAX_CACHE_ENTRIES }),
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
