/** decode_layer: a whole parallel-residual layer of a one-token pass in one dispatch. */
import { type Dispatch, type KernelLibrary } from "../../kernels/kernel.ts";
import { check, F32, meta, type OpPlace } from "./common.ts";
import { type Linear, LINEAR_FLAGS } from "./linear.ts";

/** The flag bits of decode_layer.wgsl beside the activation bits of {@link LINEAR_FLAGS}. */
const LAYER_FLAGS = { embed: 16, final: 32 } as const;

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
): boolean {
  const f16 = (m: Linear) => m.wt === "f16" && m.chunks.length === 1;
  return s.d % 8 === 0 && s.ff % 8 === 0 && s.hd % 4 === 0 && s.rot % 2 === 0 &&
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
  const { d, ff, H, hd, rot, C } = o;
  check(
    decodeLayerFits(lib.device.limits, o, [o.qkv, o.h4h, o.out], o.embed),
    `decode_layer does not fit d=${d} ff=${ff} H=${H} hd=${hd} rot=${rot} C=${C}`,
  );
  check(o.out.K === d + ff && o.out.N === d, "decode_layer needs the fused [d, d + ff] output");
  const flags = (o.act === "gelu" ? LINEAR_FLAGS.gelu : LINEAR_FLAGS.geluTanh) |
    (o.embed ? LAYER_FLAGS.embed : 0) | (o.final ? LAYER_FLAGS.final : 0);
  const pl = lib.pipeline("decode_layer", "f32", {
    D: d,
    FF: ff,
    H,
    HD: hd,
    ROT: rot,
    CAP: C,
    WGS: DECODE_LAYER_WGS,
  });
  const params = (3 * d + ff) * d + d * (d + ff);
  return lib.dispatch(
    o.label ?? "decode_layer",
    pl,
    [
      lib.uniform([C, flags, o.eps, 1 / Math.sqrt(hd)], [2, 3]),
      o.state,
      o.tokens,
      // Unused bindings take buffers already bound read-only (the zero buffer is the only
      // stand-in for a writable one: a buffer may not be both in one dispatch).
      o.embed?.chunks[0].buf ?? o.ln1.weight,
      o.x,
      o.ln1.weight,
      o.ln1.bias,
      o.ln2.weight,
      o.ln2.bias,
      o.qkv.chunks[0].buf,
      o.qkv.bias!,
      o.h4h.chunks[0].buf,
      o.h4h.bias!,
      o.out.chunks[0].buf,
      o.out.bias!,
      o.kCache,
      o.vCache,
      o.cosSin,
      o.final?.norm.weight ?? o.ln1.weight,
      o.final?.norm.bias ?? o.ln1.bias,
      o.final?.y ?? lib.zero(),
    ],
    [1],
    meta("decode_layer", "decode_layer", o, {
      shape: `1x${d}, ff ${ff}, ${H}x${hd} rot ${rot}`,
      bytes: params * 2 + 2 * H * hd * F32,
      flops: 2 * params,
      perCachedEntry: { bytes: 2 * H * hd * F32 + rot * F32, flops: H * (4 * hd + 3 * rot + 4) },
    }),
  );
}
