/**
 * Loading a model onto the GPU: from a Hugging Face folder (config.json +
 * model.safetensors), or as seeded synthetic weights of a real Pythia shape made on the
 * GPU itself (`synthetic:pythia-2.8b`), so Pythia-sized runs need no checkpoint.
 */
import { NeoxError } from "./errors.ts";
import { type Gpu, storageBuffer } from "./device.ts";
import { checkTensorShapes, loadConfig, type NeoxConfig } from "./config.ts";
import {
  openSafetensors,
  readTensorBytes,
  type SafetensorsFile,
  toFloat32,
} from "./safetensors.ts";
import { type Layer, layerEpilogue, type Linear, NeoxModel, type Weights } from "./model.ts";
import type { WeightType } from "../kernels/kernel.ts";
import { syntheticConfig } from "./pythia.ts";
import { int8RowsFit, INTERLEAVE_MAX_BYTES, interleaveF16, interleaveInt8 } from "./ops.ts";
import { tuneArgmax, tuneAttention, tuneFused, tuneMatmuls, tuneNorms } from "./autotune.ts";
import { persistTuning, restoreTuning, tuneCachePath } from "./tune_cache.ts";
import { rowChunks, rowsPerChunk, syntheticModel } from "./synthetic.ts";

export { syntheticModel } from "./synthetic.ts";

export { PYTHIA_CONFIGS, syntheticConfig } from "./pythia.ts";
import {
  concatInt8,
  int8Groups,
  type Int8Matrix,
  int8RowWords,
  QUANT_MODES,
  quantGroup,
  quantizeInt8,
  type QuantMode,
} from "./quantize.ts";

/** Options for loading. */
export interface LoadOptions {
  /** Keep f16 weights as f32 even when the adapter has shader-f16. */
  forceF32?: boolean;
  /** Seed of synthetic weights. */
  seed?: number;
  /**
   * Quantize every linear weight and embed_in to int8 at load (engine/quantize.ts):
   * "int8" one scale per output row, "int8-g128" one per 128 input features.
   */
  quant?: QuantMode;
  /**
   * Time the candidate matmul and attention kernels of the model's shapes on this adapter and
   * use the fastest (engine/autotune.ts; default true; needs timestamp-query, else the rule).
   * Shapes measured by an earlier process on the same adapter, core count, Deno and kernel
   * sources are read from the tuning cache instead (engine/tune_cache.ts).
   */
  tune?: boolean;
  /**
   * The tuning cache file, null for none (default: engine/tune_cache.ts tuneCachePath, from
   * NEOX_TUNE_CACHE or the user's cache folder). Tests name their own file here rather than
   * in the process environment, which test files running in parallel share.
   */
  tuneCache?: string | null;
}

export { INTERLEAVE_MAX_BYTES } from "./ops.ts";

/** Loads `spec` (a folder or `synthetic:NAME`) onto the GPU. */
export async function loadModel(
  gpu: Gpu,
  spec: string,
  opts: LoadOptions = {},
): Promise<NeoxModel> {
  if (opts.quant !== undefined && !QUANT_MODES.includes(opts.quant)) {
    throw new NeoxError(`unknown quant mode "${opts.quant}" (use ${QUANT_MODES.join(" or ")})`);
  }
  const model = spec.startsWith("synthetic:")
    ? syntheticModel(gpu, spec.slice("synthetic:".length), opts)
    : await openCheckpoint(spec).then(({ cfg, file }) => {
      checkFits(gpu, cfg, file, opts);
      return fileModel(gpu, cfg, file, spec, opts);
    });
  if (opts.tune ?? true) {
    // Choices measured by an earlier process on this adapter first: only new shapes are timed.
    const cachePath = opts.tuneCache === undefined ? tuneCachePath() : opts.tuneCache;
    await restoreTuning(gpu, cachePath);
    const { layers, embedOut } = model.weights;
    // Timed with the epilogues the passes run (engine/model.ts layerEpilogue).
    const mats = layers.flatMap((l) =>
      (l.denseOut
        ? ["queryKeyValue", "denseHTo4h", "denseOut"] as const
        : ["queryKeyValue", "dense", "denseHTo4h", "dense4hToH"] as const)
        .map((which) => ({ m: l[which]!, ...layerEpilogue(model.cfg, which) }))
    );
    model.profile = await tuneMatmuls(gpu, model.lib, [...mats, { m: embedOut }]);
    const { numHeads: H, headDim: hd, rotaryDims: rot } = model.cfg;
    await tuneAttention(gpu, model.lib, { H, hd, rot });
    if (model.cfg.parallelResidual) await tuneNorms(gpu, model.lib, model.cfg.hiddenSize);
    await tuneArgmax(gpu, model.lib, model.cfg.vocabSize);
    await tuneFused(gpu, model);
    await persistTuning(gpu, cachePath);
  }
  return model;
}

/** Reads and cross-checks config.json and the model.safetensors header (no weights read). */
async function openCheckpoint(spec: string): Promise<{ cfg: NeoxConfig; file: SafetensorsFile }> {
  const cfg = await loadConfig(spec);
  const path = `${spec.replace(/\/+$/, "")}/model.safetensors`;
  const file = await openSafetensors(path);
  checkTensorShapes(cfg, file);
  return { cfg, file };
}

/**
 * Validates a model argument on the CPU alone, before any GPU work: config.json, the
 * safetensors header and every tensor shape (or the name of a synthetic model).
 *
 * @returns the model's config
 * @throws NeoxError naming the file and the problem
 */
export async function checkModel(spec: string): Promise<NeoxConfig> {
  if (spec.startsWith("synthetic:")) return syntheticConfig(spec.slice("synthetic:".length));
  return (await openCheckpoint(spec)).cfg;
}

/**
 * Refuses a model whose weight rows cannot be bound on this adapter (linear weights are
 * uploaded in row chunks, so one row is the smallest piece), before anything is allocated.
 */
function checkFits(gpu: Gpu, cfg: NeoxConfig, file: SafetensorsFile, opts: LoadOptions): void {
  let total = 0;
  for (const t of file.tensors.values()) total += t.end - t.begin;
  const K = Math.max(cfg.hiddenSize, cfg.intermediateSize);
  const f16 = file.tensors.get("embed_out.weight")?.dtype === "F16" && gpu.hasF16 &&
    !opts.forceF32;
  const rowBytes = (quant: boolean) => quant ? int8RowWords(K) * 4 : K * (f16 ? 2 : 4);
  const row = rowBytes(opts.quant !== undefined);
  if (row > gpu.maxBindingBytes) {
    const hint = !opts.quant && rowBytes(true) <= gpu.maxBindingBytes ? " (try --quant int8)" : "";
    throw new NeoxError(
      `${file.path}: the weights (${total} bytes) do not fit this adapter: one weight row of ` +
        `${K} values needs ${row} bytes, the adapter binds at most ${gpu.maxBindingBytes}${hint}`,
    );
  }
}

/** Uploads an int8 matrix [N, K] as row chunks (packed rows + their scales) that fit a binding. */
function int8Chunks(
  gpu: Gpu,
  label: string,
  m: Int8Matrix,
  shape: { N: number; K: number; group: number; interleave: boolean },
): Linear["chunks"] {
  const { N, K, group } = shape;
  const words = int8RowWords(K);
  const G = int8Groups(K, group);
  // As f16 matrices get a k8-interleaved copy for matmul_rows: a k16 one for matmul_int8_rows.
  const inter = shape.interleave && int8RowsFit({ K, group });
  return rowChunks(gpu, N, words * 4, 1, (r, rows) => {
    const packed = m.packed.subarray(r * words, (r + rows) * words);
    return {
      buf: storageBuffer(gpu, 0, `${label}[${r}:]`, packed),
      scales: storageBuffer(
        gpu,
        0,
        `${label}.scales[${r}:]`,
        m.scales.subarray(r * G, (r + rows) * G),
      ),
      rowStart: r,
      rows,
      ...(inter
        ? { inter: storageBuffer(gpu, 0, `${label}[${r}:] k16`, interleaveInt8(packed, rows, K)) }
        : {}),
    };
  });
}

async function fileModel(
  gpu: Gpu,
  cfg: NeoxConfig,
  file: SafetensorsFile,
  source: string,
  opts: LoadOptions,
): Promise<NeoxModel> {
  const f32Buffer = async (name: string): Promise<GPUBuffer> => {
    const t = file.tensors.get(name)!;
    return storageBuffer(gpu, 0, name, toFloat32(t.dtype, await readTensorBytes(file, name)));
  };
  let fileBytes = 0;
  for (const t of file.tensors.values()) fileBytes += t.end - t.begin;
  const interleave = fileBytes <= INTERLEAVE_MAX_BYTES;
  const linear = async (name: string, hasBias: boolean, mm = true): Promise<Linear> => {
    const t = file.tensors.get(`${name}.weight`)!;
    const [N, K] = t.shape;
    const raw = await readTensorBytes(file, `${name}.weight`);
    if (opts.quant) {
      const group = quantGroup(opts.quant);
      const q = quantizeInt8(toFloat32(t.dtype, raw), N, K, group);
      const chunks = int8Chunks(gpu, name, q, { N, K, group, interleave: mm && interleave });
      const bias = hasBias ? await f32Buffer(`${name}.bias`) : null;
      return { N, K, wt: "int8", group, chunks, bias };
    }
    const keepF16 = t.dtype === "F16" && gpu.hasF16 && !opts.forceF32;
    const wt: WeightType = keepF16 ? "f16" : "f32";
    const data = keepF16 ? raw : new Uint8Array(toFloat32(t.dtype, raw).buffer);
    const bpw = keepF16 ? 2 : 4;
    const chunks = rowChunks(gpu, N, K, bpw, (r, rows) => {
      const bytes = data.subarray(r * K * bpw, (r + rows) * K * bpw);
      const buf = storageBuffer(gpu, rows * K * bpw, `${name}[${r}:]`, bytes);
      if (!(keepF16 && mm && interleave)) return { buf, rowStart: r, rows };
      const bits = new Uint16Array(bytes.slice().buffer, 0, rows * K);
      const inter = storageBuffer(gpu, 0, `${name}[${r}:] k8`, interleaveF16(bits, rows, K));
      return { buf, rowStart: r, rows, inter };
    });
    const bias = hasBias ? await f32Buffer(`${name}.bias`) : null;
    return { N, K, wt, chunks, bias };
  };
  const norm = async (name: string) => ({
    weight: await f32Buffer(`${name}.weight`),
    bias: await f32Buffer(`${name}.bias`),
  });
  const f16Bits = async (name: string) => {
    const raw = await readTensorBytes(file, name);
    return new Uint16Array(raw.slice().buffer, 0, raw.byteLength / 2);
  };
  const f32Data = async (name: string) =>
    toFloat32(file.tensors.get(name)!.dtype, await readTensorBytes(file, name));
  /**
   * Layer.denseOut: [dense | dense_4h_to_h] as one matrix [d, d + ff] in one chunk, f16, or
   * int8 quantized as the two parts are (engine/quantize.ts concatInt8) where matmul_int8_rows
   * can run it.
   */
  const denseOut = async (p: string): Promise<Linear | undefined> => {
    const [da, db] = [`${p}.attention.dense`, `${p}.mlp.dense_4h_to_h`];
    const a = file.tensors.get(`${da}.weight`)!;
    const b = file.tensors.get(`${db}.weight`)!;
    const f16 = a.dtype === "F16" && b.dtype === "F16" && gpu.hasF16 && !opts.forceF32;
    if (!cfg.parallelResidual || !interleave || !(opts.quant || f16)) return undefined;
    const [N, Ka] = a.shape;
    const Kb = b.shape[1];
    const K = Ka + Kb;
    const name = `${p}.dense+dense_4h_to_h`;
    const biasBuffer = async () => {
      const bias = await f32Data(`${db}.bias`);
      if (cfg.attentionBias) {
        const ba = await f32Data(`${da}.bias`);
        for (let n = 0; n < N; n++) bias[n] = Math.fround(bias[n] + ba[n]);
      }
      return storageBuffer(gpu, 0, `${name}.bias`, bias);
    };
    if (opts.quant) {
      const g = quantGroup(opts.quant);
      const q = concatInt8(
        quantizeInt8(await f32Data(`${da}.weight`), N, Ka, g),
        Ka,
        quantizeInt8(await f32Data(`${db}.weight`), N, Kb, g),
        Kb,
        N,
        g,
      );
      if (!q || !int8RowsFit({ K, group: q.group })) return undefined;
      if (rowsPerChunk(gpu, int8RowWords(K) * 4, 1) < N) return undefined;
      const chunks = int8Chunks(gpu, name, q.m, { N, K, group: q.group, interleave: true });
      return { N, K, wt: "int8", group: q.group, chunks, bias: await biasBuffer() };
    }
    if (rowsPerChunk(gpu, K, 2) < N) return undefined;
    const [wa, wb] = [await f16Bits(`${da}.weight`), await f16Bits(`${db}.weight`)];
    const bits = new Uint16Array(N * K);
    for (let n = 0; n < N; n++) {
      bits.set(wa.subarray(n * Ka, (n + 1) * Ka), n * K);
      bits.set(wb.subarray(n * Kb, (n + 1) * Kb), n * K + Ka);
    }
    return {
      N,
      K,
      wt: "f16",
      chunks: [{
        buf: storageBuffer(gpu, 0, name, bits),
        rowStart: 0,
        rows: N,
        inter: storageBuffer(gpu, 0, `${name} k8`, interleaveF16(bits, N, K)),
      }],
      bias: await biasBuffer(),
    };
  };
  const layers: Layer[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `gpt_neox.layers.${i}`;
    layers.push({
      inputLayernorm: await norm(`${p}.input_layernorm`),
      postAttentionLayernorm: await norm(`${p}.post_attention_layernorm`),
      queryKeyValue: await linear(`${p}.attention.query_key_value`, cfg.attentionBias),
      dense: await linear(`${p}.attention.dense`, cfg.attentionBias),
      denseHTo4h: await linear(`${p}.mlp.dense_h_to_4h`, true),
      dense4hToH: await linear(`${p}.mlp.dense_4h_to_h`, true),
      denseOut: await denseOut(p),
    });
  }
  const weights: Weights = {
    embedIn: await linear("gpt_neox.embed_in", false, false),
    layers,
    finalLayerNorm: await norm("gpt_neox.final_layer_norm"),
    embedOut: await linear("embed_out", false),
  };
  return new NeoxModel(gpu, cfg, weights, source);
}
