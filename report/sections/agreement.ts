/// <reference lib="dom" />
/**
 * Section "agreement": the acceptance the predictions used, measured WITHOUT speculation
 * (profiler/acceptance.ts: the target generates alone, one teacher-forced draft pass checks
 * every position). Per prompt kind and weights x cache: the per-position acceptance curve,
 * and how far agreement is from Leviathan's i.i.d. assumption (mean run length against
 * 1 / (1 - alpha), lag-1 autocorrelation, runs-test z).
 */

import { format } from "d3-format";
import { barPanel, type BarSeries, color, el, noData, panels, xyPanel } from "../charts.ts";
import type { AcceptanceSummary } from "../../profiler/results.ts";
import { f2, fmt2, fPct } from "../format.ts";
import type { ReportView, SectionHost } from "../view.ts";

/** |z| above this rejects i.i.d. agreement at 5% (two-sided). */
const Z_5PCT = 1.96;

interface Row {
  label: string;
  kind: string;
  a: AcceptanceSummary;
  k: AcceptanceSummary["byKind"][string];
}

const sliceName = (a: AcceptanceSummary) =>
  `${a.quant} · ${a.cache === "full" ? "full cache" : `sink ${a.cacheSize}`}`;

function verdict(z: number): string {
  if (Math.abs(z) <= Z_5PCT) return "i.i.d. not rejected";
  return z < 0 ? "not i.i.d.: clustered" : "not i.i.d.: alternating";
}

function sentence(rows: Row[]): string {
  const rejected = rows.filter((r) => Math.abs(r.k.iid.runsTestZ) > Z_5PCT);
  const runRatio = rows.flatMap((r) =>
    r.k.iid.expectedRunLength ? [r.k.iid.meanRunLength / r.k.iid.expectedRunLength - 1] : []
  );
  const lag = rows.map((r) => r.k.iid.lag1Autocorrelation);
  const curve = rows.map((r) => r.k.perPositionAcceptance).filter((c) => c.length > 1);
  const drop = curve.length
    ? curve.reduce((s, c) => s + (c[0] - c[c.length - 1]), 0) / curve.length
    : null;
  const meanRatio = runRatio.length ? runRatio.reduce((s, x) => s + x, 0) / runRatio.length : 0;
  return `The runs test rejects i.i.d. agreement (|z| > ${Z_5PCT}) in ${rejected.length} of ` +
    `${rows.length} (prompt kind, weights, cache) measurements; lag-1 autocorrelation lies in ` +
    `[${f2(Math.min(...lag))}, ${f2(Math.max(...lag))}], and runs of agreement are ` +
    `${fPct(Math.abs(meanRatio))} ${meanRatio < 0 ? "shorter" : "longer"} than the i.i.d. ` +
    `1 / (1 − α) on average` +
    (drop === null
      ? "."
      : `; P(accept | reached) ${drop >= 0 ? "falls" : "rises"} by ${
        fPct(Math.abs(drop))
      } from the first draft position to the last on average.`) +
    ` Leviathan's E[τ] assumes i.i.d. agreement; the seed and cost-aware models use the exact ` +
    `greedy rounds, which need no such assumption.`;
}

export function drawAgreement({ body, caption }: SectionHost, v: ReportView): void {
  const files = v.data.predictions?.acceptanceSummary ?? [];
  const rows: Row[] = files.flatMap((a) =>
    Object.entries(a.byKind).map(([kind, k]) => ({
      label: `${kind} · ${sliceName(a)}`,
      kind,
      a,
      k,
    }))
  );
  if (rows.length === 0) {
    return noData(
      body,
      "No acceptance measured without speculation in this results file (it predates " +
        "profile predicting first, or its acceptance came from files not summarised here).",
    );
  }
  caption.textContent = `Measured before the sweep, without speculation: the target ` +
    `generates ${files[0].maxNewTokens} tokens alone, one teacher-forced draft pass checks ` +
    `every position (${files[0].temperature === 0 ? "greedy agreement" : "sampling"}). ` +
    sentence(rows);
  const box = panels(body);
  const maxLen = Math.max(...rows.map((r) => r.k.perPositionAcceptance.length));
  xyPanel(box, {
    title: "P(draft token i accepted | position i reached)",
    xLabel: "draft position i",
    yLabel: "P(accept | reached)",
    xTicks: Array.from({ length: maxLen }, (_, i) => i + 1),
    yFormat: format(".0%"),
    series: rows.map((r, i) => ({
      key: r.label,
      label: r.label,
      color: color(i),
      points: r.k.perPositionAcceptance.map((p, j) => ({
        x: j + 1,
        y: p,
        tip: [
          r.label,
          `position ${j + 1}`,
          `P(accept | reached): ${fPct(p)}`,
          `α = ${f2(r.k.alpha)}`,
        ],
      })),
    })),
  });
  const cats = rows.map((r) => r.label);
  const runs: BarSeries[] = [
    {
      key: "observed",
      label: "observed mean run length",
      color: "#2563eb",
      values: rows.map((r) => r.k.iid.meanRunLength),
      tips: rows.map((r) => [
        r.label,
        `observed: ${f2(r.k.iid.meanRunLength)} tokens`,
        `runs-test z: ${f2(r.k.iid.runsTestZ)} (${verdict(r.k.iid.runsTestZ)})`,
      ]),
    },
    {
      key: "iid",
      label: "i.i.d. 1 / (1 − α)",
      color: "#9ca3af",
      values: rows.map((r) => r.k.iid.expectedRunLength),
      tips: rows.map((r) => [
        r.label,
        `i.i.d. expectation: ${fmt2(r.k.iid.expectedRunLength)} tokens`,
        `α = ${f2(r.k.alpha)}`,
      ]),
    },
  ];
  barPanel(box, {
    title: "Run length of agreement: observed vs i.i.d.",
    categories: cats,
    series: runs,
    stacked: false,
    xLabel: "prompt kind · weights · cache",
    yLabel: "mean run length (tokens)",
    height: 280,
  });
  const table = el("table", "mini-table");
  const head = table.createTHead().insertRow();
  for (
    const h of ["prompt kind", "weights · cache", "α", "run length", "i.i.d.", "lag-1 r", "z", ""]
  ) head.append(el("th", undefined, h));
  for (const r of rows) {
    const row = table.insertRow();
    row.append(
      el("td", undefined, r.kind),
      el("td", undefined, sliceName(r.a)),
      el("td", "num", f2(r.k.alpha)),
      el("td", "num", f2(r.k.iid.meanRunLength)),
      el("td", "num", fmt2(r.k.iid.expectedRunLength)),
      el("td", "num", f2(r.k.iid.lag1Autocorrelation)),
      el("td", "num", f2(r.k.iid.runsTestZ)),
      el("td", undefined, verdict(r.k.iid.runsTestZ)),
    );
  }
  body.append(table);
}
