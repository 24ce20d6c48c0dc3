/**
 * Tests for engine/config.ts: both config.json forms, HF defaults, every required field,
 * and tensor shape checks against the real checkpoints.
 */

import assert from "node:assert/strict";
import { NeoxError } from "../engine/errors.ts";
import {
  checkTensorShapes,
  loadConfig,
  type NeoxConfig,
  parseConfig,
  requiredTensors,
} from "../engine/config.ts";
import { openSafetensors, type SafetensorsFile } from "../engine/safetensors.ts";
import { goldensDir, modelsDir } from "./goldens.ts";

const P = "models/x/config.json";

/** Asserts `fn` throws a one-line NeoxError that starts with `prefix` and matches `want`. */
function throwsNeox(fn: () => unknown, want: RegExp, prefix = `${P}: `) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof NeoxError, `not a NeoxError: ${e}`);
    assert.ok(e.message.startsWith(prefix), e.message);
    assert.match(e.message, want);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
}

/** A classic Pythia-70m config.json (as on the Hugging Face hub). */
const pythia70m = {
  architectures: ["GPTNeoXForCausalLM"],
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: "gelu",
  hidden_size: 512,
  initializer_range: 0.02,
  intermediate_size: 2048,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  model_type: "gpt_neox",
  num_attention_heads: 8,
  num_hidden_layers: 6,
  rotary_emb_base: 10000,
  rotary_pct: 0.25,
  rope_scaling: null,
  tie_word_embeddings: false,
  torch_dtype: "float16",
  transformers_version: "4.24.0",
  use_cache: true,
  use_parallel_residual: true,
  vocab_size: 50304,
};

const minimal = {
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 256,
  vocab_size: 100,
};

Deno.test("config: transformers-5 form (pydoc-neox-20m)", async () => {
  const c = await loadConfig(`${modelsDir}pydoc-neox-20m`);
  const want: NeoxConfig = {
    hiddenSize: 384,
    numLayers: 8,
    numHeads: 6,
    headDim: 64,
    intermediateSize: 1536,
    vocabSize: 8192,
    rotaryDims: 16,
    rotaryBase: 10000,
    maxPositions: 2048,
    layerNormEps: 1e-5,
    parallelResidual: true,
    activation: "gelu",
    attentionBias: true,
    eosTokenId: 0,
    bosTokenId: 0,
  };
  assert.deepEqual(c, want);
  const d = await loadConfig(`${modelsDir}pydoc-neox-2.5m/`); // trailing slash is fine
  assert.equal(d.hiddenSize, 128);
  assert.equal(d.rotaryDims, 16);
});

Deno.test("config: classic form (oddball-b, rotary_pct 1.0, base 500)", async () => {
  const c = await loadConfig(`${goldensDir}oddball-b`);
  assert.equal(c.headDim, 64);
  assert.equal(c.rotaryDims, 64);
  assert.equal(c.rotaryBase, 500);
  assert.equal(c.vocabSize, 512);
  assert.equal(c.numLayers, 2);
});

Deno.test("config: classic Pythia-70m and HF defaults", () => {
  const c = parseConfig(pythia70m, P);
  assert.equal(c.headDim, 64);
  assert.equal(c.rotaryDims, 16);
  assert.equal(c.rotaryBase, 10000);
  assert.equal(c.vocabSize, 50304);

  const m = parseConfig(minimal, P);
  assert.deepEqual(m, {
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    headDim: 16,
    intermediateSize: 256,
    vocabSize: 100,
    rotaryDims: 4, // int(16 * 0.25)
    rotaryBase: 10000,
    maxPositions: 2048,
    layerNormEps: 1e-5,
    parallelResidual: true,
    activation: "gelu",
    attentionBias: true,
    eosTokenId: 2,
    bosTokenId: 0,
  });
  const s = parseConfig(
    { ...minimal, use_parallel_residual: false, attention_bias: false, eos_token_id: [5, 6] },
    P,
  );
  assert.equal(s.parallelResidual, false);
  assert.equal(s.attentionBias, false);
  assert.equal(s.eosTokenId, 5);
  assert.equal(parseConfig({ ...minimal, eos_token_id: null }, P).eosTokenId, null);
});

Deno.test("config: rotary settings, precedence as in HF GPTNeoXConfig", () => {
  // rope_parameters wins over the classic keys
  const a = parseConfig({
    ...minimal,
    rotary_pct: 1,
    rotary_emb_base: 7,
    rope_parameters: { partial_rotary_factor: 0.5, rope_theta: 100, rope_type: "default" },
  }, P);
  assert.equal(a.rotaryDims, 8);
  assert.equal(a.rotaryBase, 100);
  // fields missing from rope_parameters fall back to the classic keys
  const b = parseConfig({ ...minimal, rotary_pct: 1, rope_parameters: { rope_theta: 5 } }, P);
  assert.equal(b.rotaryDims, 16);
  assert.equal(b.rotaryBase, 5);
  // int(headDim * pct) truncates like Python int()
  assert.equal(parseConfig({ ...minimal, rotary_pct: 0.3 }, P).rotaryDims, 4); // int(4.8)
  assert.equal(parseConfig({ ...minimal, rotary_pct: 0 }, P).rotaryDims, 0);
  throwsNeox(
    () => parseConfig({ ...minimal, hidden_size: 40, num_attention_heads: 4, rotary_pct: 0.5 }, P),
    /rotary dims int\(10 \* 0.5\) = 5 must be even/,
  );
  throwsNeox(() => parseConfig({ ...minimal, rotary_pct: 1.5 }, P), /rotary_pct must be at most 1/);
  throwsNeox(
    () => parseConfig({ ...minimal, rope_parameters: { rope_type: "linear", factor: 2 } }, P),
    /rope_parameters.rope_type "linear" is not supported/,
  );
  throwsNeox(
    () => parseConfig({ ...minimal, rope_scaling: { type: "dynamic", factor: 2 } }, P),
    /rope_scaling.rope_type "dynamic" is not supported/,
  );
  throwsNeox(
    () => parseConfig({ ...minimal, rope_parameters: { rope_theta: -1 } }, P),
    /rope_parameters.rope_theta must be a number > 0/,
  );
});

Deno.test("config: activations", () => {
  for (const act of ["gelu", "gelu_python"]) {
    assert.equal(parseConfig({ ...minimal, hidden_act: act }, P).activation, "gelu");
  }
  for (const act of ["gelu_new", "gelu_fast", "gelu_pytorch_tanh"]) {
    assert.equal(parseConfig({ ...minimal, hidden_act: act }, P).activation, "gelu_tanh");
  }
  for (const act of ["relu", "quick_gelu", 3]) {
    throwsNeox(
      () => parseConfig({ ...minimal, hidden_act: act }, P),
      /hidden_act .* is not supported/,
    );
  }
});

Deno.test("config: missing and invalid fields", () => {
  for (const k of Object.keys(minimal)) {
    const c: Record<string, unknown> = { ...minimal };
    delete c[k];
    throwsNeox(() => parseConfig(c, P), new RegExp(`^${P}: missing ${k}$`));
    throwsNeox(
      () => parseConfig({ ...minimal, [k]: 0 }, P),
      new RegExp(`${k} must be a positive integer \\(got 0\\)`),
    );
    throwsNeox(() => parseConfig({ ...minimal, [k]: "8" }, P), new RegExp(`${k} must be`));
    throwsNeox(() => parseConfig({ ...minimal, [k]: 2.5 }, P), new RegExp(`${k} must be`));
  }
  throwsNeox(
    () => parseConfig({ ...minimal, num_attention_heads: 5 }, P),
    /hidden_size 64 is not divisible by num_attention_heads 5/,
  );
  throwsNeox(
    () => parseConfig({ ...minimal, model_type: "llama" }, P),
    /model_type is "llama", expected "gpt_neox"/,
  );
  throwsNeox(() => parseConfig([1], P), /not a JSON object/);
  throwsNeox(() => parseConfig(null, P), /not a JSON object/);
  throwsNeox(() => parseConfig({ ...minimal, layer_norm_eps: -1 }, P), /layer_norm_eps must be/);
  throwsNeox(
    () => parseConfig({ ...minimal, use_parallel_residual: "yes" }, P),
    /use_parallel_residual must be true or false/,
  );
  throwsNeox(
    () => parseConfig({ ...minimal, tie_word_embeddings: true }, P),
    /tie_word_embeddings true is not supported/,
  );
  throwsNeox(() => parseConfig({ ...minimal, eos_token_id: -1 }, P), /eos_token_id must be/);
});

Deno.test("loadConfig: missing folder, missing file, bad JSON", async () => {
  const nowhere = `${modelsDir}no-such-model`;
  await assert.rejects(() => loadConfig(nowhere), (e: unknown) => {
    assert.ok(e instanceof NeoxError);
    assert.equal(e.message, `${nowhere}: model folder not found`);
    return true;
  });
  const dir = await Deno.makeTempDir({ prefix: "neox-cfg-" });
  try {
    await assert.rejects(() => loadConfig(dir), (e: unknown) => {
      assert.ok(e instanceof NeoxError);
      assert.equal(e.message, `${dir}/config.json: file not found`);
      return true;
    });
    await Deno.writeTextFile(`${dir}/config.json`, "{ nope");
    await assert.rejects(() => loadConfig(dir), (e: unknown) => {
      assert.ok(e instanceof NeoxError);
      assert.match(e.message, new RegExp(`^${dir}/config.json: not valid JSON`));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("requiredTensors: names, shapes and bias switch", () => {
  const c = parseConfig(pythia70m, P);
  const r = requiredTensors(c);
  assert.equal(r.length, 4 + 12 * 6);
  assert.deepEqual(r[0], { name: "gpt_neox.embed_in.weight", shape: [50304, 512] });
  assert.deepEqual(r.at(-1), { name: "embed_out.weight", shape: [50304, 512] });
  const byName = new Map(r.map((t) => [t.name, t.shape]));
  assert.deepEqual(byName.get("gpt_neox.layers.5.attention.query_key_value.weight"), [1536, 512]);
  assert.deepEqual(byName.get("gpt_neox.layers.5.attention.query_key_value.bias"), [1536]);
  assert.deepEqual(byName.get("gpt_neox.layers.0.mlp.dense_h_to_4h.weight"), [2048, 512]);
  assert.deepEqual(byName.get("gpt_neox.layers.0.mlp.dense_4h_to_h.weight"), [512, 2048]);
  const nb = requiredTensors({ ...c, attentionBias: false });
  assert.equal(nb.length, 4 + 10 * 6);
  assert.ok(!nb.some((t) => t.name.endsWith("attention.dense.bias")));
  assert.ok(nb.some((t) => t.name.endsWith("mlp.dense_h_to_4h.bias")));
});

Deno.test("checkTensorShapes: real files pass, mismatches name file and tensor", async () => {
  const dir = `${modelsDir}pydoc-neox-20m`;
  const cfg = await loadConfig(dir);
  const file = await openSafetensors(`${dir}/model.safetensors`);
  checkTensorShapes(cfg, file);
  checkTensorShapes({ ...cfg, attentionBias: false }, file); // extra biases are ignored
  const small = `${modelsDir}pydoc-neox-2.5m`;
  checkTensorShapes(await loadConfig(small), await openSafetensors(`${small}/model.safetensors`));
  const odd = `${goldensDir}oddball-b`;
  checkTensorShapes(await loadConfig(odd), await openSafetensors(`${odd}/model.safetensors`));

  const fp = file.path;
  throwsNeox(
    () => checkTensorShapes({ ...cfg, intermediateSize: 1024 }, file),
    /gpt_neox\.layers\.0\.mlp\.dense_h_to_4h\.weight has shape \[1536,384\], config\.json needs \[1024,384\]$/,
    `${fp}: `,
  );
  throwsNeox(
    () => checkTensorShapes({ ...cfg, vocabSize: 50304 }, file),
    /gpt_neox\.embed_in\.weight has shape \[8192,384\], config\.json needs \[50304,384\]$/,
    `${fp}: `,
  );
  throwsNeox(
    () => checkTensorShapes({ ...cfg, numLayers: 9 }, file),
    /missing tensor gpt_neox\.layers\.8\.input_layernorm\.weight/,
    `${fp}: `,
  );
});

Deno.test("checkTensorShapes: old-checkpoint extras are ignored, rank mismatch is caught", () => {
  const cfg = parseConfig({ ...minimal, num_hidden_layers: 1 }, P);
  const tensors = new Map<
    string,
    { name: string; dtype: "F16"; shape: number[]; begin: number; end: number }
  >();
  for (const { name, shape } of requiredTensors(cfg)) {
    tensors.set(name, { name, dtype: "F16", shape, begin: 0, end: 0 });
  }
  for (
    const extra of ["attention.rotary_emb.inv_freq", "attention.bias", "attention.masked_bias"]
  ) {
    const name = `gpt_neox.layers.0.${extra}`;
    tensors.set(name, { name, dtype: "F16", shape: [1, 1, 9, 9], begin: 0, end: 0 });
  }
  const file: SafetensorsFile = {
    path: "m.safetensors",
    fileBytes: 8,
    dataOffset: 8,
    tensors,
    metadata: {},
  };
  checkTensorShapes(cfg, file);
  const ln = "gpt_neox.final_layer_norm.bias";
  tensors.set(ln, { name: ln, dtype: "F16", shape: [64, 1], begin: 0, end: 0 });
  throwsNeox(
    () => checkTensorShapes(cfg, file),
    /^m\.safetensors: gpt_neox\.final_layer_norm\.bias has shape \[64,1\], config\.json needs \[64\]$/,
    "m.safetensors: ",
  );
});
