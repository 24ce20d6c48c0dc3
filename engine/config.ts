/**
 * GPT-NeoX config.json parsing (classic Pythia and transformers 5 forms), the list of
 * tensors a model needs, and the check of a safetensors file against it.
 */

import { NeoxError } from "./errors.ts";
import type { SafetensorsFile } from "./safetensors.ts";

/** The model hyperparameters the engine uses, resolved with HF GPTNeoXConfig defaults. */
export interface NeoxConfig {
  /** Model width d. */
  hiddenSize: number;
  /** Number of transformer layers L. */
  numLayers: number;
  /** Attention heads H. */
  numHeads: number;
  /** Per-head width hd = d / H. */
  headDim: number;
  /** MLP width ff. */
  intermediateSize: number;
  /** Rows of embed_in / embed_out (may exceed the tokenizer's vocabulary). */
  vocabSize: number;
  /** rotary dims = int(headDim * rotary_pct) as HF computes it */
  rotaryDims: number;
  /** Rotary base theta. */
  rotaryBase: number;
  /** max_position_embeddings (informational: HF does not cap positions with it). */
  maxPositions: number;
  /** LayerNorm epsilon. */
  layerNormEps: number;
  /** x + attn(ln1(x)) + mlp(ln2(x)) when true; sequential residuals when false. */
  parallelResidual: boolean;
  /** "gelu" (exact erf) or "gelu_tanh" (for hidden_act gelu_new / gelu_fast / gelu_pytorch_tanh) */
  activation: "gelu" | "gelu_tanh";
  /** Whether query_key_value and attention.dense have biases. */
  attentionBias: boolean;
  /** End-of-sequence token (the first one when config.json lists several), or null. */
  eosTokenId: number | null;
  /** Beginning-of-sequence token, or null. */
  bosTokenId: number | null;
}

/** hidden_act values HF maps to the exact erf GELU. */
const ERF_GELU = new Set(["gelu", "gelu_python"]);
/** hidden_act values HF maps to the tanh approximation of GELU. */
const TANH_GELU = new Set(["gelu_new", "gelu_fast", "gelu_pytorch_tanh"]);

/**
 * Validates a parsed config.json and resolves it to a {@link NeoxConfig}, using the HF
 * GPTNeoXConfig defaults (rotary_pct 0.25, rotary_emb_base 10000, use_parallel_residual
 * true, layer_norm_eps 1e-5, attention_bias true, max_position_embeddings 2048,
 * hidden_act "gelu"). Rotary settings come from `rope_parameters` (or legacy
 * `rope_scaling`) first, then the classic `rotary_pct` / `rotary_emb_base`, as HF does.
 *
 * @param json the parsed config.json
 * @param path the file's path, named in every error message
 * @throws NeoxError with a one-line message naming `path` and the field
 */
export function parseConfig(json: unknown, path: string): NeoxConfig {
  const fail = (msg: string): never => {
    throw new NeoxError(`${path}: ${msg}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return fail("not a JSON object");
  }
  const c = json as Record<string, unknown>;
  const has = (k: string) => c[k] !== undefined && c[k] !== null;

  if (has("model_type") && c.model_type !== "gpt_neox") {
    fail(`model_type is ${JSON.stringify(c.model_type)}, expected "gpt_neox"`);
  }
  const posInt = (k: string): number => {
    if (!has(k)) return fail(`missing ${k}`);
    const v = c[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      return fail(`${k} must be a positive integer (got ${JSON.stringify(v)})`);
    }
    return v;
  };
  const num = (v: unknown, name: string, dflt: number, min: number, strict: boolean): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || (strict && v === min)) {
      return fail(
        `${name} must be a number ${strict ? ">" : ">="} ${min} (got ${JSON.stringify(v)})`,
      );
    }
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    if (!has(k)) return dflt;
    if (typeof c[k] !== "boolean") fail(`${k} must be true or false (got ${JSON.stringify(c[k])})`);
    return c[k] as boolean;
  };
  const tokenId = (k: string, dflt: number | null): number | null => {
    if (c[k] === undefined) return dflt;
    let v = c[k];
    if (Array.isArray(v)) v = v.length > 0 ? v[0] : null;
    if (v === null) return null;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      return fail(`${k} must be a non-negative integer or null (got ${JSON.stringify(c[k])})`);
    }
    return v;
  };

  const hiddenSize = posInt("hidden_size");
  const numLayers = posInt("num_hidden_layers");
  const numHeads = posInt("num_attention_heads");
  const intermediateSize = posInt("intermediate_size");
  const vocabSize = posInt("vocab_size");
  if (hiddenSize % numHeads !== 0) {
    fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  }
  const headDim = hiddenSize / numHeads;

  // Rotary: HF GPTNeoXConfig.convert_rope_params_to_dict: rope_scaling or rope_parameters,
  // then setdefault(rope_theta <- rotary_emb_base <- 10000,
  //                 partial_rotary_factor <- rotary_pct <- 0.25).
  const ropeSrc = has("rope_scaling") ? "rope_scaling" : "rope_parameters";
  const rope = c[ropeSrc] ?? {};
  if (typeof rope !== "object" || rope === null || Array.isArray(rope)) {
    return fail(`${ropeSrc} must be an object (got ${JSON.stringify(rope)})`);
  }
  const rp = rope as Record<string, unknown>;
  const ropeType = rp.rope_type ?? rp.type ?? "default";
  if (ropeType !== "default") {
    fail(`${ropeSrc}.rope_type ${JSON.stringify(ropeType)} is not supported (only "default")`);
  }
  const pctName = rp.partial_rotary_factor !== undefined
    ? `${ropeSrc}.partial_rotary_factor`
    : "rotary_pct";
  const pct = num(rp.partial_rotary_factor ?? c.rotary_pct, pctName, 0.25, 0, false);
  if (pct > 1) fail(`${pctName} must be at most 1 (got ${pct})`);
  const baseName = rp.rope_theta !== undefined ? `${ropeSrc}.rope_theta` : "rotary_emb_base";
  const rotaryBase = num(rp.rope_theta ?? c.rotary_emb_base, baseName, 10000, 0, true);
  const rotaryDims = Math.trunc(headDim * pct); // Python int(head_size * rotary_pct)
  if (rotaryDims % 2 !== 0) {
    fail(`rotary dims int(${headDim} * ${pct}) = ${rotaryDims} must be even`);
  }

  const act = has("hidden_act") ? c.hidden_act : "gelu";
  let activation: "gelu" | "gelu_tanh";
  if (typeof act === "string" && ERF_GELU.has(act)) activation = "gelu";
  else if (typeof act === "string" && TANH_GELU.has(act)) activation = "gelu_tanh";
  else {
    return fail(
      `hidden_act ${JSON.stringify(act)} is not supported ` +
        `(gelu, gelu_python, gelu_new, gelu_fast, gelu_pytorch_tanh)`,
    );
  }
  if (bool("tie_word_embeddings", false)) {
    fail("tie_word_embeddings true is not supported (GPT-NeoX has a separate embed_out)");
  }

  return {
    hiddenSize,
    numLayers,
    numHeads,
    headDim,
    intermediateSize,
    vocabSize,
    rotaryDims,
    rotaryBase,
    maxPositions: has("max_position_embeddings") ? posInt("max_position_embeddings") : 2048,
    layerNormEps: num(c.layer_norm_eps, "layer_norm_eps", 1e-5, 0, false),
    parallelResidual: bool("use_parallel_residual", true),
    activation,
    attentionBias: bool("attention_bias", true),
    eosTokenId: tokenId("eos_token_id", 2),
    bosTokenId: tokenId("bos_token_id", 0),
  };
}

/**
 * Reads and parses `dir/config.json`.
 *
 * @throws NeoxError naming the file: missing folder or file, not JSON, or invalid fields
 */
export async function loadConfig(dir: string): Promise<NeoxConfig> {
  const path = `${dir.replace(/\/+$/, "")}/config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      let dirExists = false;
      try {
        dirExists = (await Deno.stat(dir)).isDirectory;
      } catch { /* dir missing too */ }
      throw new NeoxError(
        dirExists ? `${path}: file not found` : `${dir}: model folder not found`,
      );
    }
    if (e instanceof Deno.errors.IsADirectory) throw new NeoxError(`${path}: is a folder`);
    throw new NeoxError(`${path}: cannot read (${e instanceof Error ? e.message : e})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new NeoxError(`${path}: not valid JSON (${why})`);
  }
  return parseConfig(json, path);
}

/**
 * Names (HF spelling) and shapes of every tensor the model needs, in forward order.
 * qkv / attention.dense biases are included only when `attentionBias`.
 */
export function requiredTensors(cfg: NeoxConfig): { name: string; shape: number[] }[] {
  const { hiddenSize: d, intermediateSize: ff, vocabSize: V } = cfg;
  const out: { name: string; shape: number[] }[] = [
    { name: "gpt_neox.embed_in.weight", shape: [V, d] },
  ];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `gpt_neox.layers.${i}.`;
    out.push(
      { name: p + "input_layernorm.weight", shape: [d] },
      { name: p + "input_layernorm.bias", shape: [d] },
      { name: p + "post_attention_layernorm.weight", shape: [d] },
      { name: p + "post_attention_layernorm.bias", shape: [d] },
      { name: p + "attention.query_key_value.weight", shape: [3 * d, d] },
    );
    if (cfg.attentionBias) out.push({ name: p + "attention.query_key_value.bias", shape: [3 * d] });
    out.push({ name: p + "attention.dense.weight", shape: [d, d] });
    if (cfg.attentionBias) out.push({ name: p + "attention.dense.bias", shape: [d] });
    out.push(
      { name: p + "mlp.dense_h_to_4h.weight", shape: [ff, d] },
      { name: p + "mlp.dense_h_to_4h.bias", shape: [ff] },
      { name: p + "mlp.dense_4h_to_h.weight", shape: [d, ff] },
      { name: p + "mlp.dense_4h_to_h.bias", shape: [d] },
    );
  }
  out.push(
    { name: "gpt_neox.final_layer_norm.weight", shape: [d] },
    { name: "gpt_neox.final_layer_norm.bias", shape: [d] },
    { name: "embed_out.weight", shape: [V, d] },
  );
  return out;
}

/**
 * Checks that every tensor of {@link requiredTensors} exists in `file` with the right
 * shape. Extra tensors (attention.rotary_emb.inv_freq, attention.bias,
 * attention.masked_bias, ...) are ignored.
 *
 * @throws NeoxError naming the safetensors file and the first missing or misshapen tensor
 */
export function checkTensorShapes(cfg: NeoxConfig, file: SafetensorsFile): void {
  const fmt = (s: number[]) => `[${s.join(",")}]`;
  for (const { name, shape } of requiredTensors(cfg)) {
    const t = file.tensors.get(name);
    if (t === undefined) {
      throw new NeoxError(`${file.path}: missing tensor ${name} (config.json needs ${fmt(shape)})`);
    }
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new NeoxError(
        `${file.path}: ${name} has shape ${fmt(t.shape)}, config.json needs ${fmt(shape)}`,
      );
    }
  }
}
