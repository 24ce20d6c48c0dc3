/**
 * Seeded synthetic weights of a real Pythia shape, generated on the GPU itself (no host
 * copy, no checkpoint). Free of Deno and of file reading, so the report's in-browser
 * measurement bundles it without engine/load.ts and its safetensors reader.
 */
import { type Gpu, storageBuffer } from "./device.ts";
import { type Layer, type Linear, NeoxModel, type Weights } from "./model.ts";
import { encodeDispatches, KernelLibrary, type WeightType } from "../kernels/kernel.ts";
import {
  fill as fillOp,
  int8RowsFit,
  interleave,
  INTERLEAVE_MAX_BYTES,
  interleavedBytes,
} from "./ops.ts";
import { syntheticConfig } from "./pythia.ts";
import { concatGroup, int8Groups, int8RowWords, quantGroup, type QuantMode } from "./quantize.ts";

/** Options of a synthetic model (a subset of engine/load.ts LoadOptions). */
export interface SyntheticOptions {
  /** Keep weights f32 even when the adapter has shader-f16. */
  forceF32?: boolean;
  /** Seed of the weights. */
  seed?: number;
  /** Quantize every linear weight and embed_in to int8 (engine/quantize.ts). */
  quant?: QuantMode;
}

/** Rows of a [N, K] matrix with `bytesPerWeight` per value that fit one binding. */
export function rowsPerChunk(gpu: Gpu, K: number, bytesPerWeight: number): number {
  return Math.max(1, Math.floor(gpu.maxBindingBytes / (K * bytesPerWeight)));
}

/**
 * The chunks of an [N, K] matrix, each as many rows as fit one binding (`bytesPerWeight` per
 * value): `make(r, rows)` for rows [r, r + rows).
 */
export function rowChunks<C>(
  gpu: Gpu,
  N: number,
  K: number,
  bytesPerWeight: number,
  make: (r: number, rows: number) => C,
): C[] {
  const per = rowsPerChunk(gpu, K, bytesPerWeight);
  const chunks: C[] = [];
  for (let r = 0; r < N; r += per) chunks.push(make(r, Math.min(per, N - r)));
  return chunks;
}

/** Seeded random weights of a Pythia shape, generated on the GPU (no host copy). */
export function syntheticModel(gpu: Gpu, name: string, opts: SyntheticOptions = {}): NeoxModel {
  const cfg = syntheticConfig(name);
  const lib = new KernelLibrary(gpu.device);
  const wt: WeightType = opts.quant ? "int8" : gpu.hasF16 && !opts.forceF32 ? "f16" : "f32";
  const group = opts.quant ? quantGroup(opts.quant) : 0;
  let seed = (opts.seed ?? 1234) >>> 0;
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  const fill = (
    count: number,
    type: WeightType,
    scale: number,
    offset: number,
    label: string,
  ): GPUBuffer => {
    const perWord = type === "int8" ? 4 : type === "f16" ? 2 : 1;
    const out = storageBuffer(gpu, (count * 4) / perWord, label);
    encodeDispatches(pass, [fillOp(lib, { label, out, count, type, seed: seed++, scale, offset })]);
    return out;
  };
  const d = cfg.hiddenSize;
  const std = 0.02 * Math.sqrt(3);
  const ff = cfg.intermediateSize;
  // f16 weights up to INTERLEAVE_MAX_BYTES get the layout and fused matrix a checkpoint of that
  // size gets, so that a synthetic shape runs the kernels a real one would.
  const f16Bytes = 2 * (cfg.numLayers * (4 * d * d + 2 * d * ff) + 2 * cfg.vocabSize * d);
  const interleaved = wt === "f16" && f16Bytes <= INTERLEAVE_MAX_BYTES;
  const int8Interleaved = wt === "int8" && f16Bytes <= INTERLEAVE_MAX_BYTES;
  const linear = (
    N: number,
    K: number,
    label: string,
    bias: boolean,
    mm = true,
    g = group,
  ): Linear => {
    if (wt === "int8") {
      // q uniform in [-127, 127] times scales near std/127: weights near uniform(-std, std)
      const words = int8RowWords(K);
      const G = int8Groups(K, g);
      const chunks = rowChunks(gpu, N, words * 4, 1, (r, rows) => {
        const buf = fill(rows * words * 4, "int8", 0, 0, `${label}[${r}:]`);
        const scales = fill(rows * G, "f32", 0.1 * std / 127, std / 127, `${label}.scales[${r}:]`);
        if (!(int8Interleaved && mm && int8RowsFit({ K, group: g }))) {
          return { buf, scales, rowStart: r, rows };
        }
        // As a checkpoint quantized at load (engine/load.ts): a k16-interleaved copy for
        // matmul_int8_rows, the interleave kernel moving 16-byte words (8 halves: K / 2).
        const inter = storageBuffer(gpu, interleavedBytes(rows, K / 2), `${label}[${r}:] k16`);
        encodeDispatches(pass, [interleave(lib, { src: buf, dst: inter, R: rows, K: K / 2 })]);
        return { buf, scales, rowStart: r, rows, inter };
      });
      const b = bias ? fill(N, "f32", std, 0, `${label}.bias`) : null;
      return { N, K, wt, group: g, chunks, bias: b };
    }
    const chunks = rowChunks(gpu, N, K, wt === "f16" ? 2 : 4, (r, rows) => {
      const buf = fill(rows * K, wt, std, 0, `${label}[${r}:]`);
      if (!(interleaved && mm && K % 8 === 0)) return { buf, rowStart: r, rows };
      // As a small f16 checkpoint loads (engine/load.ts): a k8-interleaved copy for matmul_rows.
      const inter = storageBuffer(gpu, interleavedBytes(rows, K), `${label}[${r}:] k8`);
      encodeDispatches(pass, [interleave(lib, { src: buf, dst: inter, R: rows, K })]);
      return { buf, rowStart: r, rows, inter };
    });
    return { N, K, wt, chunks, bias: bias ? fill(N, "f32", std, 0, `${label}.bias`) : null };
  };
  const norm = (label: string) => ({
    weight: fill(d, "f32", 0.1, 1, `${label}.weight`),
    bias: fill(d, "f32", 0.02, 0, `${label}.bias`),
  });
  // [dense | dense_4h_to_h] as a checkpoint of this size loads it: f16, or int8 with the group
  // engine/quantize.ts concatInt8 gives it, where matmul_int8_rows runs it.
  const outGroup = wt === "int8" ? concatGroup(d, ff, group) : 0;
  const fusedOut = cfg.parallelResidual &&
    (interleaved
      ? rowsPerChunk(gpu, d + ff, 2) >= d
      : int8Interleaved && outGroup !== null && int8RowsFit({ K: d + ff, group: outGroup }) &&
        rowsPerChunk(gpu, int8RowWords(d + ff) * 4, 1) >= d);
  const layers: Layer[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    layers.push({
      inputLayernorm: norm(`input_layernorm.${i}`),
      postAttentionLayernorm: norm(`post_attention_layernorm.${i}`),
      queryKeyValue: linear(3 * d, d, `query_key_value.${i}`, true),
      dense: linear(d, d, `dense.${i}`, true),
      denseHTo4h: linear(cfg.intermediateSize, d, `dense_h_to_4h.${i}`, true),
      dense4hToH: linear(d, cfg.intermediateSize, `dense_4h_to_h.${i}`, true),
      // [dense | dense_4h_to_h] as one [d, d + ff] matrix (engine/model.ts uses it whenever
      // present): its own random weights, as random as the two it stands for.
      ...(fusedOut
        ? { denseOut: linear(d, d + ff, `dense+dense_4h_to_h.${i}`, true, true, outGroup!) }
        : {}),
    });
  }
  const weights: Weights = {
    embedIn: linear(cfg.vocabSize, d, "embed_in", false, false),
    layers,
    finalLayerNorm: norm("final_layer_norm"),
    embedOut: linear(cfg.vocabSize, d, "embed_out", false),
  };
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  return new NeoxModel(gpu, cfg, weights, `synthetic:${name}`, lib);
}
