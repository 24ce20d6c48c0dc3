/**
 * INT8 weight quantization, done once at load time. Symmetric: scale = absmax / 127,
 * q = round(w / scale) clamped to [-127, 127], one scale per output row (per channel) or
 * per `group` input features of a row (the last group of a row may be shorter).
 * Row n's K int8 values start at word n * ceil(K/4) of a u32 array, four per word, lowest
 * byte first (the order `unpack4xI8` reads); a row's padding bytes are zero.
 */
import { NeoxError } from "./errors.ts";

/** The `--quant` / `--draft-quant` modes. */
export type QuantMode = "int8" | "int8-g128";

/** All quant modes, for flag validation. */
export const QUANT_MODES: readonly QuantMode[] = ["int8", "int8-g128"];

/** Input features per scale of a mode: 0 means one scale per output row. */
export function quantGroup(mode: QuantMode): number {
  return mode === "int8-g128" ? 128 : 0;
}

/** A quantized weight matrix [N, K]. */
export interface Int8Matrix {
  /** [N, ceil(K/4)] u32, four int8 per word, lowest byte = lowest k. */
  packed: Uint32Array;
  /** [N, int8Groups(K, group)] f32 */
  scales: Float32Array;
}

/** u32 words of one packed row of K int8 values. */
export function int8RowWords(K: number): number {
  return Math.ceil(K / 4);
}

/** Scales per row: 1 per channel (group 0), else ceil(K / group). */
export function int8Groups(K: number, group: number): number {
  return group === 0 ? 1 : Math.ceil(K / group);
}

function checkGroup(group: number): void {
  if (!(group === 0 || (Number.isInteger(group) && group > 0 && group % 4 === 0))) {
    // a group boundary must fall on a word boundary so one word has one scale
    throw new NeoxError(`int8 group size ${group} is not 0 or a positive multiple of 4`);
  }
}

/**
 * Quantizes `w` [N, K] (row-major) to symmetric int8 with one scale per row (`group` 0)
 * or per `group` input features of each row.
 */
export function quantizeInt8(w: Float32Array, N: number, K: number, group = 0): Int8Matrix {
  checkGroup(group);
  if (w.length !== N * K) {
    throw new NeoxError(`cannot quantize ${w.length} values as a ${N}x${K} matrix`);
  }
  const words = int8RowWords(K);
  const G = int8Groups(K, group);
  const width = group === 0 ? K : group;
  const packed = new Uint32Array(N * words);
  // little-endian byte view: byte 4*word + i is bits 8i..8i+7 of that word
  const bytes = new Int8Array(packed.buffer);
  const scales = new Float32Array(N * G);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let g = 0; g < G; g++) {
      const k0 = g * width;
      const k1 = Math.min(K, k0 + width);
      let absmax = 0;
      for (let k = k0; k < k1; k++) absmax = Math.max(absmax, Math.abs(w[row + k]));
      const scale = Math.fround(absmax / 127);
      scales[n * G + g] = scale;
      if (scale === 0) continue;
      for (let k = k0; k < k1; k++) {
        const v = w[row + k] / scale;
        // round half away from zero keeps the grid symmetric
        const q = Math.min(127, Math.round(Math.abs(v)));
        bytes[n * words * 4 + k] = v < 0 ? -q : q;
      }
    }
  }
  return { packed, scales };
}

/** The f32 weights [N, K] that the int8 kernels compute with: fround(q * scale). */
export function dequantizeInt8(m: Int8Matrix, N: number, K: number, group = 0): Float32Array {
  checkGroup(group);
  const words = int8RowWords(K);
  const G = int8Groups(K, group);
  const bytes = new Int8Array(m.packed.buffer, m.packed.byteOffset, m.packed.byteLength);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const g = group === 0 ? 0 : Math.floor(k / group);
      out[n * K + k] = bytes[n * words * 4 + k] * m.scales[n * G + g];
    }
  }
  return out;
}

/** The group of {@link concatInt8}'s [a | b] (Ka and Kb input features), or null if none. */
export function concatGroup(Ka: number, Kb: number, group: number): number | null {
  checkGroup(group);
  const g = group === 0 ? Ka : group;
  return Ka % 4 !== 0 || Ka % g !== 0 || (group === 0 && Kb % Ka !== 0) ? null : g;
}

/**
 * Two quantized matrices of N rows side by side, [a | b] as one [N, Ka + Kb] (the fused
 * [dense | dense_4h_to_h] matrix of a parallel-residual layer), with the same weights and
 * scales: with group scales (Ka a multiple of the group) a row's groups of b follow those of a;
 * with one scale per row (group 0) each part's row scale becomes the scale of its groups of Ka
 * features (Kb a multiple of Ka), so the result has group Ka. Null where neither holds.
 */
export function concatInt8(
  a: Int8Matrix,
  Ka: number,
  b: Int8Matrix,
  Kb: number,
  N: number,
  group: number,
): { m: Int8Matrix; group: number } | null {
  const g = concatGroup(Ka, Kb, group);
  if (g === null) return null;
  const [wa, wb] = [int8RowWords(Ka), int8RowWords(Kb)];
  const [Ga, Gb] = [int8Groups(Ka, group), int8Groups(Kb, group)];
  const G = int8Groups(Ka + Kb, g);
  const packed = new Uint32Array(N * (wa + wb));
  const scales = new Float32Array(N * G);
  for (let n = 0; n < N; n++) {
    packed.set(a.packed.subarray(n * wa, (n + 1) * wa), n * (wa + wb));
    packed.set(b.packed.subarray(n * wb, (n + 1) * wb), n * (wa + wb) + wa);
    if (group === 0) {
      scales[n * G] = a.scales[n];
      scales.fill(b.scales[n], n * G + 1, (n + 1) * G);
    } else {
      scales.set(a.scales.subarray(n * Ga, (n + 1) * Ga), n * G);
      scales.set(b.scales.subarray(n * Gb, (n + 1) * Gb), n * G + Ga);
    }
  }
  return { m: { packed, scales }, group: g };
}
