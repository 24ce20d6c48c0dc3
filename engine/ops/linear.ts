/** linear (every matmul variant and its choice) and embedding; weight layouts at load. */
import { type Dispatch, type KernelLibrary, type WeightType } from "../../kernels/kernel.ts";
import { check, F32, meta, type OpPlace } from "./common.ts";

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
   * inter (optional): the same rows repacked, f16 k8-interleaved ({@link interleaveF16}) for
   * matmul_rows, int8 k16-interleaved ({@link interleaveInt8}) for matmul_int8_rows, made at
   * load beside buf (buf stays: the naive oracle, embeddings and the other variants read it);
   * tex (optional): inter's words as an rgba32uint texture for matmul_rows_tex
   * ({@link weightTexture}; made at load when the kernels are tuned).
   */
  chunks: {
    buf: GPUBuffer;
    rowStart: number;
    rows: number;
    scales?: GPUBuffer;
    inter?: GPUBuffer;
    tex?: GPUTexture;
  }[];
  /** [N] f32, or null for no bias. */
  bias: GPUBuffer | null;
}

/**
 * Flag bits of the linear epilogue: the naive kernels read them from the `flags` uniform, the
 * others take them as the pipeline constant FLAGS (kernels/matmul_tile.wgsl).
 */
export const LINEAR_FLAGS = { accumulate: 1, gelu: 2, geluTanh: 4, bias: 8 } as const;

/** The linear kernels: the naive oracle and the tiled forms by weight type and K. */
export type MatmulVariant =
  | "naive"
  | "tiled"
  | "vec4"
  | "f16x8"
  | "rows"
  | "rows_tex"
  | "rows_ubo"
  | "int8"
  | "int8x16"
  | "int8_rows"
  | "int8_rows_tex"
  | "int8_rows_ubo";

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
 * f16 weights up to this many bytes also get a k8-interleaved copy of every linear weight
 * ({@link interleaveF16}) for matmul_rows, and the fused [dense | dense_4h_to_h] matrix: it
 * doubles their weight memory (engine/load.ts for checkpoints, engine/synthetic.ts).
 */
export const INTERLEAVE_MAX_BYTES = 512 << 20;

/**
 * The k16-interleaved copy of int8 rows that matmul_int8_rows reads: {@link interleaveF16}'s
 * panels over the packed words (engine/quantize.ts), 16 int8 of a row to a 16-byte word, word j
 * of row n at index ((n >> 3) * K16 + j) * 8 + (n & 7), K16 = K / 16. K % 16 == 0.
 */
export function interleaveInt8(packed: Uint32Array, R: number, K: number): Uint32Array {
  if (K % 16 !== 0) throw new RangeError(`interleaveInt8: K must be a multiple of 16 (K=${K})`);
  const halves = new Uint16Array(packed.buffer, packed.byteOffset, (R * K) / 2);
  return new Uint32Array(interleaveF16(halves, R, K / 2).buffer);
}

/** Whether matmul_int8_rows can run an int8 matrix: K and the scale group multiples of 16. */
export function int8RowsFit(m: { K: number; group?: number }): boolean {
  return m.K % 16 === 0 && (m.group ?? 0) % 16 === 0;
}

/** Bytes of the k8-interleaved copy of an [R, K] f16 matrix (R padded to a multiple of 8). */
export function interleavedBytes(R: number, K: number): number {
  return Math.ceil(R / 8) * 8 * Math.ceil(K / 8) * 16;
}

/** Texels per row of a weight texture (matmul_rows_tex.wgsl TEXW). */
export const TEXTURE_WIDTH = 4096;

/**
 * The k8-interleaved words of `inter` (16 bytes each) as an rgba32uint texture, word i at
 * texel (i % TEXTURE_WIDTH, i / TEXTURE_WIDTH), copied on the GPU (encoded on `enc`).
 */
export function weightTexture(
  device: GPUDevice,
  enc: GPUCommandEncoder,
  inter: GPUBuffer,
  label = "weights",
): GPUTexture {
  const words = inter.size / 16;
  const W = TEXTURE_WIDTH;
  const full = Math.floor(words / W);
  const rest = words - full * W;
  const tex = device.createTexture({
    label: `${label} texture`,
    size: [W, full + (rest ? 1 : 0)],
    format: "rgba32uint",
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
  });
  if (full) {
    enc.copyBufferToTexture({ buffer: inter, bytesPerRow: W * 16 }, { texture: tex }, [W, full]);
  }
  if (rest) {
    enc.copyBufferToTexture(
      { buffer: inter, offset: full * W * 16, bytesPerRow: W * 16 },
      { texture: tex, origin: [0, full] },
      [rest, 1],
    );
  }
  return tex;
}

/** Options of {@link interleave}. */
export interface InterleaveOptions extends OpPlace {
  /** src: [R, K] f16 (packed in u32); dst: {@link interleavedBytes}, zero-filled. */
  src: GPUBuffer;
  dst: GPUBuffer;
  R: number;
  K: number;
}

/**
 * {@link interleaveF16} on the GPU (kernels/interleave_f16.wgsl), for weights that never
 * visit the host (synthetic models): K must be a multiple of 8.
 */
export function interleave(lib: KernelLibrary, o: InterleaveOptions): Dispatch {
  check(o.K % 8 === 0, `interleave: K must be a multiple of 8 (K=${o.K})`);
  check(o.dst.size >= interleavedBytes(o.R, o.K), `interleave: dst too small for ${o.R}x${o.K}`);
  const words = o.R * (o.K / 8);
  const groups = Math.ceil(words / 64);
  const x = Math.min(groups, 65535);
  return lib.dispatch(
    o.label ?? "interleave",
    lib.pipeline("interleave_f16", "f32"),
    [lib.uniform([o.R, o.K / 8, 0, 0]), o.src, o.dst],
    [x, Math.ceil(groups / x)],
    meta("interleave", "interleave_f16", o, {
      shape: `${o.R}x${o.K}`,
      bytes: 2 * words * 16,
      flops: 0,
    }),
  );
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

/**
 * The matmul_rows family: interleaved weights (k8 f16, k16 int8), one invocation per RPT rows,
 * a loop order to choose.
 */
export function isRowsVariant(v: MatmulVariant): boolean {
  return v === "rows" || v === "rows_tex" || v === "rows_ubo" || isInt8RowsVariant(v);
}

/** matmul_int8_rows and its texture and uniform-x forms. */
export function isInt8RowsVariant(v: MatmulVariant): boolean {
  return v === "int8_rows" || v === "int8_rows_tex" || v === "int8_rows_ubo";
}

/** The variants that read the chunks' weight textures ({@link weightTexture}). */
export function readsWeightTexture(v: MatmulVariant | undefined): boolean {
  return v === "rows_tex" || v === "rows_ubo" || v === "int8_rows_tex" || v === "int8_rows_ubo";
}

/** The variants that read x through a uniform binding, and their storage-x twins. */
const UBO_TWIN: Partial<Record<MatmulVariant, MatmulVariant>> = {
  rows_ubo: "rows_tex",
  int8_rows_ubo: "int8_rows_tex",
};

/**
 * Whether matmul_rows_ubo can read x for a pass of T tokens from row xRow: T <= 16 (one token
 * group, so the binding holds every row the pass reads), T * K * 4 bytes within the device's
 * uniform binding size and the rows' byte offset aligned for a uniform binding.
 */
export function uniformXFits(limits: GPUSupportedLimits, K: number, T: number, xRow = 0): boolean {
  return T <= 16 && K % 4 === 0 && T * K * F32 <= limits.maxUniformBufferBindingSize &&
    (xRow * K * F32) % limits.minUniformBufferOffsetAlignment === 0;
}

/** A matmul kernel with its tuning: TOK tokens and RPT rows per invocation. */
export interface MatmulChoice {
  variant: MatmulVariant;
  /** Tokens per workgroup (tiled kernels; default from T). */
  tok?: number;
  /** Rows per invocation (vec4, f16x8, rows, int8, int8x16; default 4, rows 1). */
  rpt?: number;
  /**
   * matmul_rows family: the loop order. true keeps each K step's x of all TOK tokens in
   * registers and streams the RPT rows; false keeps the rows' weights and streams the tokens.
   * Default TOK <= RPT. A tuned choice keeps the order it was timed with (engine/autotune.ts
   * tunedChoice): by the default, a pass of 5-8 tokens with RPT 8 ran the other order than its
   * bucket's 16-token timing, and took longer than one of 9 tokens on lavapipe (PERF.md).
   */
  xRegs?: boolean;
  /**
   * Tiled kernels (matmul_tile.wgsl): lanes splitting K, KL; the workgroup is 4 x KL. Default
   * {@link TILE_LANES}; {@link WIDE_LANES} is the tuner's candidate for a GPU.
   */
  lanes?: number;
}

/** Lanes over K of a tiled matmul workgroup by default (a workgroup of 64). */
export const TILE_LANES = 16;

/**
 * The wide tiled workgroup's lanes (256 invocations): on an H200 the 64-invocation f16x8 read
 * Pythia-2.8B's dense_4h_to_h (2560 rows of 10240) at 258 GB/s, its 160 workgroups too few to
 * keep the memory busy (PERF.md).
 */
export const WIDE_LANES = 64;

/** Whether a tiled choice's workgroup memory (4 KL x RPT x TOK partial sums) fits the device. */
export function tileFits(limits: GPUSupportedLimits, c: MatmulChoice): boolean {
  const acc = (c.rpt ?? 4) * (c.tok ?? 1);
  return 4 * (c.lanes ?? TILE_LANES) * acc * F32 <= limits.maxComputeWorkgroupStorageSize;
}

/**
 * The engine's deterministic matmul rule (the fallback of engine/autotune.ts, which measures),
 * in one place: f16 weights with a k8-interleaved copy run matmul_rows (all T <= 16 tokens per
 * invocation; 4 rows per invocation when the matrix has 256 rows or more, else 1: the fastest
 * in most shapes measured on lavapipe), int8 weights with a k16-interleaved copy
 * matmul_int8_rows alike; f16 weights with K % 8 == 0 read eight per load
 * (matmul_f16x8); float weights with K % 4 == 0 four per load (matmul_vec4); int8 weights with
 * K and group multiples of 16 sixteen per load (matmul_int8x16), other int8 matmul_int8;
 * else the tiled matmul. TOK grows with T so each weight is loaded once for TOK tokens.
 */
export function matmulChoice(
  m: Pick<Linear, "wt" | "K" | "group"> & { N?: number; chunks?: Linear["chunks"] },
  T: number,
): MatmulChoice {
  const int8 = m.wt === "int8";
  if ((m.wt === "f16" || (int8 && int8RowsFit(m))) && m.chunks?.every((c) => c.inter)) {
    const variant = int8 ? "int8_rows" : "rows";
    return { variant, tok: rowsTok(T), rpt: (m.N ?? 0) >= 256 ? 4 : 1 };
  }
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

/**
 * Tokens per workgroup of a tiled matmul for T tokens: all of them up to 8, else even groups.
 * The unrolled kernels do the work of TOK tokens whatever T is, so a pass of 2 tokens on TOK 4
 * paid for 4: on lavapipe (f16x8 RPT 4, 1024 x 1024, three runs) TOK = T took 0.75-0.93x the
 * time of TOK 4 at T = 2 and 3, and 0.64-0.86x that of TOK 8 at T = 5 and 6 (PERF.md).
 */
export function tiledTok(T: number): number {
  return Math.ceil(T / Math.ceil(T / 8));
}

/** The default TOK and RPT of a matmul variant for passes of T tokens. */
export function matmulTuning(variant: MatmulVariant, T: number): MatmulChoice {
  if (variant === "naive") return { variant };
  if (isRowsVariant(variant)) return { variant, tok: rowsTok(T), rpt: 1 };
  if (variant === "tiled") return { variant, tok: tiledTok(T) };
  return { variant, tok: tiledTok(T), rpt: 4 };
}

/** Pipeline, constants and tile (rows x tokens per workgroup) of a matmul choice. */
function matmulKernel(
  m: Pick<Linear, "wt" | "K" | "group" | "N">,
  c: MatmulChoice,
  T: number,
): {
  name: string;
  wt: WeightType;
  consts: Record<string, number>;
  rows: number;
  tok: number;
  /** matmul_rows: one invocation per RPT rows, bound to the chunks' k8-interleaved copies. */
  inter?: boolean;
  /** matmul_rows_tex and _ubo: bound to the chunks' weight textures. */
  tex?: boolean;
  /** matmul_rows_ubo: x bound as a uniform buffer of exactly T rows. */
  ubo?: boolean;
} {
  const int8 = m.wt === "int8";
  const group: Record<string, number> = int8 ? { GROUP: m.group ?? 0 } : {};
  const rpt = c.rpt ?? 4;
  const tok = c.tok ?? 1;
  const KL = c.lanes ?? TILE_LANES;
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
      return { name: "matmul", wt: m.wt, consts: { TOK: tok, RPT: 2, KL }, rows: 8, tok };
    case "vec4":
      check(!int8 && m.K % 4 === 0, `matmul_vec4 needs float weights and K % 4 == 0 (K=${m.K})`);
      return {
        name: "matmul_vec4",
        wt: m.wt,
        consts: { TOK: tok, RPT: rpt, KL },
        rows: 4 * rpt,
        tok,
      };
    case "f16x8":
      check(
        m.wt === "f16" && m.K % 8 === 0,
        `matmul_f16x8 needs f16 weights, K % 8 == 0 (K=${m.K})`,
      );
      // f16 weights as packed u32: no shader-f16 needed.
      return {
        name: "matmul_f16x8",
        wt: "f32",
        consts: { TOK: tok, RPT: rpt, KL },
        rows: 4 * rpt,
        tok,
      };
    case "int8":
      check(int8, "matmul_int8 needs int8 weights");
      return {
        name: "matmul_int8",
        wt: m.wt,
        consts: { TOK: tok, RPT: rpt, KL, ...group },
        rows: 4 * rpt,
        tok,
      };
    case "rows":
    case "rows_tex":
    case "rows_ubo":
    case "int8_rows":
    case "int8_rows_tex":
    case "int8_rows_ubo": {
      const i8 = isInt8RowsVariant(c.variant);
      check(
        i8 ? int8 && int8RowsFit(m) : m.wt === "f16",
        i8
          ? `matmul_${c.variant} needs int8 weights, K and group multiples of 16 (K=${m.K})`
          : "matmul_rows needs f16 weights (k8-interleaved)",
      );
      const ubo = UBO_TWIN[c.variant] !== undefined;
      const tex = readsWeightTexture(c.variant);
      check(!tex || m.K % 4 === 0, `${c.variant} needs K % 4 == 0 (K=${m.K})`);
      check(!ubo || T <= tok, `matmul_${c.variant} needs one token group (T=${T}, TOK=${tok})`);
      const rpt1 = c.rpt ?? 1;
      const wgs = rowsWorkgroup(Math.ceil(m.N / rpt1));
      return {
        // f16 rows of any K: matmul_rows_any reads x a float at a time
        name: i8 || tex || m.K % 4 === 0 ? `matmul_${c.variant}` : "matmul_rows_any",
        wt: "f32",
        consts: {
          TOK: tok,
          RPT: rpt1,
          WGS: wgs,
          XREGS: (c.xRegs ?? tok <= rpt1) ? 1 : 0,
          ...group,
          ...(tex ? { TEXW: TEXTURE_WIDTH } : {}),
          ...(ubo ? { XN: (T * m.K) / 4 } : {}),
        },
        rows: wgs * rpt1,
        tok,
        inter: true,
        tex,
        ubo,
      };
    }
    case "int8x16":
      check(
        int8 && int8RowsFit(m),
        `matmul_int8x16 needs int8 weights, K and group multiples of 16 (K=${m.K})`,
      );
      return {
        name: "matmul_int8x16",
        wt: "f32",
        consts: { TOK: tok, RPT: rpt, KL, ...group },
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
  const chosen: MatmulChoice = o.variant === undefined
    ? matmulChoice(m, T)
    : typeof o.variant === "string"
    ? matmulTuning(o.variant, T)
    : o.variant;
  // Where x cannot be a uniform binding (a prefill of more than 16 tokens, an unaligned row),
  // the uniform-x kernel's twin over a storage buffer runs instead.
  const twin = UBO_TWIN[chosen.variant];
  const choice: MatmulChoice = twin && !uniformXFits(lib.device.limits, m.K, T, o.xRow)
    ? { ...chosen, variant: twin }
    : chosen;
  const k = matmulKernel(m, choice, T);
  check(
    choice.lanes === undefined || tileFits(lib.device.limits, { ...choice, tok: k.tok }),
    `${k.name} KL=${choice.lanes}: partial sums exceed the workgroup memory`,
  );
  // Every kernel but the naive oracle takes its epilogue as a constant (kernels/matmul_tile.wgsl).
  const pl = lib.pipeline(
    k.name,
    k.wt,
    choice.variant === "naive" ? k.consts : { ...k.consts, FLAGS: flags },
  );
  const op = "linear";
  return m.chunks.map((c) => {
    check(c.rowStart + c.rows <= m.N, `chunk rows ${c.rowStart}+${c.rows} exceed N=${m.N}`);
    check(m.wt !== "int8" || c.scales !== undefined, "int8 chunks need their scales");
    check(!k.inter || c.inter !== undefined, `${k.name} needs the chunks' interleaved copies`);
    check(!k.tex || c.tex !== undefined, "matmul_rows_tex needs the chunks' weight textures");
    // A chunk's bias slice starts at rowStart: only a single chunk carries a bias.
    const params = lib.uniform([
      T,
      m.K,
      c.rows,
      k.ubo ? 0 : (o.xRow ?? 0) * m.K,
      o.yStride ?? m.N,
      (o.yCol ?? 0) + c.rowStart,
      flags,
      0,
    ]);
    const buffers = [
      params,
      k.ubo ? { buffer: o.x, offset: (o.xRow ?? 0) * m.K * F32, size: T * m.K * F32 } : o.x,
      k.tex ? c.tex! : k.inter ? c.inter! : c.buf,
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
