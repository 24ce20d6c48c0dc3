/// <reference lib="dom" />
/**
 * Section "analytic": the in-sample ACCOUNTING (DESIGN.md "What counts as a prediction"):
 * each formula fed with the run's own fitted alpha and pass times, so it says where time
 * went, not how well anything predicts (section "prediction" does that).
 */

import { barPanel, type BarSeries, color, el, MODEL_COLORS, noData } from "../charts.ts";
import { f2 } from "../format.ts";
import { type ReportView, type SectionHost } from "../view.ts";

export function drawAnalytic({ body, caption }: SectionHost, v: ReportView): void {
  const summary = v.data.analytic.summary;
  if (summary.length === 0) {
    return noData(body, "No analytic model summary in this results file.");
  }
  caption.textContent = `Accounting, not prediction: each formula fed with the measured run's ` +
    `own fitted α and pass times, so a small error says the formula accounts for where the ` +
    `time went, not that it could have predicted it. ${v.data.analytic.alphaNote}`;
  const cats = summary.map((s) => s.model);
  const series: BarSeries[] = summary.map((s, i) => ({
    key: s.model,
    label: s.model,
    color: MODEL_COLORS[s.model] ?? color(i),
    values: cats.map((c) => (c === s.model ? s.meanAbsPctError : null)),
    tips: cats.map(() => [
      s.model,
      `mean |error|: ${f2(s.meanAbsPctError)}%`,
      ...(s.model === v.data.analytic.best ? ["smallest in-sample error"] : []),
    ]),
  }));
  barPanel(body, {
    categories: cats,
    series,
    stacked: true,
    xLabel: "formula (accounting)",
    yLabel: "in-sample mean |error| (% of measured)",
    height: 250,
  });
  const table = el("table", "mini-table");
  const head = table.createTHead().insertRow();
  for (const h of ["formula", "in-sample mean |error|", ""]) {
    head.append(el("th", undefined, h));
  }
  for (const s of summary) {
    const row = table.insertRow();
    row.append(
      el("td", undefined, s.model),
      el("td", "num", `${f2(s.meanAbsPctError)}%`),
      el("td", undefined, s.model === v.data.analytic.best ? "smallest" : ""),
    );
  }
  body.append(table);
}
