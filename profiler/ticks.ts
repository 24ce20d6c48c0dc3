/**
 * GPU timestamp ticks -> milliseconds.
 *
 * Deno's WebGPU timestamp queries resolve to raw counter ticks whose period is not
 * guaranteed to be 1 ns. {@link calibrateTicks} fits the period from GPU passes that span a
 * known wall-clock interval; {@link decodeTimestampPairs} turns a resolved query buffer of
 * begin/end pairs into durations.
 */
import { mean, median } from "./stats.ts";

/** One calibration pair: a GPU pass's tick delta and the wall-clock interval it spanned. */
export interface TickSample {
  /** end - begin timestamp of the pass, in ticks (a bigint straight from the query buffer). */
  ticks: bigint | number;
  /** Wall-clock duration of the same pass, ns. */
  wallNs: number;
}

/** Result of {@link calibrateTicks}. */
export interface TickCalibration {
  /** Fitted nanoseconds per tick (slope through the origin of wallNs against ticks). */
  nsPerTick: number;
  /**
   * Coefficient of determination of the fit on the pairs kept: 1 - SS_res / SS_tot with
   * SS_tot centered on the mean wall interval (1 when every kept pair is fit exactly).
   */
  r2: number;
  /** Root-mean-square residual of the kept pairs, ns. */
  rmsResidualNs: number;
  /** Pairs kept by the fit. */
  used: number;
  /** Pairs rejected as outliers (or unusable: non-positive tick delta, non-finite wall time). */
  rejected: number;
}

function slopeThroughOrigin(pairs: readonly [number, number][]): number {
  let tw = 0;
  let tt = 0;
  for (const [t, w] of pairs) {
    tw += t * w;
    tt += t * t;
  }
  return tw / tt;
}

/**
 * Fits ns per tick from (tickDelta, wallDelta) pairs by least squares through the origin,
 * made robust to scheduling outliers (a wall interval inflated by a preemption or a late
 * callback):
 *
 * 1. start from the median of the per-pair ratios wallNs / ticks (robust to < 50% outliers);
 * 2. reject pairs whose residual exceeds 3 robust standard deviations
 *    (1.4826 * median absolute residual, floored at 1e-9 of the largest wall interval);
 * 3. refit by least squares through the origin on the kept pairs; repeat steps 2-3 once.
 *
 * @throws RangeError when no pair has a positive tick delta and a finite wall interval.
 */
export function calibrateTicks(samples: readonly TickSample[]): TickCalibration {
  const pairs: [number, number][] = [];
  for (const s of samples) {
    const t = Number(s.ticks);
    if (t > 0 && Number.isFinite(t) && Number.isFinite(s.wallNs)) pairs.push([t, s.wallNs]);
  }
  if (pairs.length === 0) {
    throw new RangeError("calibrateTicks: no pair with a positive tick delta and finite wall time");
  }
  const wallMax = Math.max(...pairs.map(([, w]) => Math.abs(w)));
  let slope = median(pairs.map(([t, w]) => w / t));
  let kept = pairs;
  for (let pass = 0; pass < 2; pass++) {
    const residuals = pairs.map(([t, w]) => w - slope * t);
    const sigma = 1.4826 * median(residuals.map(Math.abs));
    const limit = Math.max(3 * sigma, 1e-9 * wallMax);
    const inliers = pairs.filter((_, i) => Math.abs(residuals[i]) <= limit);
    if (inliers.length === 0) break;
    kept = inliers;
    slope = slopeThroughOrigin(kept);
  }

  const meanWall = mean(kept.map(([, w]) => w));
  let ssRes = 0;
  let ssTot = 0;
  for (const [t, w] of kept) {
    ssRes += (w - slope * t) ** 2;
    ssTot += (w - meanWall) ** 2;
  }
  const r2 = ssTot > 0 ? 1 - ssRes / ssTot : (ssRes === 0 ? 1 : 0);
  return {
    nsPerTick: slope,
    r2,
    rmsResidualNs: Math.sqrt(ssRes / kept.length),
    used: kept.length,
    rejected: samples.length - kept.length,
  };
}

/**
 * Tick deltas between consecutive absolute readings, as calibration pairs: reading i gives
 * (ticks[i+1] - ticks[i], wallNs[i+1] - wallNs[i]). Subtracts in bigint, so raw 64-bit
 * counters above 2^53 keep their precision.
 */
export function deltasFromReadings(
  readings: readonly { ticks: bigint | number; wallNs: number }[],
): TickSample[] {
  const out: TickSample[] = [];
  for (let i = 1; i < readings.length; i++) {
    const a = readings[i - 1];
    const b = readings[i];
    const ticks = typeof a.ticks === "bigint" || typeof b.ticks === "bigint"
      ? BigInt(b.ticks) - BigInt(a.ticks)
      : b.ticks - a.ticks;
    out.push({ ticks, wallNs: b.wallNs - a.wallNs });
  }
  return out;
}

/** Converts a tick delta to milliseconds. */
export function ticksToMs(deltaTicks: bigint | number, nsPerTick: number): number {
  return (Number(deltaTicks) * nsPerTick) / 1e6;
}

/**
 * Decodes a resolved timestamp query buffer laid out as [begin0, end0, begin1, end1, ...]
 * into one duration per pair, in ms. A pair whose begin or end is 0 (a query never written
 * resolves to 0) or whose end precedes its begin gives NaN: filter with Number.isFinite.
 *
 * @throws RangeError on an odd number of timestamps.
 */
export function decodeTimestampPairs(data: BigUint64Array, nsPerTick: number): number[] {
  if (data.length % 2 !== 0) {
    throw new RangeError(`timestamp buffer holds ${data.length} values, not begin/end pairs`);
  }
  const durations: number[] = [];
  for (let i = 0; i < data.length; i += 2) {
    const begin = data[i];
    const end = data[i + 1];
    durations.push(
      begin === 0n || end === 0n || end < begin ? NaN : ticksToMs(end - begin, nsPerTick),
    );
  }
  return durations;
}
