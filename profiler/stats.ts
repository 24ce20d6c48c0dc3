/**
 * Summary statistics of repeated measurements (the `Stat` of the results schema).
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
