/// <reference lib="dom" />
/** Section "throughput": decode throughput vs K, one line per output length, baselines dashed. */

import { noData } from "../charts.ts";
import { fmtX, statLine } from "../format.ts";
import { NO_SPEC, type ReportView, type SectionHost, sliceLabel } from "../view.ts";
import { vsKPanel } from "../vs_k.ts";

export function drawThroughput({ body, caption }: SectionHost, v: ReportView): void {
  const slice = v.refSlice;
  if (v.specs.length === 0 || slice === null) return noData(body, NO_SPEC);
  caption.textContent = `Mean decode throughput over ${v.samples} samples (error bars ±1 std) ` +
    `for ${sliceLabel(slice)}, one line per output length N; dashed lines are the ` +
    `plain-decoding baselines.`;
  vsKPanel(body, v, {
    title: "",
    slice,
    metric: (c) => ({ y: c.throughputTokS.mean, err: c.throughputTokS.std }),
    yLabel: "throughput (tokens/s)",
    tip: (c) => [
      statLine("throughput", c.throughputTokS, "tok/s"),
      ...(c.measuredSpeedup != null ? [`speedup: ${fmtX(c.measuredSpeedup)}`] : []),
    ],
    baseline: (b) => b.throughputTokS.mean,
  });
}
