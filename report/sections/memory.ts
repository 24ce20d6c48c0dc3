/// <reference lib="dom" />
/** Section "memory": KV-cache bytes as tokens are generated, one line per cache setting. */

import type { MemorySeries } from "../../profiler/results.ts";
import { color, noData, xyPanel, type XYSeries } from "../charts.ts";
import { fInt, fmtBytes, mib } from "../format.ts";
import { type ReportView, type SectionHost } from "../view.ts";

function memoryLabel(m: MemorySeries): string {
  return m.cache === "full" ? "full cache" : `sink C = ${m.cacheSize ?? "?"}`;
}

export function drawMemory({ body, caption }: SectionHost, v: ReportView): void {
  const mem = v.data.memory.filter((m) => m.points.length > 0);
  if (mem.length === 0) {
    return noData(body, "No KV-memory series in this results file.");
  }
  caption.textContent = `Bytes held by the target's KV cache as tokens are generated: the full ` +
    `cache grows linearly, a sink cache levels off at its capacity.`;
  const series: XYSeries[] = mem.map((m, i) => ({
    key: `${i}`,
    label: memoryLabel(m),
    color: m.cache === "full" ? "#2563eb" : color(i + 1),
    points: m.points.map((p) => ({
      x: p.generatedTokens,
      y: mib(p.kvBytes),
      tip: [
        memoryLabel(m),
        `after ${fInt(p.generatedTokens)} generated tokens`,
        fmtBytes(p.kvBytes),
      ],
    })),
  }));
  xyPanel(body, { xLabel: "generated tokens", yLabel: "KV cache (MiB)", series, yFromZero: true });
}
