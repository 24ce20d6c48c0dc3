/// <reference lib="dom" />
/** Section "analytic": mean absolute error of each analytic speedup model. */

import { barPanel, type BarSeries, color, el, MODEL_COLORS, noData } from "../charts.ts";
import { f2 } from "../format.ts";
import { type ReportView, type SectionHost } from "../view.ts";

export function drawAnalytic({ body, caption }: SectionHost, v: ReportView): void {
  const summary = v.data.analytic.summary;
  if (summary.length === 0) {
    return noData(body, "No analytic model summary in this results file.");
  }
  caption.textContent = v.data.analytic.alphaNote;
  const cats = summary.map((s) => s.model);
  const series: BarSeries[] = summary.map((s, i) => ({
    key: s.model,
    label: s.model,
    color: MODEL_COLORS[s.model] ?? color(i),
    values: cats.map((c) => (c === s.model ? s.meanAbsPctError : null)),
    tips: cats.map(() => [
      s.model,
      `mean |error|: ${f2(s.meanAbsPctError)}%`,
      ...(s.model === v.data.analytic.best ? ["best model"] : []),
    ]),
  }));
  barPanel(body, {
    categories: cats,
    series,
    stacked: true,
    xLabel: "analytic model",
    yLabel: "mean |error| (% of measured)",
    height: 250,
  });
  const table = el("table", "mini-table");
  const head = table.createTHead().insertRow();
  for (const h of ["model", "mean |error|", ""]) head.append(el("th", undefined, h));
  for (const s of summary) {
    const row = table.insertRow();
    row.append(
      el("td", undefined, s.model),
      el("td", "num", `${f2(s.meanAbsPctError)}%`),
      el("td", undefined, s.model === v.data.analytic.best ? "best" : ""),
    );
  }
  body.append(table);
}
