/// <reference lib="dom" />
/** Section "latency": time per output token and time to first token vs K. */

import { noData, panels } from "../charts.ts";
import { statLine } from "../format.ts";
import { type Cfg, NO_SPEC, type ReportView, type SectionHost, sliceLabel } from "../view.ts";
import { vsKPanel } from "../vs_k.ts";

export function drawLatency({ body, caption }: SectionHost, v: ReportView): void {
  const slice = v.refSlice;
  if (v.specs.length === 0 || slice === null) return noData(body, NO_SPEC);
  caption.textContent = `Time per output token (TPOT) and time to first token (TTFT), ` +
    `${sliceLabel(slice)}; error bars ±1 std, dashed lines are the baselines.`;
  const box = panels(body);
  const latencies = [
    { name: "TPOT", stat: (c: Cfg) => c.tpotMs, yLabel: "TPOT (ms/token)" },
    { name: "TTFT", stat: (c: Cfg) => c.ttftMs, yLabel: "TTFT (ms)" },
  ];
  for (const { name, stat, yLabel } of latencies) {
    vsKPanel(box, v, {
      title: name,
      slice,
      metric: (c) => ({ y: stat(c).mean, err: stat(c).std }),
      yLabel,
      tip: (c) => [statLine(name, stat(c), "ms")],
      baseline: (b) => stat(b).mean,
    });
  }
}
