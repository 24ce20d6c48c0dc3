/**
 * Random small GPT-NeoX checkpoints (written by tests/checkpoint_writer.ts into temp
 * folders) through the GPU engine against the float64 reference: head counts 1/3/5,
 * vocab sizes that are not multiples of 64, sequential and parallel residuals, partial
 * and full rotary, both config.json forms, no attention bias, both GELUs, F32 and F16
 * files. Each model: all-position logits within 1e-3 and a 24-token greedy continuation
 * equal to the reference's (repeated referenceForward).
 */

import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import { allLogits, greedyGenerate } from "../engine/generate.ts";
import { openSafetensors, readTensorBytes, toFloat32 } from "../engine/safetensors.ts";
import { loadConfig } from "../engine/config.ts";
import { loadReferenceModel, referenceForward } from "./reference.ts";
import { encodeSafetensors, type RandomNeoxSpec, writeRandomNeox } from "./checkpoint_writer.ts";
import { seededRandom } from "./seeded_random.ts";

/** All-position logits tolerance against the float64 reference. */
const TOL = 1e-3;
/** New tokens of the greedy check. */
const NEW_TOKENS = 24;
/**
 * Smallest top-2 logit margin the reference greedy path may have: below it the test
 * itself is ill-conditioned (float32 noise could flip a token) and needs another seed.
 */
const MIN_MARGIN = 2e-3;

type Variant = Omit<RandomNeoxSpec, "seed" | "weightStd" | "intermediateSize"> & {
  name: string;
  promptLen: number;
  /** Load F16 files as f32 on the GPU (the engine's conversion path). */
  forceF32?: boolean;
};

const BASE = {
  numLayers: 2,
  rotaryBase: 10000,
  parallelResidual: true,
  attentionBias: true,
  hiddenAct: "gelu",
  configForm: "classic",
  dtype: "F32",
} as const;

const VARIANTS: Variant[] = [
  {
    ...BASE,
    name: "H=1 d=16 V=77 rot 1.0 classic parallel",
    hiddenSize: 16,
    numHeads: 1,
    vocabSize: 77,
    rotaryPct: 1.0,
    promptLen: 7,
  },
  {
    ...BASE,
    name: "H=3 d=30 V=1000 rot 0.25 rope_parameters sequential",
    hiddenSize: 30,
    numHeads: 3,
    vocabSize: 1000,
    rotaryPct: 0.25,
    parallelResidual: false,
    configForm: "rope_parameters",
    promptLen: 9,
  },
  {
    ...BASE,
    name: "H=5 d=40 V=77 rot 1.0 rope_parameters no attn bias F16",
    hiddenSize: 40,
    numHeads: 5,
    vocabSize: 77,
    rotaryPct: 1.0,
    rotaryBase: 500,
    attentionBias: false,
    configForm: "rope_parameters",
    dtype: "F16",
    numLayers: 3,
    promptLen: 5,
  },
  {
    ...BASE,
    name: "H=3 d=48 V=1000 rot 0.25 classic sequential no attn bias",
    hiddenSize: 48,
    numHeads: 3,
    vocabSize: 1000,
    rotaryPct: 0.25,
    parallelResidual: false,
    attentionBias: false,
    extraTensors: true,
    promptLen: 12,
  },
  {
    ...BASE,
    name: "H=5 d=80 V=1000 rot 0.25 F16 loaded as f32",
    hiddenSize: 80,
    numHeads: 5,
    vocabSize: 1000,
    rotaryPct: 0.25,
    dtype: "F16",
    forceF32: true,
    promptLen: 1,
  },
  {
    ...BASE,
    name: "H=1 d=24 V=333 rot 0.25 gelu_new sequential",
    hiddenSize: 24,
    numHeads: 1,
    vocabSize: 333,
    rotaryPct: 0.25,
    hiddenAct: "gelu_new",
    parallelResidual: false,
    promptLen: 6,
  },
  {
    ...BASE,
    name: "H=2 d=32 V=50 L=4 prompt 300 (prefill in 256-token chunks)",
    hiddenSize: 32,
    numHeads: 2,
    vocabSize: 50,
    rotaryPct: 0.5,
    numLayers: 4,
    promptLen: 300,
  },
];

function argmax(a: ArrayLike<number>): { index: number; margin: number } {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  let second = -Infinity;
  for (let i = 0; i < a.length; i++) if (i !== best && a[i] > second) second = a[i];
  return { index: best, margin: a[best] - second };
}

Deno.test("checkpoint_writer: safetensors round trip (F32 exact, F16 rounded)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "neox-writer-" });
  try {
    const data = seededRandom(7).normals(3 * 5);
    for (const dtype of ["F32", "F16"] as const) {
      const path = `${dir}/${dtype}.safetensors`;
      await Deno.writeFile(
        path,
        encodeSafetensors([{ name: "a.weight", shape: [3, 5], data }, {
          name: "b",
          shape: [],
          data: [0.5],
        }], { dtype, metadata: { format: "pt" } }),
      );
      const file = await openSafetensors(path);
      assert.equal(file.dataOffset % 8, 0, "header padded to 8 bytes");
      assert.deepEqual(file.metadata, { format: "pt" });
      assert.deepEqual(file.tensors.get("a.weight")?.shape, [3, 5]);
      const back = toFloat32(dtype, await readTensorBytes(file, "a.weight"));
      const want = dtype === "F32" ? data : data.map((v) => Math.f16round(v));
      assert.deepEqual(Array.from(back), Array.from(want));
      assert.deepEqual(Array.from(toFloat32(dtype, await readTensorBytes(file, "b"))), [0.5]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("variety: random NeoX models match the float64 reference", async (t) => {
  const gpu = await getGpu();
  const root = await Deno.makeTempDir({ prefix: "neox-variety-" });
  try {
    for (const [i, v] of VARIANTS.entries()) {
      await t.step(v.name, async () => {
        const dir = `${root}/model-${i}`;
        const spec: RandomNeoxSpec = {
          ...v,
          intermediateSize: 3 * v.hiddenSize + 5,
          seed: 1000 + i,
          weightStd: 0.5,
        };
        await writeRandomNeox(dir, spec);
        const cfg = await loadConfig(dir);
        assert.equal(cfg.rotaryDims, Math.trunc((v.hiddenSize / v.numHeads) * v.rotaryPct));
        const ref = await loadReferenceModel(dir);
        const model = await loadModel(gpu, dir, { forceF32: v.forceF32 });
        const rnd = seededRandom(2000 + i);
        const ids = Array.from({ length: v.promptLen }, () => rnd.int(v.vocabSize));

        const V = cfg.vocabSize;
        const got = await allLogits(model, ids);
        let maxDiff = 0;
        let scale = 0;
        referenceForward(ref, ids).forEach((row, t) => {
          for (let j = 0; j < V; j++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[t * V + j] - row[j]));
            scale = Math.max(scale, Math.abs(row[j]));
          }
        });

        // Reference greedy: one full forward per new token.
        const seq = [...ids];
        let minMargin = Infinity;
        for (let n = 0; n < NEW_TOKENS; n++) {
          const rows = referenceForward(ref, seq);
          const { index, margin } = argmax(rows[rows.length - 1]);
          minMargin = Math.min(minMargin, margin);
          seq.push(index);
        }
        const wantTokens = seq.slice(ids.length);
        const { tokens } = await greedyGenerate(model, ids, NEW_TOKENS);
        console.log(
          `${v.name.padEnd(58)} ${model.weights.embedOut.wt} max|diff| ${
            maxDiff.toExponential(2)
          } (tol ${TOL.toExponential(0)}, max|logit| ${scale.toFixed(1)}) greedy ${NEW_TOKENS} ${
            tokens.every((tk, j) => tk === wantTokens[j]) ? "identical" : "DIFFERENT"
          } (min top-2 margin ${minMargin.toExponential(1)})`,
        );
        assert(maxDiff <= TOL, `all logits max|diff| ${maxDiff} exceeds ${TOL}`);
        assert(
          minMargin >= MIN_MARGIN,
          `reference greedy margin ${minMargin}: choose another seed`,
        );
        assert.deepEqual(tokens, wantTokens, "greedy continuation");
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
