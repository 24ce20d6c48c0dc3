/// <reference lib="dom" />
/** Section "quant": INT8 vs FP16 target weights (memory, throughput, acceptance). */

import { format } from "d3-format";
import {
  barPanel,
  type BarSeries,
  type HLine,
  noData,
  panels,
  QUANT_COLORS,
  xyPanel,
  type XYSeries,
} from "../charts.ts";
import { cacheLabel, fmtBytes, fmtPct, mib, statLine } from "../format.ts";
import { type Cfg, configTip, maxBy, type ReportView, type SectionHost } from "../view.ts";

export function drawQuant({ body, caption }: SectionHost, v: ReportView): void {
  const int8 = v.configs.filter((c) => c.quant === "int8");
  const fp16 = v.configs.filter((c) => c.quant === "fp16");
  if (int8.length === 0 || fp16.length === 0) {
    return noData(
      body,
      int8.length === 0
        ? "No INT8 runs in this results file."
        : "No FP16 runs in this results file to compare the INT8 runs with.",
    );
  }
  // A cache setting and length measured with both quantizations.
  const both = int8.filter((c) =>
    fp16.some((f) =>
      f.cache === c.cache && f.cacheSize === c.cacheSize && f.maxNewTokens === c.maxNewTokens
    )
  );
  if (both.length === 0) {
    return noData(body, "The INT8 and FP16 runs share no cache setting and length to compare.");
  }
  const ref = both.find((c) => c.cache === "full") ?? both[0];
  const n = maxBy(
    both.filter((c) => c.cache === ref.cache && c.cacheSize === ref.cacheSize),
    (c) => c.maxNewTokens,
  ) as number;
  const promptType = ref.promptType;
  const pool = v.configs.filter((c) =>
    c.cache === ref.cache && c.cacheSize === ref.cacheSize && c.maxNewTokens === n &&
    c.promptType === promptType
  );
  caption.textContent = `Target weights in INT8 vs FP16, ${cacheLabel(ref)}, N = ${n}` +
    `${v.multiPrompt ? `, ${promptType} prompts` : ""}: memory, throughput and draft acceptance.`;
  const quants = ["fp16", "int8"];
  const box = panels(body);

  const memCats = ["weights", "KV cache", "peak"];
  const pick = (q: string) =>
    pool.find((c) => c.quant === q && c.mode === "baseline") ?? pool.find((c) => c.quant === q);
  const memSeries: BarSeries[] = quants.map((q) => {
    const c = pick(q);
    const vals = c ? [c.weightBytes, c.kvBytes, c.peakBytes] : [null, null, null];
    return {
      key: q,
      label: q,
      color: QUANT_COLORS[q],
      values: vals.map((bytes) => (bytes == null ? null : mib(bytes))),
      tips: vals.map((bytes, i) =>
        c && bytes != null ? configTip(c, [`${memCats[i]}: ${fmtBytes(bytes)}`]) : []
      ),
    };
  });
  barPanel(box, {
    title: "GPU memory",
    categories: memCats,
    series: memSeries,
    stacked: false,
    xLabel: "memory kind",
    yLabel: "memory (MiB)",
    yFormat: format(",.0f"),
  });

  const specSeries = (metric: (c: Cfg) => number | null, tip: (c: Cfg) => string[]): XYSeries[] =>
    quants.map((q) => ({
      key: q,
      label: q,
      color: QUANT_COLORS[q],
      points: pool
        .filter((c) => c.quant === q && c.k !== null && metric(c) !== null)
        .map((c) => ({ x: c.k as number, y: metric(c) as number, tip: configTip(c, tip(c)) })),
    }));
  const tput = specSeries(
    (c) => c.throughputTokS.mean,
    (c) => [statLine("throughput", c.throughputTokS, "tok/s")],
  );
  const hlines: HLine[] = quants.flatMap((q) => {
    const b = pool.find((c) => c.quant === q && c.mode === "baseline");
    return b
      ? [{
        key: q,
        y: b.throughputTokS.mean,
        color: QUANT_COLORS[q],
        tip: configTip(b, [
          "baseline (plain decoding)",
          statLine("throughput", b.throughputTokS, "tok/s"),
        ]),
      }]
      : [];
  });
  if (tput.some((s) => s.points.length > 0)) {
    xyPanel(box, {
      title: "Throughput",
      xLabel: "draft length K (tokens)",
      yLabel: "throughput (tokens/s)",
      series: tput,
      hlines,
      xTicks: v.kTicks,
      hint: hlines.length > 0 ? "dashed: baseline" : undefined,
    });
  } else if (hlines.length > 0) {
    // Baseline-only sweep: plain-decoding throughput of each weight format.
    const bars: BarSeries[] = quants.map((q) => {
      const b = pool.find((c) => c.quant === q && c.mode === "baseline");
      return {
        key: q,
        label: q,
        color: QUANT_COLORS[q],
        values: [b ? b.throughputTokS.mean : null],
        tips: [b ? configTip(b, [statLine("throughput", b.throughputTokS, "tok/s")]) : []],
      };
    });
    barPanel(box, {
      title: "Throughput",
      categories: ["plain decoding"],
      series: bars,
      stacked: false,
      xLabel: "decoding",
      yLabel: "throughput (tokens/s)",
    });
  }
  const acc = specSeries(
    (c) => c.draftAcceptanceRate,
    (c) => [`acceptance: ${fmtPct(c.draftAcceptanceRate)}`],
  );
  if (acc.some((s) => s.points.length > 0)) {
    xyPanel(box, {
      title: "Draft acceptance",
      xLabel: "draft length K (tokens)",
      yLabel: "acceptance rate (fraction)",
      series: acc,
      xTicks: v.kTicks,
      yDomain: [0, 1],
      yFormat: format(".0%"),
    });
  }
}
