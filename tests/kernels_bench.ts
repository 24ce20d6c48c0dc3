/**
 * Benchmarks of the matmul kernels (naive oracle vs tiled vs vec4, f16 vs f32 weights) on Pythia
 * shapes, and of one plain decode step of the embedded target model.
 *
 * Each name carries its floor: the bytes the pass must read divided by 1.1 GB/s, the
 * compute-shader streaming read rate measured on lavapipe on a 2-core machine (`mod.ts bench`
 * measures yours). On a real GPU the floor is far lower; there the ~11 ms of Deno's
 * submit-and-wait (it sleeps 10 ms per poll) dominates every single-pass iteration below.
 *
 *   deno bench -A tests/kernels_bench.ts
 */

import { getGpu } from "../engine/device_deno.ts";
import { gpuIdle, storageBuffer } from "../engine/device.ts";
import { loadModel } from "../engine/load.ts";
import { encodePrefill, sequenceFor } from "../engine/generate.ts";
import { type Dispatch, encodeDispatches, KernelLibrary } from "../kernels/kernel.ts";
import { fill, type Linear, linear, matmulTuning } from "../engine/ops.ts";
import { modelsDir } from "./goldens.ts";
import { seededRandom } from "./seeded_random.ts";

/** Streaming read rate of a compute shader on lavapipe, bytes per second. */
const FLOOR_BYTES_PER_S = 1.1e9;

const gpu = await getGpu();
const lib = new KernelLibrary(gpu.device);

function floorText(bytes: number): string {
  const ms = (bytes / FLOOR_BYTES_PER_S) * 1e3;
  return `floor ${ms.toFixed(1)} ms = ${(bytes / 1e6).toFixed(1)} MB / 1.1 GB/s`;
}

/** The float weight types (int8 has its own bench, tests/int8_bench.ts). */
type FloatWeight = "f16" | "f32";

/** Seeded synthetic weights [N, K] made on the GPU by fill.wgsl, as syntheticModel does. */
function syntheticWeights(N: number, K: number, wt: FloatWeight, seed: number): GPUBuffer {
  const count = N * K;
  const buf = storageBuffer(gpu, count * (wt === "f16" ? 2 : 4), `W ${N}x${K} ${wt}`);
  submit([fill(lib, { out: buf, count, type: wt, seed, scale: 0.0346, offset: 0 })]);
  return buf;
}

function submit(dispatches: Dispatch[]): void {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeDispatches(pass, dispatches);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

// Pythia-2.8B: query_key_value 2560 -> 7680, dense_h_to_4h 2560 -> 10240.
const SHAPES = [{ K: 2560, N: 7680, what: "qkv" }, { K: 2560, N: 10240, what: "h_to_4h" }];
const rnd = seededRandom(42);
let seed = 1;

for (const { K, N, what } of SHAPES) {
  const weights: Record<FloatWeight, GPUBuffer> = {
    f16: syntheticWeights(N, K, "f16", seed++),
    f32: syntheticWeights(N, K, "f32", seed++),
  };
  const bias = storageBuffer(gpu, N * 4, "bias", rnd.normals(N, 0.02));
  for (const T of [1, 6]) {
    const x = storageBuffer(gpu, T * K * 4, "x", rnd.normals(T * K));
    const y = storageBuffer(gpu, T * N * 4, "y");
    for (const wt of ["f16", "f32"] as FloatWeight[]) {
      const m: Linear = { N, K, wt, chunks: [{ buf: weights[wt], rowStart: 0, rows: N }], bias };
      const group = `${what} ${K}->${N} T=${T} ${wt} (${
        floorText(N * K * (wt === "f16" ? 2 : 4))
      })`;
      // The naive oracle beside the tiled kernels, each with the op's TOK for T.
      const kernels: [string, Dispatch][] = (["naive", "tiled", "vec4"] as const).map((v) => {
        const c = matmulTuning(v, T);
        const [d] = linear(lib, m, { label: v, x, y, T, variant: c });
        const tune = (c.tok ? ` TOK=${c.tok}` : "") + (c.rpt ? ` RPT=${c.rpt}` : "");
        return [`${d.meta.kernel}${tune}`, d];
      });
      for (const [name, d] of kernels) {
        Deno.bench({
          name: `${name} ${wt} ${K}->${N} T=${T}`,
          group,
          baseline: name.startsWith("matmul_naive"),
          // one pass per iteration (plus the submit-and-wait); the slowest take ~1 s each
          n: T === 1 ? 4 : 2,
          warmup: 1,
          async fn() {
            submit([d]);
            await gpuIdle(gpu);
          },
        });
      }
    }
  }
}

// One plain decode step of the target: every weight but embed_in is read once.
const model = await loadModel(gpu, `${modelsDir}pydoc-neox-20m`);
const promptLen = 16;
const seq = sequenceFor(model, promptLen, 8);
seq.writeTokens(Array.from({ length: promptLen }, () => rnd.int(model.cfg.vocabSize)));
seq.setState(0, 0);
{
  const enc = gpu.device.createCommandEncoder();
  encodePrefill(seq, promptLen, enc);
  gpu.device.queue.submit([enc.finish()]);
  await gpuIdle(gpu);
}
const step = seq.plan(1, { logits: "last", argmax: true, advance: true });
const embedInBytes = model.weights.embedIn.chunks.reduce((s, c) => s + c.buf.size, 0);
const stepBytes = model.weightBytes - embedInBytes;
const wt = model.weights.embedOut.wt;

for (const steps of [1, 8]) {
  Deno.bench({
    name: `decode pydoc-neox-20m ${wt}, ${steps} step${steps > 1 ? "s" : ""} per submit (${
      floorText(steps * stepBytes)
    })`,
    group: "decode",
    baseline: steps === 1,
    n: 8,
    warmup: 2,
    async fn() {
      // Replays steps at the same cache slots, so the cache never fills.
      seq.setState(promptLen, promptLen);
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < steps; i++) encodeDispatches(pass, step);
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      await gpuIdle(gpu);
    },
  });
}
