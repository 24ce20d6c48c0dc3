/// <reference lib="dom" />
/**
 * The "metric vs draft length K" panel that the throughput, latency and acceptance sections
 * share: one line per output length (and prompt type) of a slice, each length's plain-decoding
 * baseline as a dashed reference line.
 */

import { type HLine, noData, type XYOptions, xyPanel, type XYSeries } from "./charts.ts";
import { type Cfg, configTip, lengthGroups, type ReportView, type Slice } from "./view.ts";

/** What one {@link vsKPanel} plots. */
export interface VsKOptions {
  /** Panel heading ("" for a section's only panel). */
  title: string;
  slice: Slice;
  /** The y value (and error bar) of a run; null leaves the run out. */
  metric: (c: Cfg) => { y: number; err?: number } | null;
  yLabel: string;
  /** Tooltip lines for a run (and for its baseline). */
  tip: (c: Cfg) => string[];
  /** The baseline's y value for the dashed reference line; none when absent. */
  baseline?: (b: Cfg) => number;
  /** Chart options that override the defaults (domain, format). */
  chart?: Partial<XYOptions>;
  /** Series drawn beside the runs (e.g. a bound). */
  extraSeries?: XYSeries[];
}

/** A "metric vs K" panel: one series per output length, baselines as dashed lines. */
export function vsKPanel(host: HTMLElement, view: ReportView, o: VsKOptions): void {
  const groups = lengthGroups(view, o.slice);
  const series: XYSeries[] = groups.map((gr) => ({
    key: gr.key,
    label: gr.label,
    color: gr.color,
    points: gr.members.flatMap((c) => {
      const v = o.metric(c);
      return v === null
        ? []
        : [{ x: c.k as number, y: v.y, err: v.err, tip: configTip(c, o.tip(c)) }];
    }),
  }));
  const baseline = o.baseline;
  const hlines: HLine[] = baseline === undefined ? [] : groups.flatMap((gr) =>
    gr.baseline
      ? [{
        key: gr.key,
        y: baseline(gr.baseline),
        color: gr.color,
        tip: configTip(gr.baseline, ["baseline (plain decoding)", ...o.tip(gr.baseline)]),
      }]
      : []
  );
  const all = [...series, ...(o.extraSeries ?? [])];
  if (all.every((s) => s.points.length === 0)) {
    noData(host, `No ${o.title.toLowerCase()} measurements for the speculative runs.`);
    return;
  }
  xyPanel(host, {
    title: o.title,
    xLabel: "draft length K (tokens)",
    yLabel: o.yLabel,
    series: all,
    hlines,
    xTicks: view.kTicks,
    ...o.chart,
    hint: hlines.length > 0 ? "dashed: baseline" : undefined,
  });
}
