/**
 * `mod.ts calibrate`: measures a device profile for the simulator — the weight-read rate of
 * a 1-token pass and the FLOP rate of an 8-token pass per weight type (from passes of a
 * synthetic Pythia-70m), the fixed cost of a dispatch and of a CPU wait on the GPU.
 */
import { type Gpu, gpuIdle, storageBuffer } from "../engine/device.ts";
import {
  type Dispatch,
  encodeDispatches,
  KernelLibrary,
  type WeightType,
} from "../kernels/kernel.ts";
import { advance, type Linear, linear } from "../engine/ops.ts";
import { calibrateNsPerTick, GpuTimer } from "./gpu_timer.ts";
import type { DeviceProfile, ModelShape } from "./simulator.ts";
import { PYTHIA_SHAPES, weightParamsPerPass } from "./simulator.ts";
import { syntheticModel } from "../engine/load.ts";
import type { NeoxConfig } from "../engine/config.ts";

/** Shape of the calibration matmul: small enough for the software adapter. */
export interface CalibrateOptions {
  K?: number;
  N?: number;
  /** Tokens of the GEMM measurement. */
  T?: number;
  reps?: number;
  /** Synthetic Pythia model whose passes give the rates (default pythia-70m). */
  model?: string;
}

/** Measures a device profile. */
export async function calibrateDevice(gpu: Gpu, o: CalibrateOptions = {}): Promise<DeviceProfile> {
  const K = o.K ?? 1024;
  const N = o.N ?? 2048;
  const T = o.T ?? 8;
  const reps = o.reps ?? 4;
  const lib = new KernelLibrary(gpu.device);
  const x = storageBuffer(gpu, T * K * 4, "x", new Float32Array(T * K).fill(0.01));
  const y = storageBuffer(gpu, T * N * 4, "y");
  const zero = storageBuffer(gpu, N * 4, "bias");
  const timer = new GpuTimer(gpu, 256);
  const types: WeightType[] = gpu.hasF16 ? ["f32", "f16", "int8"] : ["f32", "int8"];
  const bytesPer: Record<WeightType, number> = { f32: 4, f16: 2, int8: 1 };
  const matmul = (wt: WeightType, t: number): Dispatch => {
    const w = storageBuffer(gpu, N * K * bytesPer[wt], `w ${wt}`, fillBytes(N * K * bytesPer[wt]));
    const scales = wt === "int8"
      ? storageBuffer(gpu, N * 4, "scales", new Float32Array(N).fill(0.01))
      : undefined;
    // The kernel the engine picks for these weights (engine/ops.ts matmulChoice).
    const m: Linear = {
      N,
      K,
      wt,
      group: 0,
      chunks: [{ buf: w, scales, rowStart: 0, rows: N }],
      bias: null,
    };
    return linear(lib, m, { x, y, T: t })[0];
  };
  const nsPerTick = (await calibrateNsPerTick(gpu, (pass, r) => {
    const d = matmul("f32", 1);
    for (let i = 0; i < r; i++) encodeDispatches(pass, [d]);
  })).nsPerTick;
  const timeMs = async (d: Dispatch, n: number): Promise<number> => {
    timer.reset();
    const enc = gpu.device.createCommandEncoder();
    for (let r = 0; r < reps; r++) {
      const pass = enc.beginComputePass(timer.pass("target"));
      for (let i = 0; i < n; i++) encodeDispatches(pass, [d]);
      pass.end();
    }
    gpu.device.queue.submit([enc.finish()]);
    await timer.resolve();
    const ticks = timer.ticks("target").sort((a, b) => a - b);
    return ticks[Math.floor(ticks.length / 2)] * nsPerTick / 1e6 / n;
  };
  // Rates from whole passes of a synthetic Pythia model with the engine's own kernels, so
  // the small kernels, attention and the model's matrix shapes are in them (a single large
  // matmul ran about twice as efficiently as the passes it was meant to predict).
  const state = storageBuffer(gpu, 64, "state");
  const tiny = advance(lib, { state, T: 0 });
  const dispatchMs = await timeMs(tiny, 200);
  const shape = PYTHIA_SHAPES[o.model ?? "pythia-70m"];
  const gemvGBs: Record<string, number> = {};
  const gemmGflops: Record<string, number> = {};
  for (const wt of types) {
    const model = syntheticModel(gpu, shape.name, {
      forceF32: wt === "f32",
      quant: wt === "int8" ? "int8" : undefined,
    });
    const seq = model.newSequence({ capacity: 64, maxTokens: 64, maxT: T });
    seq.setState(16, 16);
    const passMs = async (t: number) => {
      const plan = seq.plan(t, { logits: "last", argmax: false, advance: false });
      timer.reset();
      const enc = gpu.device.createCommandEncoder();
      for (let r = 0; r < reps; r++) {
        const pass = enc.beginComputePass(timer.pass("target"));
        encodeDispatches(pass, plan);
        pass.end();
      }
      gpu.device.queue.submit([enc.finish()]);
      await timer.resolve();
      const ticks = timer.ticks("target").sort((a, b) => a - b);
      const ms = ticks[Math.floor(ticks.length / 2)] * nsPerTick / 1e6;
      return Math.max(ms - dispatchMs * plan.length, ms / 2);
    };
    const params = weightParamsPerPass(shape);
    await passMs(1); // compiles the pipelines
    gemvGBs[wt] = (params * bytesPer[wt]) / (await passMs(1)) / 1e6;
    gemmGflops[wt] = (2 * T * params) / (await passMs(T)) / 1e6;
    seq.destroy();
    model.destroy();
  }
  if (!gpu.hasF16) {
    gemvGBs.f16 = gemvGBs.f32 / 2;
    gemmGflops.f16 = gemmGflops.f32;
  }
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    gpu.device.queue.submit([gpu.device.createCommandEncoder().finish()]);
    await gpuIdle(gpu);
    waits.push(performance.now() - t0);
  }
  waits.sort((a, b) => a - b);
  timer.destroy();
  for (const b of [x, y, zero, state]) b.destroy();
  return {
    description: gpu.adapterInfo.description || gpu.adapterInfo.vendor || "unknown adapter",
    gemvGBs: gemvGBs as DeviceProfile["gemvGBs"],
    gemmGflops: gemmGflops as DeviceProfile["gemmGflops"],
    dispatchMs,
    waitMs: waits[2],
  };
}

function fillBytes(n: number): Uint8Array {
  const b = new Uint8Array(Math.ceil(n / 4) * 4);
  // Small f16/f32/int8 bit patterns: any finite values do for timing.
  for (let i = 0; i < b.length; i += 4) b.set([0, 0x10, 0x80, 0x3c], i);
  return b;
}

/** A simulator shape from a model spec: `synthetic:pythia-70m` or a loaded config. */
export function shapeOf(spec: string, cfg: NeoxConfig | null, bytesPerWeight: number): ModelShape {
  if (spec.startsWith("synthetic:")) {
    const s = PYTHIA_SHAPES[spec.slice("synthetic:".length)];
    if (s) return { ...s, bytesPerWeight };
  }
  if (!cfg) throw new Error(`no config for ${spec}`);
  return {
    name: spec,
    hidden: cfg.hiddenSize,
    layers: cfg.numLayers,
    heads: cfg.numHeads,
    ff: cfg.intermediateSize,
    vocab: cfg.vocabSize,
    bytesPerWeight,
  };
}
