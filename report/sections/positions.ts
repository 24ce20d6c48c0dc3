/// <reference lib="dom" />
/** Section "positions": P(draft token i accepted | position i reached), one line per K. */

import { format } from "d3-format";
import { color, noData, xyPanel, type XYSeries } from "../charts.ts";
import { fmtPct } from "../format.ts";
import {
  inSlice,
  maxBy,
  referenceSlice,
  type ReportView,
  type SectionHost,
  sliceLabel,
} from "../view.ts";

export function drawPositions({ body, caption }: SectionHost, v: ReportView): void {
  const pool = v.specs.filter((c) => c.perPositionAcceptance && c.perPositionAcceptance.length > 0);
  const slice = referenceSlice(pool);
  if (slice === null) {
    return noData(body, "No per-position acceptance was recorded in this results file.");
  }
  const inRef = pool.filter((c) => inSlice(c, slice));
  const n = maxBy(inRef, (c) => c.maxNewTokens) as number;
  const promptType = inRef.find((c) => c.maxNewTokens === n)?.promptType;
  const chosen = inRef
    .filter((c) => c.maxNewTokens === n && c.promptType === promptType)
    .sort((a, b) => (a.k ?? 0) - (b.k ?? 0));
  caption.textContent = `P(draft token i accepted | position i reached), one line per K; ` +
    `${sliceLabel(slice)}, N = ${n}${v.multiPrompt ? `, ${promptType} prompts` : ""}.`;
  const series: XYSeries[] = chosen.map((c, i) => ({
    key: c.id,
    label: `K = ${c.k}`,
    color: color(i),
    points: (c.perPositionAcceptance ?? []).map((p, j) => ({
      x: j + 1,
      y: p,
      tip: [c.id, `position ${j + 1} of ${c.k}`, `P(accept | reached): ${fmtPct(p)}`],
    })),
  }));
  const maxLen = maxBy(chosen, (c) => c.perPositionAcceptance?.length ?? 0) ?? 1;
  const ticks = Array.from({ length: maxLen }, (_, i) => i + 1);
  xyPanel(body, {
    xLabel: "draft position i",
    yLabel: "P(accept | reached)",
    series,
    xTicks: ticks,
    yFormat: format(".0%"),
  });
}
