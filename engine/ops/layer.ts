/** decode_layer: a whole parallel-residual layer of a one-token pass in one dispatch. */
import { type Dispatch, type KernelLibrary } from "../../kernels/kernel.ts";
import { check, F32, meta, type OpPlace } from "./common.ts";
import { type Linear, LINEAR_FLAGS } from "./linear.ts";

/**
 * The flag bits of decode_layer.wgsl and decode_layer_split.wgsl beside the activation bits of
 * {@link LINEAR_FLAGS}.
 */
const LAYER_FLAGS = { embed: 16, final: 32, finish: 64 } as const;

/**
 * Workgroups a layer of a one-token pass is split over (decode_layer_split), as tuned beside
 * decode_layer's one (engine/autotune.ts tuneFused): 2 fills a 2-core software adapter, 4 one
 * of 4 cores or a GPU's first few.
 */
export const LAYER_GROUPS = [2, 4] as const;

/** Most workgroups a split layer runs: the size of a sequence's part buffers. */
export const MAX_LAYER_GROUPS = 4;

/** Invocations of decode_layer's one workgroup. */
export const DECODE_LAYER_WGS = 128;

/** The shape decode_layer is built for. */
export interface DecodeLayerShape {
  /** Hidden size, mlp width, heads, head dim, rotary dims, cache slots. */
  d: number;
  ff: number;
  H: number;
  hd: number;
  rot: number;
  C: number;
}

/** Bytes of decode_layer's workgroup memory for a shape. */
export function decodeLayerSharedBytes(s: DecodeLayerShape): number {
  return F32 * (s.d * 2 + 2 * s.d + 3 * s.d + s.d + s.ff + s.H * s.C + 2 * s.H + 2);
}

/** Storage buffers decode_layer binds. */
export const DECODE_LAYER_STORAGE_BUFFERS = 20;

/**
 * Whether decode_layer can run a layer of this shape on this device: f16 single-chunk
 * matrices (the layer's with biases; then the embedding), d and ff multiples of 8, hd of 4,
 * even rot, its workgroup memory and storage bindings within the device's limits.
 */
export function decodeLayerFits(
  limits: GPUSupportedLimits,
  s: DecodeLayerShape,
  mats: Linear[],
  embed?: Linear,
  groups = 1,
): boolean {
  const f16 = (m: Linear) => m.wt === "f16" && m.chunks.length === 1;
  const split = groups === 1 || (s.hd % 8 === 0 && groups <= MAX_LAYER_GROUPS);
  return split && s.d % 8 === 0 && s.ff % 8 === 0 && s.hd % 4 === 0 && s.rot % 2 === 0 &&
    s.rot <= s.hd && s.H * s.hd === s.d &&
    mats.every((m) => f16(m) && m.bias !== null) && (!embed || f16(embed)) &&
    decodeLayerSharedBytes(s) <= limits.maxComputeWorkgroupStorageSize &&
    DECODE_LAYER_STORAGE_BUFFERS <= limits.maxStorageBuffersPerShaderStage;
}

/** Options of {@link decodeLayer}. */
export interface DecodeLayerOptions extends OpPlace, DecodeLayerShape {
  eps: number;
  act: "gelu" | "gelu_tanh";
  state: GPUBuffer;
  tokens: GPUBuffer;
  /** Layer 0: x = embed_in[tokens[tokenPos]] first (f16 [V, d], one chunk). */
  embed?: Linear;
  /** x: [d] f32, the residual stream (read unless `embed`, written). */
  x: GPUBuffer;
  ln1: { weight: GPUBuffer; bias: GPUBuffer };
  ln2: { weight: GPUBuffer; bias: GPUBuffer };
  qkv: Linear;
  h4h: Linear;
  /** [dense | dense_4h_to_h] side by side: [d, d + ff] (engine/model.ts Layer.denseOut). */
  out: Linear;
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  cosSin: GPUBuffer;
  /** Last layer: y = final_layer_norm(x) too. */
  final?: { norm: { weight: GPUBuffer; bias: GPUBuffer }; y: GPUBuffer };
}

/**
 * One parallel-residual layer of a pass of one token (kernels/decode_layer.wgsl): what
 * layernorm_pair, query_key_value, rotary+kv_append, attention, dense_h_to_4h and
 * dense+dense_4h_to_h do, in one workgroup, optionally with embed_in before and
 * final_layer_norm after.
 */
export function decodeLayer(lib: KernelLibrary, o: DecodeLayerOptions): Dispatch {
  const pl = layerPipeline(lib, "decode_layer", o, 1);
  const flags = layerFlags(o) | (o.final ? LAYER_FLAGS.final : 0);
  return lib.dispatch(
    o.label ?? "decode_layer",
    pl,
    [
      lib.uniform([o.C, flags, o.eps, 1 / Math.sqrt(o.hd)], [2, 3]),
      o.state,
      o.tokens,
      // Unused bindings take buffers already bound read-only (the zero buffer is the only
      // stand-in for a writable one: a buffer may not be both in one dispatch).
      o.embed?.chunks[0].buf ?? o.ln1.weight,
      o.x,
      ...layerWeights(o, o.ln1),
      o.out.bias!,
      o.kCache,
      o.vCache,
      o.cosSin,
      o.final?.norm.weight ?? o.ln1.weight,
      o.final?.norm.bias ?? o.ln1.bias,
      o.final?.y ?? lib.zero(),
    ],
    [1],
    layerMeta("decode_layer", o),
  );
}

/** The checked pipeline of decode_layer or decode_layer_split (G workgroups) for o's shape. */
function layerPipeline(
  lib: KernelLibrary,
  kernel: "decode_layer" | "decode_layer_split",
  o: DecodeLayerShape & Pick<DecodeLayerOptions, "qkv" | "h4h" | "out" | "embed">,
  groups: number,
): GPUComputePipeline {
  const { d, ff, H, hd, rot, C } = o;
  check(
    decodeLayerFits(lib.device.limits, o, [o.qkv, o.h4h, o.out], o.embed, groups),
    `${kernel} does not fit d=${d} ff=${ff} H=${H} hd=${hd} rot=${rot} C=${C} G=${groups}`,
  );
  check(o.out.K === d + ff && o.out.N === d, `${kernel} needs the fused [d, d + ff] output`);
  const consts = { D: d, FF: ff, H, HD: hd, ROT: rot, CAP: C, WGS: DECODE_LAYER_WGS };
  return lib.pipeline(kernel, "f32", groups === 1 ? consts : { ...consts, G: groups });
}

/** The norms and matrices both kernels bind in the same order (ln1: the first norm bound). */
function layerWeights(
  o: Pick<DecodeLayerOptions, "ln2" | "qkv" | "h4h" | "out">,
  ln1: { weight: GPUBuffer; bias: GPUBuffer },
): GPUBuffer[] {
  return [
    ln1.weight,
    ln1.bias,
    o.ln2.weight,
    o.ln2.bias,
    o.qkv.chunks[0].buf,
    o.qkv.bias!,
    o.h4h.chunks[0].buf,
    o.h4h.bias!,
    o.out.chunks[0].buf,
  ];
}

function layerFlags(o: Pick<DecodeLayerOptions, "act" | "embed">): number {
  return (o.act === "gelu" ? LINEAR_FLAGS.gelu : LINEAR_FLAGS.geluTanh) |
    (o.embed ? LAYER_FLAGS.embed : 0);
}

/** A whole layer's metadata: its weights read once, its attention per cached entry. */
function layerMeta(
  kernel: string,
  o: OpPlace & DecodeLayerShape,
): ReturnType<typeof meta> {
  const { d, ff, H, hd, rot } = o;
  const params = (3 * d + ff) * d + d * (d + ff);
  return meta(o.label ?? "decode_layer", kernel, o, {
    shape: `1x${d}, ff ${ff}, ${H}x${hd} rot ${rot}`,
    bytes: params * 2 + 2 * H * hd * F32,
    flops: 2 * params,
    perCachedEntry: { bytes: 2 * H * hd * F32 + rot * F32, flops: H * (4 * hd + 3 * rot + 4) },
  });
}

/** Options of {@link decodeLayerSplit}. */
export interface DecodeLayerSplitOptions extends Omit<DecodeLayerOptions, "x" | "final"> {
  /** Workgroups (2..MAX_LAYER_GROUPS): heads and mlp rows split between them. */
  groups: number;
  /** Layer > 0: x of the previous layer, its parts [groups, d] and its output bias (read). */
  prev?: { x: GPUBuffer; parts: GPUBuffer; bias: GPUBuffer };
  /** This layer's x (written; the next layer's prev.x). */
  xOut: GPUBuffer;
  /** This layer's parts [groups, d] (written). */
  parts: GPUBuffer;
  /**
   * After the last layer (`prev` is it; this layer's weights and caches are bound, unused):
   * xOut = norm(x), one workgroup.
   */
  finish?: { weight: GPUBuffer; bias: GPUBuffer };
}

/**
 * One parallel-residual layer of a pass of one token in `groups` workgroups
 * (kernels/decode_layer_split.wgsl), each a share of the heads and mlp rows writing its part of
 * the layer's output; the next layer (or `finish`) adds the parts to the residual stream.
 */
export function decodeLayerSplit(lib: KernelLibrary, o: DecodeLayerSplitOptions): Dispatch {
  const pl = layerPipeline(lib, "decode_layer_split", o, o.groups);
  const flags = layerFlags(o) | (o.finish ? LAYER_FLAGS.finish : 0);
  // Unused read-only bindings take a buffer already bound read-only.
  const stand = o.ln1.weight;
  return lib.dispatch(
    o.label ?? (o.finish ? "residual+final_layer_norm" : "decode_layer"),
    pl,
    [
      lib.uniform([o.C, flags, o.eps, 1 / Math.sqrt(o.hd)], [2, 3]),
      o.state,
      o.tokens,
      o.embed?.chunks[0].buf ?? stand,
      o.prev?.x ?? stand,
      o.prev?.parts ?? stand,
      o.prev?.bias ?? stand,
      o.xOut,
      o.parts,
      ...layerWeights(o, o.finish ?? o.ln1),
      o.kCache,
      o.vCache,
      o.cosSin,
    ],
    [o.finish ? 1 : o.groups],
    o.finish
      ? meta("residual+final_layer_norm", "decode_layer_split", o, {
        shape: `1x${o.d} + ${o.groups} parts`,
        bytes: (o.groups + 4) * o.d * F32,
        flops: (o.groups + 8) * o.d,
      })
      : layerMeta("decode_layer_split", o),
  );
}
