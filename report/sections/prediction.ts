/// <reference lib="dom" />
/** Section "prediction": measured speedup against each analytic model's prediction. */

import { format } from "d3-format";
import { legendOf, MODEL_COLORS, noData, xyPanel, type XYSeries } from "../charts.ts";
import { f1, fmtX } from "../format.ts";
import { type ReportView, type SectionHost } from "../view.ts";

export function drawPrediction({ body, caption }: SectionHost, v: ReportView): void {
  const pool = v.specs.filter((c) => c.accounting && c.measuredSpeedup != null);
  if (pool.length === 0) {
    return noData(
      body,
      "No analytic predictions in this results file (no speculative runs with a baseline).",
    );
  }
  caption.textContent = `One point per speculative configuration (all caches, quantizations and ` +
    `lengths): measured speedup over the matching baseline vs each model's prediction.`;
  const models = ["seed", "leviathan", "refined"] as const;
  const series: XYSeries[] = models.map((m) => ({
    key: m,
    label: m,
    color: MODEL_COLORS[m],
    line: false,
    points: pool.map((c) => {
      const p = c.accounting![m];
      return {
        x: c.measuredSpeedup as number,
        y: p.speedup,
        tip: [
          c.id,
          `model: ${m}`,
          `measured: ${fmtX(c.measuredSpeedup)}`,
          `predicted: ${fmtX(p.speedup)}`,
          `error: ${p.errorPct >= 0 ? "+" : ""}${f1(p.errorPct)}%`,
        ],
      };
    }),
  }));
  xyPanel(body, {
    xLabel: "measured speedup (×)",
    yLabel: "predicted speedup (×)",
    series,
    diagonal: true,
    yFormat: format(".2f"),
    legend: legendOf(series, "dot"),
    hint: "dashed: y = x (perfect prediction)",
  });
}
