/**
 * Writes Hugging Face style GPT-NeoX checkpoints for tests: a minimal safetensors writer
 * (F32 or F16) and a random model folder (config.json + model.safetensors) whose weights
 * come from a seeded stream, in either config.json form.
 */

import { f32ToF16Bits } from "../engine/safetensors.ts";
import { type NeoxConfig, parseConfig, requiredTensors } from "../engine/config.ts";
import { seededRandom } from "./seeded_random.ts";

/** One tensor to write: HF name, shape (outermost first) and row-major values. */
export interface TensorToWrite {
  name: string;
  shape: number[];
  data: ArrayLike<number>;
}

/** Element type of a written file. */
export type WriteDType = "F32" | "F16";

/**
 * Encodes tensors as one safetensors file: u64 header length, JSON header padded with
 * spaces to a multiple of 8 bytes, then the data section in the order given.
 */
export function encodeSafetensors(
  tensors: TensorToWrite[],
  opts: { dtype: WriteDType; metadata?: Record<string, string> },
): Uint8Array {
  const bpe = opts.dtype === "F32" ? 4 : 2;
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = opts.metadata;
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`${t.name}: shape [${t.shape}] holds ${count} values, got ${t.data.length}`);
    }
    header[t.name] = {
      dtype: opts.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + count * bpe],
    };
    offset += count * bpe;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++, at += bpe) {
      if (opts.dtype === "F32") dv.setFloat32(at, t.data[i], true);
      else dv.setUint16(at, f32ToF16Bits(t.data[i]), true);
    }
  }
  return out;
}

/** Writes `tensors` to `path` as a safetensors file. */
export async function writeSafetensors(
  path: string,
  tensors: TensorToWrite[],
  opts: { dtype: WriteDType; metadata?: Record<string, string> },
): Promise<void> {
  await Deno.writeFile(path, encodeSafetensors(tensors, opts));
}

/** Shape and semantics of a random NeoX checkpoint. */
export interface RandomNeoxSpec {
  hiddenSize: number;
  numHeads: number;
  numLayers: number;
  intermediateSize: number;
  vocabSize: number;
  /** Fraction of each head's dims that get rotary. */
  rotaryPct: number;
  rotaryBase: number;
  parallelResidual: boolean;
  attentionBias: boolean;
  /** config.json hidden_act, e.g. "gelu" or "gelu_new". */
  hiddenAct: string;
  /** "classic": rotary_pct / rotary_emb_base; "rope_parameters": the transformers 5 form. */
  configForm: "classic" | "rope_parameters";
  dtype: WriteDType;
  seed: number;
  /** Standard deviation of the linear and embedding weights. */
  weightStd: number;
  /** Also write tensors the loader must ignore (rotary_emb.inv_freq, attention.bias). */
  extraTensors?: boolean;
}

/** The config.json object of a spec, in the spec's config form. */
export function neoxConfigJson(spec: RandomNeoxSpec): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architectures: ["GPTNeoXForCausalLM"],
    model_type: "gpt_neox",
    hidden_size: spec.hiddenSize,
    num_attention_heads: spec.numHeads,
    num_hidden_layers: spec.numLayers,
    intermediate_size: spec.intermediateSize,
    vocab_size: spec.vocabSize,
    hidden_act: spec.hiddenAct,
    use_parallel_residual: spec.parallelResidual,
    attention_bias: spec.attentionBias,
    layer_norm_eps: 1e-5,
    max_position_embeddings: 2048,
    tie_word_embeddings: false,
    bos_token_id: 0,
    eos_token_id: 0,
    dtype: spec.dtype === "F32" ? "float32" : "float16",
  };
  if (spec.configForm === "classic") {
    json.rotary_pct = spec.rotaryPct;
    json.rotary_emb_base = spec.rotaryBase;
  } else {
    json.rope_parameters = {
      partial_rotary_factor: spec.rotaryPct,
      rope_theta: spec.rotaryBase,
      rope_type: "default",
    };
  }
  return json;
}

/**
 * Writes `dir/config.json` and `dir/model.safetensors` of a random GPT-NeoX model:
 * layer norm weights 1 + N(0, 0.1^2), biases N(0, 0.1^2), every other tensor
 * N(0, weightStd^2), drawn in the order of {@link requiredTensors}.
 *
 * @returns the parsed config
 */
export async function writeRandomNeox(dir: string, spec: RandomNeoxSpec): Promise<NeoxConfig> {
  const json = neoxConfigJson(spec);
  const cfg = parseConfig(json, `${dir}/config.json`);
  const rnd = seededRandom(spec.seed);
  const tensors: TensorToWrite[] = requiredTensors(cfg).map(({ name, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNorm = name.includes("layernorm") || name.includes("layer_norm");
    const data = !isNorm
      ? rnd.normals(n, name.endsWith(".bias") ? 0.1 : spec.weightStd)
      : name.endsWith(".weight")
      ? rnd.normals(n, 0.1, 1)
      : rnd.normals(n, 0.1);
    return { name, shape, data };
  });
  if (spec.extraTensors) {
    const half = cfg.rotaryDims / 2;
    for (let l = 0; l < cfg.numLayers; l++) {
      const p = `gpt_neox.layers.${l}.attention.`;
      tensors.push({
        name: `${p}rotary_emb.inv_freq`,
        shape: [half],
        data: new Float32Array(half),
      });
      tensors.push({ name: `${p}masked_bias`, shape: [], data: [-1e4] });
    }
  }
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json, null, 2));
  await writeSafetensors(`${dir}/model.safetensors`, tensors, {
    dtype: spec.dtype,
    metadata: { format: "pt" },
  });
  return cfg;
}
