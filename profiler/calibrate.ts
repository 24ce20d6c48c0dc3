/**
 * `mod.ts calibrate`: measures a device profile for the simulator — the weight-read rate of
 * a 1-token pass and the FLOP rate of an 8-token pass per weight type (from passes of a
 * synthetic Pythia-70m), the fixed cost of a dispatch and of a CPU wait on the GPU.
 */
import { type Gpu, gpuIdle, readbackCost, storageBuffer } from "../engine/device.ts";
import {
  type Dispatch,
  encodeDispatches,
  KernelLibrary,
  type WeightType,
} from "../kernels/kernel.ts";
import { type Linear, linear } from "../engine/ops.ts";
import { GpuTimer } from "./gpu_timer.ts";
import { dispatchCostMs } from "./kernel_profile.ts";
import { describeMachine } from "./device_info.ts";
import { modelName } from "./results.ts";
import type { DeviceProfile, ModelShape, SimulatorFit } from "./simulator.ts";
import {
  fitSimulator,
  passTimeMs,
  PYTHIA_SHAPES,
  SIMULATOR_FORM,
  simulatorTerms,
  weightParamsPerPass,
} from "./simulator.ts";
import { loadModel, syntheticModel } from "../engine/load.ts";
import type { NeoxConfig } from "../engine/config.ts";
import type { NeoxModel } from "../engine/model.ts";
import { FULL_CACHE } from "../engine/cache_policy.ts";
import { type TokenTree, treeWords } from "../engine/tree_speculative.ts";
import type { TickCalibrationInfo } from "./gpu_timer.ts";
import { median } from "./stats.ts";
import { type RunConfig, runGeneration, warmUp } from "./measure.ts";
import {
  baselineSchedule,
  combineFitErrors,
  DEVICE_SCHEMA,
  type DeviceCosts,
  fitErrorOf,
  fitOverheads,
  fitPasses,
  type Overheads,
  PASS_FORM,
  type PassFit,
  passKey,
  type PassPoint,
  scheduleGpuMs,
  speculativeSchedule,
} from "./cost_model.ts";

/** Shape of the calibration matmul: small enough for the software adapter. */
export interface CalibrateOptions {
  K?: number;
  N?: number;
  /** Tokens of the GEMM measurement. */
  T?: number;
  reps?: number;
  /** Synthetic Pythia model whose passes give the rates (default pythia-70m). */
  model?: string;
  /** Synthetic Pythia shapes to fit the simulator's pass form on (none: roofline rates only). */
  fitShapes?: string[];
}

/**
 * GPU ms of `reps` timed passes of `plan` in one submit, after one untimed pass when `warm`
 * (pipelines compile, caches warm).
 */
async function timePlan(
  gpu: Gpu,
  timer: GpuTimer,
  plan: Dispatch[],
  reps: number,
  warm: boolean,
): Promise<number[]> {
  timer.reset();
  const enc = gpu.device.createCommandEncoder();
  if (warm) {
    const pass = enc.beginComputePass();
    encodeDispatches(pass, plan);
    pass.end();
  }
  for (let r = 0; r < reps; r++) {
    const pass = enc.beginComputePass(timer.pass("target"));
    encodeDispatches(pass, plan);
    pass.end();
  }
  gpu.device.queue.submit([enc.finish()]);
  await timer.resolve();
  return timer.ms("target");
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
  const tickCalibration = await timer.calibrate((pass, r) => {
    const d = matmul("f32", 1);
    for (let i = 0; i < r; i++) encodeDispatches(pass, [d]);
  });
  // Rates from whole passes of a synthetic Pythia model with the engine's own kernels, so
  // the small kernels, attention and the model's matrix shapes are in them (a single large
  // matmul ran about twice as efficiently as the passes it was meant to predict), less their
  // dispatches' fixed cost.
  const dispatchMs = await dispatchCostMs(gpu, timer, timer.nsPerTick, reps);
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
      const ms = median(await timePlan(gpu, timer, plan, reps, false));
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
  const passFit = o.fitShapes?.length
    ? await fitSimulatorPasses(gpu, timer, o.fitShapes)
    : undefined;
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    gpu.device.queue.submit([gpu.device.createCommandEncoder().finish()]);
    await gpuIdle(gpu);
    waits.push(performance.now() - t0);
  }
  timer.destroy();
  for (const b of [x, y, zero]) b.destroy();
  return {
    description: describeMachine(gpu).description,
    machine: describeMachine(gpu),
    gemvGBs: gemvGBs as DeviceProfile["gemvGBs"],
    gemmGflops: gemmGflops as DeviceProfile["gemmGflops"],
    dispatchMs,
    waitMs: median(waits),
    tickCalibration,
    ...(passFit ? { passFit } : {}),
  };
}

/**
 * The simulator's fitted pass form (profiler/simulator.ts SimulatorFit) from passes of
 * synthetic Pythia shapes, per weight dtype the adapter runs (f16 when it has shader-f16,
 * int8): T in 1, 4, 8 over L = 16 and 64 cached keys, each the median of three rounds.
 */
async function fitSimulatorPasses(
  gpu: Gpu,
  timer: GpuTimer,
  shapes: string[],
): Promise<SimulatorFit> {
  const dtypes: ("f16" | "int8")[] = gpu.hasF16 ? ["f16", "int8"] : ["int8"];
  const byDtype: SimulatorFit["byDtype"] = {};
  const errors: number[] = [];
  for (const dtype of dtypes) {
    const points: { shape: ModelShape; T: number; L: number; ms: number }[] = [];
    for (const name of shapes) {
      const model = syntheticModel(gpu, name, dtype === "int8" ? { quant: "int8" } : {});
      const seq = model.newSequence({ capacity: 80, maxTokens: 80, maxT: 8 });
      try {
        const plans = [1, 4, 8].flatMap((T) =>
          [16, 64].map((L) => ({
            T,
            L,
            plan: seq.plan(T, { logits: "last", argmax: true, advance: false }),
            ms: [] as number[],
          }))
        );
        const shape: ModelShape = {
          ...PYTHIA_SHAPES[name],
          bytesPerWeight: dtype === "int8" ? 1 : 2,
          dispatches: plans[0].plan.length,
        };
        for (let round = 0; round < 3; round++) {
          for (const p of plans) {
            seq.setState(p.L, p.L);
            p.ms.push(...await timePlan(gpu, timer, p.plan, 1, round === 0));
          }
        }
        for (const p of plans) points.push({ shape, T: p.T, L: p.L, ms: median(p.ms) });
      } finally {
        seq.destroy();
        model.destroy();
      }
    }
    const c = byDtype[dtype] = fitSimulator(points);
    for (const p of points) {
      const [dn, bytes, flops, pairs] = simulatorTerms(p.shape, p.T, p.L);
      const fit = dn * c.msPerDispatch + bytes * c.msPerWeightByte + flops * c.msPerFlop +
        pairs * c.msPerKeyPair;
      errors.push(100 * Math.abs(fit - p.ms) / p.ms);
    }
  }
  return {
    form: SIMULATOR_FORM,
    byDtype,
    calibratedOn: shapes.map((s) => `synthetic:${s}`),
    fitError: {
      meanRelPct: errors.reduce((a, b) => a + b, 0) / errors.length,
      maxRelPct: Math.max(...errors),
      points: errors.length,
    },
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

/** What `calibrateCosts` measures. */
export interface CostCalibrationOptions {
  /** Target model (folder or synthetic:...). */
  target: string;
  /** Draft model. */
  draft: string;
  quant: ("fp16" | "int8")[];
  /** Largest K: verify passes of 2..kMax+1 tokens are measured. */
  kMax: number;
  /** Prefill lengths to measure besides the default knots (e.g. the sweep's prompt lengths). */
  prefillLengths?: number[];
  /** Cache lengths L to measure every T at (default 16, 64, 128). */
  cacheLens?: number[];
  /** Rounds over the (T, L) grid (default 3; each point's median over all is kept). */
  rounds?: number;
  /** Timed repetitions per (T, L) and round (default 1). */
  reps?: number;
  /** Samples of each overhead loop, interleaved across loops (default 3). */
  loopSamples?: number;
  /** Synthetic shapes to fit the simulator on (default {@link SIMULATOR_SHAPES}). */
  simulatorShapes?: string[];
  /**
   * Token trees to price: their verify (all nodes, ancestor mask) and the draft's passes over
   * each deeper level are measured as pass kinds `target-<quant>-tree` and `draft-fp16-tree`.
   */
  trees?: TokenTree[];
  progress?: (line: string) => void;
}

/**
 * Synthetic shapes the simulator's pass form is fitted on; the models being calibrated
 * (other shapes: another vocabulary, width and depth) are its left-out check.
 */
export const SIMULATOR_SHAPES = ["pythia-14m", "pythia-70m", "pythia-160m"];

/** Token counts of the one-row-logits knots besides 1..kMax+1: prefill chunk sizes. */
const PREFILL_KNOTS = [16, 32, 64];

/**
 * Measures a device profile with pass costs (profiler/cost_model.ts): GPU time of every pass
 * kind of the given models as a function of tokens T and cache length L, the fitted model
 * and its error, and the per-wait and per-pass overheads of real generation loops on a
 * calibration prompt (ids that are no built-in prompt), plus the simulator's rates.
 */
export async function calibrateCosts(
  gpu: Gpu,
  o: CostCalibrationOptions,
): Promise<DeviceCosts> {
  const log = o.progress ?? (() => {});
  const rounds = o.rounds ?? 3;
  const reps = o.reps ?? 1;
  const Ls = o.cacheLens ?? [16, 128];
  const timer = new GpuTimer(gpu, 512);
  let tickCalibration: TickCalibrationInfo | null = null;
  const passes: Record<string, PassFit> = {};
  const loops: Overheads["loops"] = [];
  const decodeTs = [
    ...new Set([
      // The row tiles step at 1, 4, 8 (and multiples of 8): both sides of each step.
      ...[1, 2, 4, 5, 8, 9, 16].filter((t) => t <= o.kMax + 1),
      o.kMax + 1,
      ...PREFILL_KNOTS,
      ...(o.prefillLengths ?? []),
    ]),
  ].sort((a, b) => a - b);
  const verifyTs = [...new Set([2, 4, 5, 8, 9, 16, o.kMax + 1])].filter((t) => t <= o.kMax + 1)
    .sort((a, b) => a - b);
  const draft = await loadModel(gpu, o.draft);
  // Dispatches of one pass of each kind (the simulator's check uses the real count).
  const dispatches: Record<string, number> = {};
  // A tree buffer per token count of a tree pass (the tree whose verify or level has it).
  const treeBufs: GPUBuffer[] = [];
  const treeTs = (levels: boolean) => {
    const byT = new Map<number, GPUBuffer>();
    for (const tree of o.trees ?? []) {
      const buf = storageBuffer(gpu, 0, "calibration tree", treeWords(tree));
      treeBufs.push(buf);
      const Ts = levels
        ? tree.levels.slice(1, tree.widths.length).map((l) => l.count)
        : [tree.parent.length];
      for (const T of Ts) if (!byT.has(T)) byT.set(T, buf);
    }
    return byT;
  };
  const measureKind = async (
    model: NeoxModel,
    key: string,
    Ts: number[],
    verify: boolean,
    trees?: Map<number, GPUBuffer>,
  ) => {
    if (Ts.length === 0) return;
    const maxT = Math.max(...Ts);
    const capacity = Math.max(...Ls) + maxT + 1;
    const seq = model.newSequence({
      capacity,
      maxTokens: capacity + 1,
      maxT,
      logitsRows: verify ? maxT : 1,
    });
    // Rounds over the whole (L, T) grid, each point's median over rounds: on a shared
    // machine a slow spell of a second or two then spoils one round of a point, not all of
    // its repetitions (back-to-back repetitions once put a whole row 1.6x high).
    const samples = new Map<string, number[]>();
    try {
      dispatches[key] = seq.plan(Ts[0], {
        logits: verify ? "all" : "last",
        argmax: !verify,
        advance: false,
        tree: trees?.get(Ts[0]),
      }).length;
      for (let round = 0; round < rounds; round++) {
        for (const L of Ls) {
          for (const T of Ts) {
            seq.setState(L, L);
            const plan = seq.plan(T, {
              logits: verify ? "all" : "last",
              argmax: !verify,
              advance: false,
              tree: trees?.get(T),
              // A one-token pass runs what plain decoding runs at this length.
              cacheLen: L + T,
            });
            // The first round warms up (later rounds follow a pass of the same model).
            const ms = await timePlan(gpu, timer, plan, reps, round === 0);
            const k = `${T} ${L}`;
            samples.set(k, [...(samples.get(k) ?? []), ...ms]);
          }
        }
      }
    } finally {
      seq.destroy();
    }
    const points: PassPoint[] = [...samples.entries()].map(([k, ms]) => {
      const [T, L] = k.split(" ").map(Number);
      return { T, L, ms: median(ms) };
    });
    passes[key] = fitPasses(points);
    const e = passes[key].fitError;
    log(
      `${key}: ${points.length} points, fit error mean ${e.meanRelPct.toFixed(1)}% max ${
        e.maxRelPct.toFixed(1)
      }%`,
    );
  };

  for (const quant of o.quant) {
    const target = await loadModel(gpu, o.target, quant === "int8" ? { quant: "int8" } : {});
    if (!tickCalibration) {
      const seq = target.newSequence({ capacity: 8, maxTokens: 8, maxT: 1 });
      const plan = seq.plan(1, { logits: "last", argmax: false, advance: false });
      tickCalibration = await timer.calibrate((pass, r) => {
        for (let i = 0; i < r; i++) encodeDispatches(pass, plan);
      });
      seq.destroy();
      log(
        `ticks: ${tickCalibration.nsPerTick.toFixed(3)} ns/tick, r2 ${
          tickCalibration.r2.toFixed(3)
        }${tickCalibration.fallback ? " (FALLBACK: 1 ns/tick assumed)" : ""}`,
      );
      await measureKind(draft, passKey("draft", "fp16"), decodeTs, false);
      const levels = treeTs(true);
      await measureKind(
        draft,
        passKey("draft", "fp16", true, true),
        [...levels.keys()],
        true,
        levels,
      );
    }
    await measureKind(target, passKey("target", quant), decodeTs, false);
    await measureKind(target, passKey("target", quant, true), verifyTs, true);
    const verifies = treeTs(false);
    await measureKind(
      target,
      passKey("target", quant, true, true),
      [...verifies.keys()],
      true,
      verifies,
    );
    target.destroy();
  }

  // Overheads: real loops on a calibration prompt no sweep uses, wall against pass model.
  const costs: DeviceCosts = {
    schema: DEVICE_SCHEMA,
    form: PASS_FORM,
    ...(await calibrateDevice(gpu, { fitShapes: o.simulatorShapes ?? SIMULATOR_SHAPES })),
    // Names, never the local path: device profiles travel inside shared reports.
    models: { target: modelName(o.target), draft: modelName(o.draft) },
    quant: o.quant,
    tickCalibration,
    passes,
    overheads: fitOverheads([]),
    fitError: combineFitErrors(Object.values(passes).map((p) => p.fitError)),
  };
  costs.simulatorValidation = await simulatorOnLeftOutShapes(costs, o, dispatches);
  for (const v of costs.simulatorValidation) {
    log(
      `simulator on ${v.shape} (${v.key}, not calibrated on it): error mean ${
        v.error.meanRelPct.toFixed(1)
      }% max ${v.error.maxRelPct.toFixed(1)}%`,
    );
  }
  const quant = o.quant[0];
  const target = await loadModel(gpu, o.target, quant === "int8" ? { quant: "int8" } : {});
  const vocab = Math.min(target.cfg.vocabSize, draft.cfg.vocabSize);
  const ids = Array.from({ length: 28 }, (_, i) => (37 + 101 * i) % vocab);
  const loopsToRun: { what: string; c: RunConfig; n: number }[] = [
    { what: "baseline N=24", c: { mode: "baseline", target, cache: FULL_CACHE }, n: 24 },
    { what: "baseline N=56", c: { mode: "baseline", target, cache: FULL_CACHE }, n: 56 },
    ...[1, 4, o.kMax].map((k) => ({
      what: `speculative K=${k} N=40`,
      c: { mode: "speculative" as const, target, draft, k, cache: FULL_CACHE },
      n: 40,
    })),
  ];
  for (const l of loopsToRun) await warmUp(l.c, [{ ids }], l.n);
  const waitMs = await readbackCost(gpu);
  // Samples interleaved across the loops, so that a slow spell lands on all kinds alike.
  for (let s = 0; s < (o.loopSamples ?? 3); s++) {
    for (const l of loopsToRun) {
      const r = await runGeneration(l.c, ids, l.n, timer);
      const sched = l.c.mode === "baseline"
        ? baselineSchedule(ids.length, l.n, FULL_CACHE)
        : speculativeSchedule(ids.length, l.n, l.c.k!, r.rounds!, FULL_CACHE, waitMs);
      loops.push({
        what: l.what,
        wallMs: r.ttftMs + r.decodeMs,
        timedGpuMs: Object.values(r.passMs).flat().reduce((a, b) => a + b, 0),
        timedModelMs: scheduleGpuMs(costs, quant, sched, "timed"),
        untimedModelMs: scheduleGpuMs(costs, quant, sched, "untimed"),
        waits: r.gpuWaits,
        passes: sched.passes.length,
      });
    }
  }
  target.destroy();
  draft.destroy();
  timer.destroy();
  for (const b of treeBufs) b.destroy();
  costs.overheads = fitOverheads(loops);
  const oe = costs.overheads;
  log(
    `overheads: pass scale ${oe.passScale.toFixed(3)}, ${oe.perWaitMs.toFixed(3)} ms/wait, ${
      oe.perPassMs.toFixed(3)
    } ms/pass; ` +
      `loop-time fit error mean ${oe.fitError.meanRelPct.toFixed(1)}% max ${
        oe.fitError.maxRelPct.toFixed(1)
      }%`,
  );
  return costs;
}

/**
 * The simulator's pass times (rates calibrated on synthetic pythia-70m) for the measured
 * pass kinds of the calibrated models, whose shapes it never saw, against the measurements.
 */
async function simulatorOnLeftOutShapes(
  costs: DeviceCosts,
  o: CostCalibrationOptions,
  dispatches: Record<string, number>,
): Promise<NonNullable<DeviceCosts["simulatorValidation"]>> {
  const { loadConfig } = await import("../engine/config.ts");
  const out: NonNullable<DeviceCosts["simulatorValidation"]> = [];
  for (const [key, fit] of Object.entries(costs.passes)) {
    const role = key.startsWith("draft") ? "draft" : "target";
    const spec = role === "draft" ? o.draft : o.target;
    const cfg = spec.startsWith("synthetic:") ? null : await loadConfig(spec);
    const shape = {
      ...shapeOf(spec, cfg, key.includes("int8") ? 1 : 2),
      dispatches: dispatches[key],
    };
    const rows = fit.points.map((p) => ({
      T: p.T,
      L: p.L,
      measuredMs: p.ms,
      simulatedMs: passTimeMs(costs, shape, p.T, p.L),
    }));
    out.push({
      key,
      shape: modelName(spec),
      error: fitErrorOf(rows.map((r) => ({ fit: r.simulatedMs, measured: r.measuredMs }))),
      rows,
    });
  }
  return out;
}
