/**
 * decode_layer (one dispatch per layer of a one-token pass, kernels/decode_layer.wgsl)
 * against the float64 reference: the embedded draft and target decode token by token under
 * the full cache and three sink policies, and every step's logits are compared with
 * referenceForward's last row over the same prefix (the policy's cache view); the
 * layer-by-layer pass runs beside it on the same tokens, as the kernels' oracle.
 */
import assert from "node:assert/strict";
import { readBuffer } from "../engine/device.ts";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import type { NeoxModel, Sequence } from "../engine/model.ts";
import {
  type CachePolicy,
  FULL_CACHE,
  sinkCacheSlots,
  sinkWindowCache,
} from "../engine/cache_policy.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { loadReferenceModel, referenceForward } from "./reference.ts";
import { modelsDir, readGolden } from "./goldens.ts";

/** Tolerance of a step's logits against float64 (the goldens' last-position tolerance). */
const TOL = 2e-3;

async function stepLogits(model: NeoxModel, seq: Sequence, fused: boolean): Promise<Float32Array> {
  const o = { logits: "last", argmax: false, advance: true } as const;
  const plan = fused ? model.fusedPass(seq, o) : model.buildPass(seq, 1, o);
  assert(plan, "decode_layer fits the embedded models");
  const enc = model.gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatches(pass, plan);
  pass.end();
  model.gpu.device.queue.submit([enc.finish()]);
  return new Float32Array(await readBuffer(model.gpu, seq.logits));
}

async function check(name: string, ids: number[], policies: CachePolicy[]) {
  const gpu = await getGpu();
  const model = await loadModel(gpu, `${modelsDir}${name}`, { tune: false });
  const ref = await loadReferenceModel(`${modelsDir}${name}`);
  const V = model.cfg.vocabSize;
  try {
    for (const cache of policies) {
      const want = referenceForward(ref, ids, cache);
      const capacity = cache.kind === "sink" ? sinkCacheSlots(cache, 1) : ids.length;
      const seqs = [0, 1].map(() => {
        const seq = model.newSequence({ capacity, maxTokens: ids.length + 1, maxT: 1, cache });
        seq.writeTokens(ids);
        seq.setState(0, 0);
        return seq;
      });
      let diff = 0;
      let oracle = 0;
      for (let t = 0; t < ids.length; t++) {
        const layers = await stepLogits(model, seqs[0], false);
        const fused = await stepLogits(model, seqs[1], true);
        for (let v = 0; v < V; v++) {
          diff = Math.max(diff, Math.abs(fused[v] - want[t][v]));
          oracle = Math.max(oracle, Math.abs(fused[v] - layers[v]));
        }
      }
      seqs.forEach((s) => s.destroy());
      console.log(
        `${name} ${JSON.stringify(cache)} ${ids.length} steps: max|diff| ${
          diff.toExponential(2)
        } vs float64 (tol ${TOL}), ${oracle.toExponential(2)} vs the layer-by-layer pass`,
      );
      assert(diff <= TOL, `${name} ${JSON.stringify(cache)}: ${diff} exceeds ${TOL}`);
      assert(
        oracle <= TOL,
        `${name}: decode_layer and the layer-by-layer pass differ by ${oracle}`,
      );
    }
  } finally {
    model.destroy();
  }
}

async function promptIds(n: number): Promise<number[]> {
  const g = await readGolden<{ entries: { ids: number[] }[] }>("target.json");
  return g.entries.flatMap((e) => e.ids).slice(0, n);
}

Deno.test("decode_layer: draft steps match float64 under full and sink caches", async () => {
  await check("pydoc-neox-2.5m", await promptIds(40), [
    FULL_CACHE,
    sinkWindowCache(16, 4),
    sinkWindowCache(20, 2, 0.8),
    sinkWindowCache(12, 0),
  ]);
});

Deno.test("decode_layer: target steps match float64", async () => {
  await check("pydoc-neox-20m", await promptIds(24), [FULL_CACHE, sinkWindowCache(16, 4)]);
});
