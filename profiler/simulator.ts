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
}

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

/** Kernel dispatches of one forward pass: 10 per layer plus 5. */
export function dispatchesPerPass(shape: ModelShape): number {
  return 10 * shape.layers + 5;
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
