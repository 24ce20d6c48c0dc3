/// <reference lib="dom" />
/** Section "acceptance": draft acceptance rate and mean tokens per round τ vs K. */

import { format } from "d3-format";
import { noData, panels, type XYSeries } from "../charts.ts";
import { fmt2, fmt3, fmtPct } from "../format.ts";
import { NO_SPEC, type ReportView, type SectionHost, sliceLabel } from "../view.ts";
import { vsKPanel } from "../vs_k.ts";

export function drawAcceptance({ body, caption }: SectionHost, v: ReportView): void {
  const slice = v.refSlice;
  if (v.specs.length === 0 || slice === null) return noData(body, NO_SPEC);
  caption.textContent =
    `Draft acceptance rate (accepted / proposed draft tokens) and mean tokens ` +
    `emitted per round τ (including the target's correction or bonus token), ${sliceLabel(slice)}.`;
  const box = panels(body);
  vsKPanel(box, v, {
    title: "Draft acceptance rate",
    slice,
    metric: (c) => (c.draftAcceptanceRate == null ? null : { y: c.draftAcceptanceRate }),
    yLabel: "acceptance rate (fraction)",
    tip: (c) => [
      `acceptance: ${fmtPct(c.draftAcceptanceRate)}`,
      `α per token: ${fmt3(c.alphaPerToken)}`,
    ],
    chart: { yDomain: [0, 1], yFormat: format(".0%") },
  });
  const bound: XYSeries = {
    key: "__bound",
    label: "K + 1 (every draft accepted)",
    color: "#9ca3af",
    dashed: true,
    markers: false,
    points: v.kTicks.map((k) => ({ x: k, y: k + 1, tip: [] })),
  };
  vsKPanel(box, v, {
    title: "Tokens per round τ",
    slice,
    metric: (c) => (c.meanTokensPerRound == null ? null : { y: c.meanTokensPerRound }),
    yLabel: "tokens per round (tokens)",
    tip: (c) => [
      `τ: ${fmt2(c.meanTokensPerRound)} tokens/round`,
      `upper bound K + 1 = ${(c.k ?? 0) + 1}`,
    ],
    chart: { yFromZero: true },
    extraSeries: [bound],
  });
}
