/**
 * The real Pythia shapes, the one table of them (the simulator's model shapes are derived
 * from it), and the config of a synthetic model of one of them.
 */
import { NeoxError } from "./errors.ts";
import type { NeoxConfig } from "./config.ts";

/** A Pythia shape: hidden d, L layers, H heads, MLP ff, padded vocabulary, rotary share. */
export interface PythiaShape {
  d: number;
  L: number;
  H: number;
  ff: number;
  vocab: number;
  rotaryPct: number;
}

const pythia = (d: number, L: number, H: number, ff = 4 * d): PythiaShape => ({
  d,
  L,
  H,
  ff,
  vocab: 50304,
  rotaryPct: 0.25,
});

/** Real Pythia shapes (vocab padded to 50304, rotary 0.25, parallel residual). */
export const PYTHIA_CONFIGS: Record<string, PythiaShape> = {
  "pythia-14m": pythia(128, 6, 4, 512),
  "pythia-70m": pythia(512, 6, 8, 2048),
  "pythia-160m": pythia(768, 12, 12, 3072),
  "pythia-410m": pythia(1024, 24, 16, 4096),
  "pythia-1b": pythia(2048, 16, 8, 8192),
  "pythia-1.4b": pythia(2048, 24, 16, 8192),
  "pythia-2.8b": pythia(2560, 32, 32, 10240),
};

/** Config of a synthetic Pythia model. */
export function syntheticConfig(name: string): NeoxConfig {
  const s = PYTHIA_CONFIGS[name];
  if (!s) {
    throw new NeoxError(
      `unknown synthetic model "${name}" (choose one of ${Object.keys(PYTHIA_CONFIGS).join(", ")})`,
    );
  }
  const headDim = s.d / s.H;
  return {
    hiddenSize: s.d,
    numLayers: s.L,
    numHeads: s.H,
    headDim,
    intermediateSize: s.ff,
    vocabSize: s.vocab,
    rotaryDims: Math.floor(headDim * s.rotaryPct),
    rotaryBase: 10000,
    maxPositions: 2048,
    layerNormEps: 1e-5,
    parallelResidual: true,
    activation: "gelu",
    attentionBias: true,
    eosTokenId: 0,
    bosTokenId: 0,
  };
}
