/// <reference lib="dom" />
/** Section "kernels": GPU time of each pass split by kernel (stacked bars). */

import { barPanel, type BarSeries, color, noData } from "../charts.ts";
import { f3, fPct } from "../format.ts";
import { type ReportView, type SectionHost, uniq } from "../view.ts";

export function drawKernels({ body, caption }: SectionHost, v: ReportView): void {
  if (v.data.kernels.length === 0) {
    return noData(body, "No per-kernel timings in this results file (profile with --per-kernel).");
  }
  const order = ["draft", "target", "verify"];
  const passes = uniq(v.data.kernels.map((k) => k.pass)).sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const names = uniq(v.data.kernels.map((k) => k.name));
  const passTotal = passes.map((p) =>
    v.data.kernels.filter((k) => k.pass === p).reduce((s, k) => s + k.ms, 0)
  );
  caption.textContent =
    `GPU time of one pass split by kernel (stacked): draft = one draft token, ` +
    `target = one plain decode token, verify = K + 1 tokens scored at once.`;
  const series: BarSeries[] = names.map((name, i) => {
    const rows = passes.map((p) => v.data.kernels.filter((k) => k.name === name && k.pass === p));
    return {
      key: name,
      label: name,
      color: color(i),
      values: rows.map((r) => (r.length === 0 ? null : r.reduce((s, k) => s + k.ms, 0))),
      tips: rows.map((r, pi) => {
        const ms = r.reduce((s, k) => s + k.ms, 0);
        return [
          name,
          `pass: ${passes[pi]}`,
          ...uniq(r.map((k) => `shape: ${k.shape}`)),
          `${f3(ms)} ms (${fPct(passTotal[pi] > 0 ? ms / passTotal[pi] : 0)} of the pass)`,
        ];
      }),
    };
  });
  barPanel(body, {
    categories: passes,
    series,
    stacked: true,
    xLabel: "pass",
    yLabel: "GPU time (ms)",
    height: 340,
  });
}
