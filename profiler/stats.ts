/**
 * THE statistics module: every mean, median, percentile, standard deviation and confidence
 * interval of the tool comes from here (the `Stat` of the results schema included), so
 * sweep, bench, calibrate and predict summarize samples the same way.
 */

import type { Stat } from "./results.ts";

/**
 * Mean, sample standard deviation (n - 1 denominator), min, max and count of `samples`.
 *
 * One sample gives std 0. No samples give all zeros with n 0 (JSON-safe; `n` says there
 * was nothing to summarize). Throws a RangeError on a non-finite sample.
 */
export function stat(samples: readonly number[]): Stat {
  const n = samples.length;
  if (n === 0) return { mean: 0, std: 0, min: 0, max: 0, n: 0 };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const x of samples) {
    if (!Number.isFinite(x)) throw new RangeError(`stat: sample ${x} is not a finite number`);
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / n;
  let squares = 0;
  for (const x of samples) squares += (x - mean) * (x - mean);
  const std = n > 1 ? Math.sqrt(squares / (n - 1)) : 0;
  return { mean, std, min, max, n };
}

function finite(samples: readonly number[], what: string): void {
  for (const x of samples) {
    if (!Number.isFinite(x)) throw new RangeError(`${what}: sample ${x} is not a finite number`);
  }
}

/** Arithmetic mean; NaN with no samples. */
export function mean(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  let sum = 0;
  for (const x of samples) sum += x;
  return sum / samples.length;
}

/** Sample standard deviation (n - 1 denominator); 0 with fewer than two samples. */
export function std(samples: readonly number[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const m = mean(samples);
  let squares = 0;
  for (const x of samples) squares += (x - m) * (x - m);
  return Math.sqrt(squares / (n - 1));
}

/**
 * The p-th percentile (p in [0, 100]) by linear interpolation between order statistics
 * (the "R-7" rule of numpy and spreadsheets); NaN with no samples.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  if (samples.length === 0) return NaN;
  finite(samples, "percentile");
  const sorted = [...samples].sort((a, b) => a - b);
  const h = (sorted.length - 1) * p / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Median (the 50th percentile; the mean of the middle two of an even count). */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

// Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
const T975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/** A confidence interval of a mean. */
export interface MeanInterval {
  mean: number;
  /** Half-width: the interval is mean +- halfWidth (Infinity with fewer than two samples). */
  halfWidth: number;
  /** halfWidth / |mean| (Infinity when undefined). */
  relHalfWidth: number;
  n: number;
  /** Confidence level, 0.95. */
  level: number;
  /** How it was computed. */
  method: "student-t";
}

/**
 * 95% confidence interval of the mean, t-based: mean +- t(0.975, n-1) * s / sqrt(n), with
 * s the sample standard deviation (assumes roughly normal, independent samples; beyond 30
 * degrees of freedom the normal quantile 1.96 is used).
 */
export function meanInterval(samples: readonly number[]): MeanInterval {
  finite(samples, "meanInterval");
  const n = samples.length;
  const m = mean(samples);
  const t = n < 2 ? Infinity : n - 1 <= 30 ? T975[n - 2] : 1.96;
  const halfWidth = n < 2 ? Infinity : t * std(samples) / Math.sqrt(n);
  return {
    mean: m,
    halfWidth,
    relHalfWidth: m !== 0 && Number.isFinite(halfWidth) ? halfWidth / Math.abs(m) : Infinity,
    n,
    level: 0.95,
    method: "student-t",
  };
}
