/// <reference lib="dom" />
/** Section "latency": time per output token and time to first token vs K. */

import { noData, panels } from "../charts.ts";
import { statLine } from "../format.ts";
import { NO_SPEC, type ReportView, type SectionHost, sliceLabel } from "../view.ts";
import { vsKPanel } from "../vs_k.ts";

export function drawLatency({ body, caption }: SectionHost, v: ReportView): void {
  const slice = v.refSlice;
  if (v.specs.length === 0 || slice === null) return noData(body, NO_SPEC);
  caption.textContent = `Time per output token (TPOT) and time to first token (TTFT), ` +
    `${sliceLabel(slice)}; error bars ±1 std, dashed lines are the baselines.`;
  const box = panels(body);
  vsKPanel(box, v, {
    title: "TPOT",
    slice,
    metric: (c) => ({ y: c.tpotMs.mean, err: c.tpotMs.std }),
    yLabel: "TPOT (ms/token)",
    tip: (c) => [statLine("TPOT", c.tpotMs, "ms")],
    baseline: (b) => b.tpotMs.mean,
  });
  vsKPanel(box, v, {
    title: "TTFT",
    slice,
    metric: (c) => ({ y: c.ttftMs.mean, err: c.ttftMs.std }),
    yLabel: "TTFT (ms)",
    tip: (c) => [statLine("TTFT", c.ttftMs, "ms")],
    baseline: (b) => b.ttftMs.mean,
  });
}
