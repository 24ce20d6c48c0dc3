/**
 * A roofline-style predictor of draft, target and verify pass times on a described device,
 * and of the speculative speedup they give (`mod.ts simulate`).
 *
 * One forward pass of T tokens with L cached keys costs
 *
 *   dispatchMs * (10 * layers + 5)
 *   + max(weightBytes / gemvGBs[dtype], 2 * T * weightParams / gemmGflops[dtype])
 *   + attnMsPerKey * layers * (L + T)
 *
 * where weightParams counts the matrices streamed per pass (per layer QKV 3d^2, attention
 * output d^2, MLP 2 d ff; plus the unembedding V d). Biases, norms and the embedding rows
 * read (under 0.1% of the bytes) are left out.
 */

import { PYTHIA_CONFIGS } from "../engine/pythia.ts";
import { leviathanTokensPerRound } from "./analytic.ts";

/** Measured (or assumed) speeds of one device. */
export interface DeviceProfile {
  /** Human-readable device name. */
  description: string;
  /** The adapter and CPU that were calibrated (profiler/device_info.ts). */
  machine?: import("./device_info.ts").MachineDescription;
  /** GB/s for reading weights in a GEMV, per weight dtype. */
  gemvGBs: { f16: number; f32: number; int8: number };
  /** GFLOP/s of the multi-token GEMM per dtype. */
  gemmGflops: { f16: number; f32: number; int8: number };
  /** Fixed cost per kernel dispatch, ms. */
  dispatchMs: number;
  /** Cost of one GPU wait (onSubmittedWorkDone / mapAsync round trip), ms. */
  waitMs: number;
  /** Attention cost per cached key per layer, ms (small); 0 when absent. */
  attnMsPerKey?: number;
  /** How the GPU timer's ticks became ns (its fit r2 and whether it fell back to 1 ns/tick). */
  tickCalibration?: { nsPerTick: number; r2: number; samples: number; fallback: boolean } | null;
  /**
   * The fitted pass form (calibrate): when present, passTimeMs uses it instead of the
   * roofline rates above.
   */
  passFit?: SimulatorFit;
}

/** Coefficients of the fitted pass form for one weight dtype. */
export interface SimulatorCoefficients {
  msPerDispatch: number;
  msPerWeightByte: number;
  msPerFlop: number;
  /** ms per (layer x query x key) attention pair. */
  msPerKeyPair: number;
}

/**
 * The simulator's fitted pass form:
 *
 *   T_pass = dispatches * d + weightBytes * w + 2 T weightParams * f + layers T (L + T) * a
 *
 * (all four >= 0, least squares on relative error), fitted per weight dtype on passes of
 * synthetic Pythia shapes and checked on shapes it was not fitted on.
 */
export interface SimulatorFit {
  form: string;
  byDtype: Partial<Record<"f16" | "f32" | "int8", SimulatorCoefficients>>;
  /** The shapes the coefficients were fitted on. */
  calibratedOn: string[];
  /** Mean and max relative error on those points, %. */
  fitError: { meanRelPct: number; maxRelPct: number; points: number };
}

/** The form string of {@link SimulatorFit}. */
export const SIMULATOR_FORM =
  "T_pass = dispatches * d + weightBytes * w + 2 T weightParams * f + layers T (L + T) * a; " +
  "d, w, f, a >= 0 per weight dtype, least squares on relative error";

/** The shape of a GPT-NeoX model, enough to count its bytes, FLOPs and dispatches. */
export interface ModelShape {
  /** Model name, e.g. "pythia-70m". */
  name: string;
  /** Hidden size d. */
  hidden: number;
  /** Transformer layers. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** MLP inner size (4 d for Pythia). */
  ff: number;
  /** Padded vocabulary size V. */
  vocab: number;
  /** 2 for fp16, 4 for fp32, 1 for int8. */
  bytesPerWeight: number;
  /** Kernel dispatches of one pass when known (a loaded model's plan); else estimated. */
  dispatches?: number;
}

/** The real Pythia shapes (fp16) of engine/pythia.ts, keyed "pythia-70m" etc. */
export const PYTHIA_SHAPES: Record<string, ModelShape> = Object.fromEntries(
  Object.entries(PYTHIA_CONFIGS).map(([name, s]) => [name, {
    name,
    hidden: s.d,
    layers: s.L,
    heads: s.H,
    ff: s.ff,
    vocab: s.vocab,
    bytesPerWeight: 2,
  }]),
);

/**
 * Kernel dispatches of one forward pass: the loaded model's count when the shape has one,
 * else 7 per layer plus 4 (engine/model.ts plan of a model whose weights are not repacked:
 * synthetic or int8; an f16 checkpoint's plan has 6 per layer plus 4).
 */
export function dispatchesPerPass(shape: ModelShape): number {
  return shape.dispatches ?? 7 * shape.layers + 4;
}

/** The regressors of the fitted form for a pass: dispatches, bytes, FLOPs, attention pairs. */
export function simulatorTerms(shape: ModelShape, T: number, L: number): number[] {
  const params = weightParamsPerPass(shape);
  return [
    dispatchesPerPass(shape),
    params * shape.bytesPerWeight,
    2 * T * params,
    shape.layers * T * (L + T),
  ];
}

/**
 * Non-negative least squares of small systems (rows x, targets y): the unconstrained
 * solution on the free variables; the most negative one is fixed at 0 and the rest refitted
 * until none is negative.
 */
export function nonNegativeLeastSquares(x: number[][], y: number[]): number[] {
  const n = x[0]?.length ?? 0;
  const free = new Set(Array.from({ length: n }, (_, i) => i));
  for (;;) {
    const idx = [...free];
    const m = idx.length;
    const a = Array.from({ length: m }, () => new Array<number>(m + 1).fill(0));
    x.forEach((row, r) => {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < m; j++) a[i][j] += row[idx[i]] * row[idx[j]];
        a[i][m] += row[idx[i]] * y[r];
      }
    });
    // Gaussian elimination with partial pivoting.
    for (let c = 0; c < m; c++) {
      let piv = c;
      for (let r = c + 1; r < m; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
      [a[c], a[piv]] = [a[piv], a[c]];
      if (Math.abs(a[c][c]) < 1e-300) continue;
      for (let r = 0; r < m; r++) {
        if (r === c) continue;
        const f = a[r][c] / a[c][c];
        for (let k = c; k <= m; k++) a[r][k] -= f * a[c][k];
      }
    }
    const sol = a.map((row, i) => (Math.abs(row[i]) < 1e-300 ? 0 : row[m] / row[i]));
    let worst = -1;
    sol.forEach((v, i) => {
      if (v < 0 && (worst < 0 || v < sol[worst])) worst = i;
    });
    if (worst < 0) {
      const out = new Array<number>(n).fill(0);
      idx.forEach((v, i) => (out[v] = sol[i]));
      return out;
    }
    free.delete(idx[worst]);
  }
}

/**
 * Fits {@link SimulatorFit} coefficients of one dtype to measured passes (relative error:
 * each row divided by its time, so a 2 ms pass counts as much as a 200 ms one).
 */
export function fitSimulator(
  points: { shape: ModelShape; T: number; L: number; ms: number }[],
): SimulatorCoefficients {
  const x = points.map((p) => simulatorTerms(p.shape, p.T, p.L).map((v) => v / p.ms));
  const [msPerDispatch, msPerWeightByte, msPerFlop, msPerKeyPair] = nonNegativeLeastSquares(
    x,
    points.map(() => 1),
  );
  return { msPerDispatch, msPerWeightByte, msPerFlop, msPerKeyPair };
}

/** Matrix parameters streamed by one forward pass: layers * (4 d^2 + 2 d ff) + V d. */
export function weightParamsPerPass(shape: ModelShape): number {
  const d = shape.hidden;
  return shape.layers * (4 * d * d + 2 * d * shape.ff) + shape.vocab * d;
}

function dtypeKey(shape: ModelShape): "f16" | "f32" | "int8" {
  switch (shape.bytesPerWeight) {
    case 1:
      return "int8";
    case 2:
      return "f16";
    case 4:
      return "f32";
    default:
      throw new RangeError(
        `${shape.name}: bytesPerWeight must be 1, 2 or 4, got ${shape.bytesPerWeight}`,
      );
  }
}

/**
 * Predicted GPU time of one forward pass of `tokens` tokens over `cacheLen` already-cached
 * keys, ms (no host waits; see the module doc for the formula).
 */
export function passTimeMs(
  profile: DeviceProfile,
  shape: ModelShape,
  tokens: number,
  cacheLen: number,
): number {
  if (!(tokens >= 1)) throw new RangeError(`a pass needs at least one token, got ${tokens}`);
  if (!(cacheLen >= 0)) throw new RangeError(`cacheLen must be >= 0, got ${cacheLen}`);
  const dtype = dtypeKey(shape);
  const fitted = profile.passFit?.byDtype[dtype];
  if (fitted) {
    const [dn, bytes, flops, pairs] = simulatorTerms(shape, tokens, cacheLen);
    return dn * fitted.msPerDispatch + bytes * fitted.msPerWeightByte +
      flops * fitted.msPerFlop + pairs * fitted.msPerKeyPair;
  }
  const params = weightParamsPerPass(shape);
  const memoryMs = (params * shape.bytesPerWeight) / (profile.gemvGBs[dtype] * 1e6);
  const computeMs = (2 * tokens * params) / (profile.gemmGflops[dtype] * 1e6);
  const attentionMs = (profile.attnMsPerKey ?? 0) * shape.layers * (cacheLen + tokens);
  return profile.dispatchMs * dispatchesPerPass(shape) + Math.max(memoryMs, computeMs) +
    attentionMs;
}

/** What to simulate. */
export interface SimulationInput {
  /** The verifying (large) model. */
  target: ModelShape;
  /** The drafting (small) model. */
  draft: ModelShape;
  /** Per-token acceptance probability a (Leviathan's model), in [0, 1]. */
  alpha: number;
  /** Draft lengths K to evaluate. */
  kValues: number[];
  /** New tokens N generated; the passes see the mean cache length promptTokens + N / 2. */
  newTokens: number;
  /** Prompt length, tokens (default 0). */
  promptTokens?: number;
  /**
   * GPU waits per sequential decode step (default 1: one readback of the next token). A plain
   * decode pays it once per token; a speculative round pays it K + 1 times (each draft step
   * and the verify pass).
   */
  waitsPerToken?: number;
}

/** Prediction for one draft length K. */
export interface SimulatedConfig {
  /** Draft length K. */
  k: number;
  /** One draft pass (1 token), ms. */
  tDraftMs: number;
  /** One plain target decode pass (1 token), ms. */
  tTargetMs: number;
  /** One verify pass (K + 1 tokens), ms. */
  tVerifyMs: number;
  /** tDraftMs / tTargetMs. */
  c: number;
  /** Leviathan's E[tokens/round] = (1 - a^(K+1)) / (1 - a). */
  expectedTokensPerRound: number;
  /** Plain decoding: 1000 / (tTargetMs + waits * waitMs). */
  baselineTokS: number;
  /** E * 1000 / (K tDraftMs + tVerifyMs + (K + 1) waits * waitMs). */
  speculativeTokS: number;
  /** speculativeTokS / baselineTokS. */
  speedup: number;
}

/**
 * Predicts steady-state decode throughput with and without speculation for each K. With no
 * wait cost the speedup equals the refined analytic model E / (K c + T_verify / T_target).
 */
export function simulate(profile: DeviceProfile, input: SimulationInput): SimulatedConfig[] {
  const { target, draft, alpha, kValues, newTokens } = input;
  const waits = input.waitsPerToken ?? 1;
  const cacheLen = (input.promptTokens ?? 0) + newTokens / 2;
  const waitMs = waits * profile.waitMs;
  const tDraftMs = passTimeMs(profile, draft, 1, cacheLen);
  const tTargetMs = passTimeMs(profile, target, 1, cacheLen);
  const baselineTokS = 1000 / (tTargetMs + waitMs);
  return kValues.map((k) => {
    const tVerifyMs = passTimeMs(profile, target, k + 1, cacheLen);
    const expectedTokensPerRound = leviathanTokensPerRound(alpha, k);
    const roundMs = k * tDraftMs + tVerifyMs + (k + 1) * waitMs;
    const speculativeTokS = (1000 * expectedTokensPerRound) / roundMs;
    return {
      k,
      tDraftMs,
      tTargetMs,
      tVerifyMs,
      c: tDraftMs / tTargetMs,
      expectedTokensPerRound,
      baselineTokS,
      speculativeTokS,
      speedup: speculativeTokS / baselineTokS,
    };
  });
}
