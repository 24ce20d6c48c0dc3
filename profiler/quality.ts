/**
 * What INT8 costs in quality and saves in bytes: the logits of a full-precision model and
 * of its quantized twin over the same tokens, compared position by position.
 */
import { allLogits } from "../engine/generate.ts";
import type { NeoxModel } from "../engine/model.ts";
import { NeoxError } from "../engine/errors.ts";

/** Agreement of two logit matrices [positions, vocab] (a reference and a test). */
export interface LogitAgreement {
  positions: number;
  /** max over positions and vocab of |test - ref|. */
  maxAbsLogitError: number;
  /** mean over positions of KL(softmax(ref) || softmax(test)), in nats. */
  meanKlNats: number;
  /** Fraction of positions whose argmax is the same. */
  top1Agreement: number;
}

/** Quality and size of a quantized model against its full-precision twin. */
export interface QuantQuality extends LogitAgreement {
  /** weightBytes of the full-precision model. */
  fpWeightBytes: number;
  /** weightBytes of the quantized model. */
  quantWeightBytes: number;
  /** quantWeightBytes / fpWeightBytes. */
  weightRatio: number;
}

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

/** Index of the largest entry (the first one on ties, as the argmax kernel). */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Compares `test` logits with `ref` logits, both row-major [positions, vocab], in float64. */
export function compareLogits(
  ref: Float32Array,
  test: Float32Array,
  vocab: number,
): LogitAgreement {
  if (ref.length !== test.length || ref.length % vocab !== 0) {
    throw new Error(`logit matrices of ${ref.length} and ${test.length} values, vocab ${vocab}`);
  }
  const positions = ref.length / vocab;
  let maxAbsLogitError = 0;
  let kl = 0;
  let agree = 0;
  for (let p = 0; p < positions; p++) {
    const a = ref.subarray(p * vocab, (p + 1) * vocab);
    const b = test.subarray(p * vocab, (p + 1) * vocab);
    for (let i = 0; i < vocab; i++) {
      maxAbsLogitError = Math.max(maxAbsLogitError, Math.abs(b[i] - a[i]));
    }
    const la = logSoftmax(a);
    const lb = logSoftmax(b);
    for (let i = 0; i < vocab; i++) kl += Math.exp(la[i]) * (la[i] - lb[i]);
    if (argmax(a) === argmax(b)) agree++;
  }
  return {
    positions,
    maxAbsLogitError,
    meanKlNats: positions ? kl / positions : 0,
    top1Agreement: positions ? agree / positions : 1,
  };
}

/**
 * Runs `ids` through `fp` and its quantized twin `q` (all logits, fresh caches) and
 * reports their weight bytes and how far the quantized logits drift.
 */
export async function quantQuality(
  fp: NeoxModel,
  q: NeoxModel,
  ids: number[],
): Promise<QuantQuality> {
  if (fp.cfg.vocabSize !== q.cfg.vocabSize) {
    throw new NeoxError(
      `cannot compare ${fp.source} with ${q.source}: vocab sizes ${fp.cfg.vocabSize} and ${q.cfg.vocabSize} differ`,
    );
  }
  const ref = await allLogits(fp, ids);
  const test = await allLogits(q, ids);
  return {
    fpWeightBytes: fp.weightBytes,
    quantWeightBytes: q.weightBytes,
    weightRatio: q.weightBytes / fp.weightBytes,
    ...compareLogits(ref, test, fp.cfg.vocabSize),
  };
}
