/// <reference lib="dom" />
/** Section "throughput": decode throughput vs K, one line per output length, baselines dashed. */

import { noData } from "../charts.ts";
import { f1, fmtX, statLine } from "../format.ts";
import { type Cfg, NO_SPEC, type ReportView, type SectionHost, sliceLabel } from "../view.ts";
import { vsKPanel } from "../vs_k.ts";

export function drawThroughput({ body, caption }: SectionHost, v: ReportView): void {
  const slice = v.refSlice;
  if (v.specs.length === 0 || slice === null) return noData(body, NO_SPEC);
  const ci = (c: Cfg) =>
    c.throughputCi && c.throughputCi.halfWidth >= 0 ? c.throughputCi.halfWidth : undefined;
  const bars = v.specs.some((c) => ci(c) !== undefined)
    ? "error bars: 95% CI of the mean"
    : v.specs.some((c) => c.throughputCi)
    ? "no CI: fewer than 2 samples"
    : "error bars ±1 std";
  caption.textContent = `Mean decode throughput over ${v.samples} samples (${bars}) ` +
    `for ${sliceLabel(slice)}, one line per output length N; dashed lines are the ` +
    `plain-decoding baselines.`;
  vsKPanel(body, v, {
    title: "",
    slice,
    // Files written before profile reported CIs keep their ±1 std bars.
    metric: (c) => ({
      y: c.throughputTokS.mean,
      err: c.throughputCi ? ci(c) : c.throughputTokS.std,
    }),
    yLabel: "throughput (tokens/s)",
    tip: (c) => [
      statLine("throughput", c.throughputTokS, "tok/s"),
      ...(ci(c) !== undefined ? [`95% CI: ± ${f1(ci(c) as number)} tok/s`] : []),
      ...(c.measuredSpeedup != null ? [`speedup: ${fmtX(c.measuredSpeedup)}`] : []),
    ],
    baseline: (b) => b.throughputTokS.mean,
  });
}
