/// <reference lib="dom" />
/**
 * The report page's script (bundled with d3 into the HTML by render.ts; runs in the browser).
 *
 * Reads the results from `<script type="application/json" id="results-data">` and draws the
 * summary, the charts, the configuration table and the prompt list. Every string that comes
 * from the results is inserted as text (textContent or d3 .text()), never as HTML.
 */

import { scaleBand, scaleLinear } from "d3-scale";
import { select } from "d3-selection";
import { axisBottom, axisLeft } from "d3-axis";
import { line } from "d3-shape";
import { extent, max } from "d3-array";
import { format } from "d3-format";
import type { ConfigResult, MemorySeries, ResultsFile } from "../profiler/results.ts";

type Cfg = ConfigResult;

// ---------------------------------------------------------------------------------------------
// Formatting

const f1 = format(",.1f");
const f2 = format(",.2f");
const f3 = format(".3f");
const fInt = format(",d");
const fPct = format(".1%");
const fSi = format(".3~s");

const fmt2 = (v: number | null | undefined) => (v == null ? "—" : f2(v));
const fmt3 = (v: number | null | undefined) => (v == null ? "—" : f3(v));
const fmtX = (v: number | null | undefined) => (v == null ? "—" : `${f2(v)}×`);
const fmtPct = (v: number | null | undefined) => (v == null ? "—" : fPct(v));
const MIB = 1024 * 1024;
const mib = (bytes: number) => bytes / MIB;

function fmtBytes(bytes: number | null | undefined): string {
  if (bytes == null) return "—";
  if (bytes >= 1024 * MIB) return `${f2(bytes / (1024 * MIB))} GiB`;
  if (bytes >= MIB) return `${f1(bytes / MIB)} MiB`;
  if (bytes >= 1024) return `${f1(bytes / 1024)} KiB`;
  return `${fInt(bytes)} B`;
}

function fmtParams(n: number): string {
  return fSi(n).replace("G", "B");
}

function fmtDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

const cacheLabel = (c: { cache: string; cacheSize: number | null }) =>
  c.cache === "full" ? "full cache" : `sink ${c.cacheSize ?? "?"}`;

const uniq = <T>(xs: T[]) => [...new Set(xs)];
/** d3-array's max with a typed accessor (the d3 packages ship no types). */
const maxBy = <T>(xs: T[], f: (x: T) => number): number | undefined => max(xs, f);
const byNum = (a: number, b: number) => a - b;

const PALETTE = [
  "#2563eb",
  "#ea580c",
  "#16a34a",
  "#9333ea",
  "#dc2626",
  "#0891b2",
  "#ca8a04",
  "#db2777",
  "#4b5563",
  "#65a30d",
  "#7c3aed",
  "#0f766e",
  "#b45309",
  "#1e40af",
];
const color = (i: number) => PALETTE[i % PALETTE.length];
const MODEL_COLORS: Record<string, string> = {
  seed: "#9333ea",
  leviathan: "#ea580c",
  refined: "#16a34a",
};
const QUANT_COLORS: Record<string, string> = { fp16: "#2563eb", int8: "#ea580c" };

// ---------------------------------------------------------------------------------------------
// DOM helpers (text only)

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function noData(host: HTMLElement, sentence: string): void {
  host.append(el("p", "no-data", sentence));
}

const tooltip = document.getElementById("tooltip") as HTMLDivElement;

function showTip(target: Element, event: Event | null, lines: string[]): void {
  tooltip.replaceChildren(...lines.map((l) => el("div", undefined, l)));
  tooltip.hidden = false;
  let x: number;
  let y: number;
  if (event instanceof MouseEvent) {
    x = event.pageX;
    y = event.pageY;
  } else {
    const r = target.getBoundingClientRect();
    x = r.right + globalThis.scrollX;
    y = r.top + globalThis.scrollY;
  }
  const w = tooltip.offsetWidth;
  const left = x + 14 + w > globalThis.scrollX + document.documentElement.clientWidth
    ? x - 14 - w
    : x + 14;
  tooltip.style.left = `${Math.max(4, left)}px`;
  tooltip.style.top = `${y + 12}px`;
}

function hideTip(): void {
  tooltip.hidden = true;
}

// deno-lint-ignore no-explicit-any
function withTip(selection: any, tip: (d: any) => string[]): void {
  selection
    .attr("tabindex", 0)
    // deno-lint-ignore no-explicit-any
    .on("mouseenter", function (this: Element, event: Event, d: any) {
      showTip(this, event, tip(d));
    })
    // deno-lint-ignore no-explicit-any
    .on("mousemove", function (this: Element, event: Event, d: any) {
      showTip(this, event, tip(d));
    })
    // deno-lint-ignore no-explicit-any
    .on("focus", function (this: Element, _event: Event, d: any) {
      showTip(this, null, tip(d));
    })
    .on("mouseleave", hideTip)
    .on("blur", hideTip);
}

// ---------------------------------------------------------------------------------------------
// Charts

interface LegendItem {
  key: string;
  label: string;
  color: string;
  shape: "line" | "dashed" | "dot" | "box";
}

/** A panel: title, toggling legend, and a drawing redrawn (with rescaled axes) on each toggle. */
function chartPanel(
  host: HTMLElement,
  title: string,
  legend: LegendItem[],
  draw: (target: HTMLElement, hidden: Set<string>) => void,
  hint?: string,
): void {
  const panel = el("div", "panel");
  if (title) panel.append(el("h3", undefined, title));
  const hidden = new Set<string>();
  const target = el("div", "plot");
  const redraw = () => {
    hideTip();
    target.replaceChildren();
    draw(target, hidden);
  };
  if (legend.length > 0) {
    const box = el("div", "legend");
    for (const item of legend) {
      const button = el("button");
      button.type = "button";
      button.setAttribute("aria-pressed", "true");
      button.title = "Show or hide this series";
      const swatch = el(
        "span",
        `swatch ${item.shape === "dot" ? "dot" : item.shape === "box" ? "box" : ""}`,
      );
      swatch.style.background = item.shape === "dashed"
        ? `repeating-linear-gradient(90deg, ${item.color} 0 4px, transparent 4px 7px)`
        : item.color;
      button.append(swatch, el("span", undefined, item.label));
      button.addEventListener("click", () => {
        const visible = hidden.has(item.key);
        if (visible) hidden.delete(item.key);
        else hidden.add(item.key);
        button.setAttribute("aria-pressed", String(visible));
        redraw();
      });
      box.append(button);
    }
    if (hint) box.append(el("span", "hint", hint));
    panel.append(box);
  }
  panel.append(target);
  host.append(panel);
  // Drawn once the whole page is laid out, so that the chart can take its final width.
  pendingDraws.push(() => draw(target, hidden));
}

/** Chart drawings waiting for the page layout (see chartPanel). */
const pendingDraws: (() => void)[] = [];

interface XYPoint {
  x: number;
  y: number;
  err?: number;
  tip: string[];
}

interface XYSeries {
  key: string;
  label: string;
  color: string;
  points: XYPoint[];
  /** Draw a line through the points (sorted by x). Default true. */
  line?: boolean;
  markers?: boolean;
  dashed?: boolean;
}

interface HLine {
  /** Series key it belongs to (hidden with it). */
  key: string;
  y: number;
  color: string;
  tip: string[];
}

interface XYOptions {
  xLabel: string;
  yLabel: string;
  series: XYSeries[];
  hlines?: HLine[];
  /** Draw y = x and use the same domain on both axes. */
  diagonal?: boolean;
  /** Tick values for a discrete x (K, positions, category indexes). */
  xTicks?: number[];
  xTickFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  yFromZero?: boolean;
  yDomain?: [number, number];
  height?: number;
}

/** Drawing width: the container's (so text keeps its CSS size), 560 when it cannot be measured. */
function chartWidth(target: HTMLElement): number {
  const w = Math.round(target.getBoundingClientRect().width);
  return w >= 240 ? w : 560;
}

function svgFrame(target: HTMLElement, height: number, label: string) {
  const width = chartWidth(target);
  const m = { top: 12, right: 22, bottom: 46, left: 66 };
  const iw = width - m.left - m.right;
  const ih = height - m.top - m.bottom;
  const svg = select(target)
    .append("svg")
    .attr("class", "chart")
    .attr("viewBox", `0 0 ${width} ${height}`)
    .attr("role", "img")
    .attr("aria-label", label);
  const g = svg.append("g").attr("transform", `translate(${m.left},${m.top})`);
  return { svg, g, iw, ih, m };
}

// deno-lint-ignore no-explicit-any
function axisLabels(g: any, iw: number, ih: number, xLabel: string, yLabel: string): void {
  g.append("text")
    .attr("class", "axis-label")
    .attr("x", iw / 2)
    .attr("y", ih + 38)
    .attr("text-anchor", "middle")
    .text(xLabel);
  g.append("text")
    .attr("class", "axis-label")
    .attr("transform", "rotate(-90)")
    .attr("x", -ih / 2)
    .attr("y", -50)
    .attr("text-anchor", "middle")
    .text(yLabel);
}

function padDomain(lo: number, hi: number, frac: number, minPad: number): [number, number] {
  const pad = Math.max((hi - lo) * frac, minPad);
  return [lo - pad, hi + pad];
}

function xyChart(target: HTMLElement, o: XYOptions, hidden: Set<string>): void {
  const height = o.height ?? 300;
  const { g, iw, ih } = svgFrame(target, height, `${o.yLabel} against ${o.xLabel}`);
  const series = o.series.filter((s) => !hidden.has(s.key) && s.points.length > 0);
  const hlines = (o.hlines ?? []).filter((h) => !hidden.has(h.key));
  const pts = series.flatMap((s) => s.points);
  const allX = pts.map((p) => p.x).concat(o.xTicks ?? []);
  const allY = pts.flatMap((p) => (p.err ? [p.y - p.err, p.y + p.err] : [p.y])).concat(
    hlines.map((h) => h.y),
  );
  let [x0, x1] = extent(allX) as [number | undefined, number | undefined];
  let [y0, y1] = extent(allY) as [number | undefined, number | undefined];
  if (x0 === undefined || x1 === undefined) [x0, x1] = [0, 1];
  if (y0 === undefined || y1 === undefined) [y0, y1] = [0, 1];
  let xDomain: [number, number];
  let yDomain: [number, number];
  if (o.diagonal) {
    const lo = Math.min(x0, y0);
    const hi = Math.max(x1, y1);
    xDomain = yDomain = padDomain(lo, hi, 0.08, 0.05);
  } else {
    xDomain = o.xTicks ? padDomain(x0, x1, 0.06, 0.5) : padDomain(x0, x1, 0.03, 0);
    if (xDomain[0] === xDomain[1]) xDomain = [xDomain[0] - 1, xDomain[1] + 1];
    yDomain = o.yDomain ??
      (o.yFromZero ? [0, y1 * 1.08 || 1] : padDomain(y0, y1, 0.08, Math.abs(y1) * 0.02 || 0.5));
  }
  const x = scaleLinear().domain(xDomain).range([0, iw]);
  const y = scaleLinear().domain(yDomain).range([ih, 0]);
  if (!o.diagonal && !o.yDomain) y.nice(6);

  g.append("g")
    .attr("class", "grid-lines")
    .call(axisLeft(y).ticks(6).tickSize(-iw).tickFormat(() => ""));
  const xAxis = axisBottom(x);
  if (o.xTicks) xAxis.tickValues(o.xTicks).tickFormat(o.xTickFormat ?? format("d"));
  else xAxis.ticks(7, o.diagonal ? ".2f" : undefined);
  g.append("g").attr("class", "axis").attr("transform", `translate(0,${ih})`).call(xAxis);
  const yAxis = axisLeft(y).ticks(6);
  if (o.yFormat) yAxis.tickFormat(o.yFormat);
  g.append("g").attr("class", "axis").call(yAxis);
  axisLabels(g, iw, ih, o.xLabel, o.yLabel);

  if (o.diagonal) {
    const [lo, hi] = xDomain;
    g.append("line")
      .attr("x1", x(lo))
      .attr("y1", y(lo))
      .attr("x2", x(hi))
      .attr("y2", y(hi))
      .attr("stroke", "#9ca3af")
      .attr("stroke-dasharray", "5 4")
      .attr("stroke-width", 1.5);
  }

  for (const h of hlines) {
    const hg = g.append("g").attr("class", "hline");
    hg.append("line")
      .attr("x1", 0)
      .attr("x2", iw)
      .attr("y1", y(h.y))
      .attr("y2", y(h.y))
      .attr("stroke", h.color)
      .attr("stroke-width", 1.5)
      .attr("stroke-dasharray", "6 4")
      .attr("opacity", 0.85);
    // A wider transparent line carries the tooltip.
    withTip(
      hg.append("line")
        .datum(h)
        .attr("class", "mark")
        .attr("x1", 0)
        .attr("x2", iw)
        .attr("y1", y(h.y))
        .attr("y2", y(h.y))
        .attr("stroke", "transparent")
        .attr("stroke-width", 10),
      (d: HLine) => d.tip,
    );
  }

  for (const s of series) {
    const sg = g.append("g").attr("class", "series");
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    if (s.line !== false && sorted.length > 1) {
      sg.append("path")
        .attr(
          "d",
          line<XYPoint>()
            .x((p: XYPoint) => x(p.x))
            .y((p: XYPoint) => y(p.y))(sorted),
        )
        .attr("fill", "none")
        .attr("stroke", s.color)
        .attr("stroke-width", 2)
        .attr("stroke-dasharray", s.dashed ? "6 4" : null);
    }
    sg.selectAll("line.err")
      .data(sorted.filter((p) => p.err))
      .join("line")
      .attr("class", "err")
      .attr("x1", (p: XYPoint) => x(p.x))
      .attr("x2", (p: XYPoint) => x(p.x))
      .attr("y1", (p: XYPoint) => y(p.y - (p.err ?? 0)))
      .attr("y2", (p: XYPoint) => y(p.y + (p.err ?? 0)))
      .attr("stroke", s.color)
      .attr("stroke-width", 1.2)
      .attr("opacity", 0.6);
    if (s.markers !== false) {
      withTip(
        sg.selectAll("circle")
          .data(sorted)
          .join("circle")
          .attr("class", "mark")
          .attr("cx", (p: XYPoint) => x(p.x))
          .attr("cy", (p: XYPoint) => y(p.y))
          .attr("r", sorted.length > 12 ? 3.2 : 4.5)
          .attr("fill", s.color)
          .attr("stroke", "#fff")
          .attr("stroke-width", 1.5),
        (p: XYPoint) => p.tip,
      );
    }
  }
}

interface BarSeries {
  key: string;
  label: string;
  color: string;
  values: (number | null)[];
  tips: string[][];
}

interface BarOptions {
  categories: string[];
  series: BarSeries[];
  stacked: boolean;
  xLabel: string;
  yLabel: string;
  yFormat?: (v: number) => string;
  height?: number;
}

function barChart(target: HTMLElement, o: BarOptions, hidden: Set<string>): void {
  const height = o.height ?? 300;
  const { g, iw, ih } = svgFrame(target, height, `${o.yLabel} by ${o.xLabel}`);
  const series = o.series.filter((s) => !hidden.has(s.key));
  const x = scaleBand().domain(o.categories).range([0, iw]).paddingInner(0.28).paddingOuter(0.14);
  const inner = scaleBand()
    .domain(series.map((s) => s.key))
    .range([0, x.bandwidth()])
    .padding(0.08);
  const totals = o.categories.map((_, ci) =>
    o.stacked
      ? series.reduce((sum, s) => sum + (s.values[ci] ?? 0), 0)
      : maxBy(series, (s) => s.values[ci] ?? 0) ?? 0
  );
  const y = scaleLinear().domain([0, (max(totals) ?? 0) * 1.06 || 1]).nice(6).range([ih, 0]);

  g.append("g")
    .attr("class", "grid-lines")
    .call(axisLeft(y).ticks(6).tickSize(-iw).tickFormat(() => ""));
  g.append("g").attr("class", "axis").attr("transform", `translate(0,${ih})`).call(axisBottom(x));
  const yAxis = axisLeft(y).ticks(6);
  if (o.yFormat) yAxis.tickFormat(o.yFormat);
  g.append("g").attr("class", "axis").call(yAxis);
  axisLabels(g, iw, ih, o.xLabel, o.yLabel);

  interface Bar {
    x: number;
    y0: number;
    y1: number;
    w: number;
    tip: string[];
  }
  const offsets = o.categories.map(() => 0);
  for (const s of series) {
    const bars: Bar[] = [];
    o.categories.forEach((cat, ci) => {
      const v = s.values[ci];
      if (v == null) return;
      if (o.stacked) {
        bars.push({
          x: x(cat) ?? 0,
          w: x.bandwidth(),
          y0: offsets[ci],
          y1: offsets[ci] + v,
          tip: s.tips[ci] ?? [],
        });
        offsets[ci] += v;
      } else {
        bars.push({
          x: (x(cat) ?? 0) + (inner(s.key) ?? 0),
          w: inner.bandwidth(),
          y0: 0,
          y1: v,
          tip: s.tips[ci] ?? [],
        });
      }
    });
    withTip(
      g.append("g")
        .attr("class", "series")
        .selectAll("rect")
        .data(bars)
        .join("rect")
        .attr("class", "mark")
        .attr("x", (b: Bar) => b.x)
        .attr("width", (b: Bar) => Math.max(1, b.w))
        .attr("y", (b: Bar) => y(b.y1))
        .attr("height", (b: Bar) => Math.max(0, y(b.y0) - y(b.y1)))
        .attr("fill", s.color)
        .attr("stroke", "#fff")
        .attr("stroke-width", o.stacked ? 0.75 : 0),
      (b: Bar) => b.tip,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Data selection

const data: ResultsFile = JSON.parse(
  (document.getElementById("results-data") as HTMLScriptElement).textContent ?? "null",
);
const configs = data.configs;
const specs = configs.filter((c) => c.mode === "speculative" && c.k !== null);
const baselines = configs.filter((c) => c.mode === "baseline");
const promptTypes = uniq(configs.map((c) => c.promptType));
const multiPrompt = promptTypes.length > 1;
const samples = data.settings.numSamples;

interface Slice {
  cache: string;
  cacheSize: number | null;
  quant: string;
}
const sliceKey = (c: Slice) => `${c.cache}|${c.cacheSize}|${c.quant}`;
const inSlice = (c: Cfg, s: Slice) =>
  c.cache === s.cache && c.cacheSize === s.cacheSize && c.quant === s.quant;
const sliceLabel = (s: Slice) => `${cacheLabel(s)}, ${s.quant}`;

/** The configurations most charts show: full cache + fp16 when present, else the most common. */
function referenceSlice(pool: Cfg[]): Slice | null {
  if (pool.length === 0) return null;
  const preferred = pool.find((c) => c.cache === "full" && c.quant === "fp16");
  if (preferred) return { cache: "full", cacheSize: preferred.cacheSize, quant: "fp16" };
  const counts = new Map<string, { n: number; s: Slice }>();
  for (const c of pool) {
    const s = { cache: c.cache, cacheSize: c.cacheSize, quant: c.quant };
    const entry = counts.get(sliceKey(s)) ?? { n: 0, s };
    entry.n++;
    counts.set(sliceKey(s), entry);
  }
  return [...counts.values()].sort((a, b) => b.n - a.n)[0].s;
}

const refSlice = referenceSlice(specs.length > 0 ? specs : configs);

function findBaseline(c: Cfg): Cfg | undefined {
  return baselines.find((b) =>
    b.maxNewTokens === c.maxNewTokens && b.cache === c.cache && b.cacheSize === c.cacheSize &&
    b.quant === c.quant && b.promptType === c.promptType
  );
}

function configTip(c: Cfg, lines: string[]): string[] {
  return [c.id, ...lines];
}

function statLine(name: string, s: { mean: number; std: number; n: number }, unit: string) {
  return `${name}: ${f1(s.mean)} ± ${f1(s.std)} ${unit} (n=${s.n})`;
}

/** Groups the speculative configs of a slice into one series per output length (and prompt type). */
function lengthGroups(slice: Slice) {
  const pool = specs.filter((c) => inSlice(c, slice));
  const keys = uniq(pool.map((c) => `${c.maxNewTokens}\u0000${c.promptType}`));
  const lengths = uniq(pool.map((c) => c.maxNewTokens)).sort(byNum);
  keys.sort((a, b) => {
    const [na, pa] = a.split("\u0000");
    const [nb, pb] = b.split("\u0000");
    return Number(na) - Number(nb) || pa.localeCompare(pb);
  });
  return keys.map((key, i) => {
    const [n, promptType] = key.split("\u0000");
    const members = pool
      .filter((c) => c.maxNewTokens === Number(n) && c.promptType === promptType)
      .sort((a, b) => (a.k ?? 0) - (b.k ?? 0));
    const label = `N = ${n}${multiPrompt ? ` · ${promptType}` : ""}`;
    const baseline = members.length > 0 ? findBaseline(members[0]) : undefined;
    return {
      key,
      label,
      color: color(lengths.length > 0 ? i : 0),
      members,
      baseline,
    };
  });
}

const kTicks = uniq(specs.map((c) => c.k as number)).sort(byNum);

type Metric = (c: Cfg) => { y: number; err?: number } | null;

/** A "metric vs K" panel: one series per output length, baselines as dashed lines. */
function vsKPanel(
  host: HTMLElement,
  title: string,
  slice: Slice,
  metric: Metric,
  yLabel: string,
  tipLine: (c: Cfg) => string[],
  baselineMetric: ((b: Cfg) => number) | null,
  extra: Partial<XYOptions> = {},
  extraSeries: XYSeries[] = [],
): void {
  const groups = lengthGroups(slice);
  const series: XYSeries[] = groups.map((gr) => ({
    key: gr.key,
    label: gr.label,
    color: gr.color,
    points: gr.members.flatMap((c) => {
      const v = metric(c);
      return v === null
        ? []
        : [{ x: c.k as number, y: v.y, err: v.err, tip: configTip(c, tipLine(c)) }];
    }),
  }));
  const hlines: HLine[] = baselineMetric === null ? [] : groups.flatMap((gr) =>
    gr.baseline
      ? [{
        key: gr.key,
        y: baselineMetric(gr.baseline),
        color: gr.color,
        tip: configTip(gr.baseline, ["baseline (plain decoding)", ...tipLine(gr.baseline)]),
      }]
      : []
  );
  const all = [...series, ...extraSeries];
  if (all.every((s) => s.points.length === 0)) {
    noData(host, `No ${title.toLowerCase()} measurements for the speculative runs.`);
    return;
  }
  const legend: LegendItem[] = all.map((s) => ({
    key: s.key,
    label: s.label,
    color: s.color,
    shape: s.dashed ? "dashed" : "line",
  }));
  chartPanel(
    host,
    title,
    legend,
    (t, hidden) =>
      xyChart(t, {
        xLabel: "draft length K (tokens)",
        yLabel,
        series: all,
        hlines,
        xTicks: kTicks,
        ...extra,
      }, hidden),
    hlines.length > 0 ? "dashed: baseline" : undefined,
  );
}

// ---------------------------------------------------------------------------------------------
// Sections

function section(id: string): { body: HTMLElement; caption: HTMLElement } {
  const root = document.querySelector(`section[data-chart="${id}"]`) as HTMLElement;
  return {
    body: root.querySelector(".chart-body") as HTMLElement,
    caption: root.querySelector(".caption") as HTMLElement,
  };
}

function panels(body: HTMLElement): HTMLElement {
  const box = el("div", "panels");
  body.append(box);
  return box;
}

const NO_SPEC = "No speculative runs in this results file (baseline-only sweep).";

function drawThroughput(): void {
  const { body, caption } = section("throughput");
  if (specs.length === 0 || refSlice === null) return noData(body, NO_SPEC);
  caption.textContent = `Mean decode throughput over ${samples} samples (error bars ±1 std) for ` +
    `${sliceLabel(refSlice)}, one line per output length N; dashed lines are the plain-decoding ` +
    `baselines.`;
  vsKPanel(
    body,
    "",
    refSlice,
    (c) => ({ y: c.throughputTokS.mean, err: c.throughputTokS.std }),
    "throughput (tokens/s)",
    (c) => [
      statLine("throughput", c.throughputTokS, "tok/s"),
      ...(c.measuredSpeedup != null ? [`speedup: ${fmtX(c.measuredSpeedup)}`] : []),
    ],
    (b) => b.throughputTokS.mean,
  );
}

function drawLatency(): void {
  const { body, caption } = section("latency");
  if (specs.length === 0 || refSlice === null) return noData(body, NO_SPEC);
  caption.textContent = `Time per output token (TPOT) and time to first token (TTFT), ` +
    `${sliceLabel(refSlice)}; error bars ±1 std, dashed lines are the baselines.`;
  const box = panels(body);
  vsKPanel(
    box,
    "TPOT",
    refSlice,
    (c) => ({ y: c.tpotMs.mean, err: c.tpotMs.std }),
    "TPOT (ms/token)",
    (c) => [statLine("TPOT", c.tpotMs, "ms")],
    (b) => b.tpotMs.mean,
  );
  vsKPanel(
    box,
    "TTFT",
    refSlice,
    (c) => ({ y: c.ttftMs.mean, err: c.ttftMs.std }),
    "TTFT (ms)",
    (c) => [statLine("TTFT", c.ttftMs, "ms")],
    (b) => b.ttftMs.mean,
  );
}

function drawAcceptance(): void {
  const { body, caption } = section("acceptance");
  if (specs.length === 0 || refSlice === null) return noData(body, NO_SPEC);
  caption.textContent =
    `Draft acceptance rate (accepted / proposed draft tokens) and mean tokens ` +
    `emitted per round τ (including the target's correction or bonus token), ${
      sliceLabel(refSlice)
    }.`;
  const box = panels(body);
  vsKPanel(
    box,
    "Draft acceptance rate",
    refSlice,
    (c) => (c.draftAcceptanceRate == null ? null : { y: c.draftAcceptanceRate }),
    "acceptance rate (fraction)",
    (
      c,
    ) => [`acceptance: ${fmtPct(c.draftAcceptanceRate)}`, `α per token: ${fmt3(c.alphaPerToken)}`],
    null,
    { yDomain: [0, 1], yFormat: format(".0%") },
  );
  const bound: XYSeries = {
    key: "__bound",
    label: "K + 1 (every draft accepted)",
    color: "#9ca3af",
    dashed: true,
    markers: false,
    points: kTicks.map((k) => ({ x: k, y: k + 1, tip: [] })),
  };
  vsKPanel(
    box,
    "Tokens per round τ",
    refSlice,
    (c) => (c.meanTokensPerRound == null ? null : { y: c.meanTokensPerRound }),
    "tokens per round (tokens)",
    (
      c,
    ) => [`τ: ${fmt2(c.meanTokensPerRound)} tokens/round`, `upper bound K + 1 = ${(c.k ?? 0) + 1}`],
    null,
    { yFromZero: true },
    [bound],
  );
}

function drawPositions(): void {
  const { body, caption } = section("positions");
  const pool = specs.filter((c) => c.perPositionAcceptance && c.perPositionAcceptance.length > 0);
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
    `${sliceLabel(slice)}, N = ${n}${multiPrompt ? `, ${promptType} prompts` : ""}.`;
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
  chartPanel(
    body,
    "",
    series.map((s) => ({ key: s.key, label: s.label, color: s.color, shape: "line" })),
    (t, hidden) =>
      xyChart(t, {
        xLabel: "draft position i",
        yLabel: "P(accept | reached)",
        series,
        xTicks: ticks,
        yFormat: format(".0%"),
      }, hidden),
  );
}

function drawPrediction(): void {
  const { body, caption } = section("prediction");
  const pool = specs.filter((c) => c.accounting && c.measuredSpeedup != null);
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
  chartPanel(
    body,
    "",
    series.map((s) => ({ key: s.key, label: s.label, color: s.color, shape: "dot" })),
    (t, hidden) =>
      xyChart(t, {
        xLabel: "measured speedup (×)",
        yLabel: "predicted speedup (×)",
        series,
        diagonal: true,
        yFormat: format(".2f"),
      }, hidden),
    "dashed: y = x (perfect prediction)",
  );
}

function drawAnalytic(): void {
  const { body, caption } = section("analytic");
  const summary = data.analytic.summary;
  if (summary.length === 0) {
    return noData(body, "No analytic model summary in this results file.");
  }
  caption.textContent = data.analytic.alphaNote;
  const cats = summary.map((s) => s.model);
  const series: BarSeries[] = summary.map((s, i) => ({
    key: s.model,
    label: s.model,
    color: MODEL_COLORS[s.model] ?? color(i),
    values: cats.map((c) => (c === s.model ? s.meanAbsPctError : null)),
    tips: cats.map(() => [
      s.model,
      `mean |error|: ${f2(s.meanAbsPctError)}%`,
      ...(s.model === data.analytic.best ? ["best model"] : []),
    ]),
  }));
  chartPanel(
    body,
    "",
    series.map((s) => ({ key: s.key, label: s.label, color: s.color, shape: "box" })),
    (t, hidden) =>
      barChart(t, {
        categories: cats,
        series,
        stacked: true,
        xLabel: "analytic model",
        yLabel: "mean |error| (% of measured)",
        height: 250,
      }, hidden),
  );
  const table = el("table", "mini-table");
  const head = table.createTHead().insertRow();
  for (const h of ["model", "mean |error|", ""]) head.append(el("th", undefined, h));
  for (const s of summary) {
    const row = table.insertRow();
    row.append(
      el("td", undefined, s.model),
      el("td", "num", `${f2(s.meanAbsPctError)}%`),
      el("td", undefined, s.model === data.analytic.best ? "best" : ""),
    );
  }
  body.append(table);
}

function drawCache(): void {
  const { body, caption } = section("cache");
  const sinks = configs.filter((c) => c.cache === "sink");
  if (sinks.length === 0) {
    return noData(
      body,
      "No sink-cache runs in this results file, so there is no cache-size comparison.",
    );
  }
  const quant = sinks.some((c) => c.quant === (refSlice?.quant ?? "fp16"))
    ? (refSlice?.quant ?? "fp16")
    : sinks[0].quant;
  const n = maxBy(sinks.filter((c) => c.quant === quant), (c) => c.maxNewTokens) as number;
  const promptType = sinks.find((c) => c.quant === quant && c.maxNewTokens === n)?.promptType;
  const pool = configs.filter((c) =>
    c.quant === quant && c.maxNewTokens === n && c.promptType === promptType
  );
  const sizes = uniq(pool.filter((c) => c.cache === "sink").map((c) => c.cacheSize ?? 0)).sort(
    byNum,
  );
  const hasFull = pool.some((c) => c.cache === "full");
  const cats = [...sizes.map((s) => `sink ${s}`), ...(hasFull ? ["full"] : [])];
  const catOf = (c: Cfg) => (c.cache === "full" ? "full" : `sink ${c.cacheSize ?? 0}`);
  caption.textContent = `StreamingLLM sink + window cache of capacity C vs the full cache; ` +
    `${quant}, N = ${n}${multiPrompt ? `, ${promptType} prompts` : ""}. A compression event ` +
    `evicts entries between the sinks and the recent window.`;
  const groupKeys = uniq(pool.map((c) => (c.k === null ? "baseline" : `K = ${c.k}`)));
  groupKeys.sort((a, b) =>
    a === "baseline" ? -1 : b === "baseline" ? 1 : Number(a.slice(4)) - Number(b.slice(4))
  );
  const colorOf = (key: string, i: number) => (key === "baseline" ? "#4b5563" : color(i));
  const members = (key: string) =>
    pool.filter((c) => (c.k === null ? "baseline" : `K = ${c.k}`) === key);
  const box = panels(body);

  const series: XYSeries[] = groupKeys.map((key, i) => ({
    key,
    label: key,
    color: colorOf(key, i),
    dashed: key === "baseline",
    points: members(key).map((c) => ({
      x: cats.indexOf(catOf(c)),
      y: c.throughputTokS.mean,
      err: c.throughputTokS.std,
      tip: configTip(c, [
        statLine("throughput", c.throughputTokS, "tok/s"),
        `compression events: ${fInt(c.compressionEvents)}`,
        `KV cache: ${fmtBytes(c.kvBytes)}`,
      ]),
    })),
  }));
  const legend = (shape: LegendItem["shape"]) =>
    groupKeys.map((key, i): LegendItem => ({
      key,
      label: key,
      color: colorOf(key, i),
      shape: key === "baseline" && shape === "line" ? "dashed" : shape,
    }));
  chartPanel(box, "Throughput vs cache size", legend("line"), (t, hidden) =>
    xyChart(t, {
      xLabel: "KV cache (capacity C, tokens)",
      yLabel: "throughput (tokens/s)",
      series,
      xTicks: cats.map((_, i) => i),
      xTickFormat: (v) => cats[v] ?? "",
    }, hidden));

  const bars: BarSeries[] = groupKeys.map((key, i) => {
    const byCat = cats.map((cat) => members(key).find((c) => catOf(c) === cat));
    return {
      key,
      label: key,
      color: colorOf(key, i),
      values: byCat.map((c) => (c ? c.compressionEvents : null)),
      tips: byCat.map((c) =>
        c
          ? configTip(c, [
            `compression events: ${fInt(c.compressionEvents)}`,
            `KV cache: ${fmtBytes(c.kvBytes)}`,
          ])
          : []
      ),
    };
  });
  chartPanel(box, "Compression events per run", legend("box"), (t, hidden) =>
    barChart(t, {
      categories: cats,
      series: bars,
      stacked: false,
      xLabel: "KV cache (capacity C, tokens)",
      yLabel: "compression events (count)",
      yFormat: format("~s"),
    }, hidden));
}

function memoryLabel(m: MemorySeries): string {
  return m.cache === "full" ? "full cache" : `sink C = ${m.cacheSize ?? "?"}`;
}

function drawMemory(): void {
  const { body, caption } = section("memory");
  const mem = data.memory.filter((m) => m.points.length > 0);
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
  chartPanel(
    body,
    "",
    series.map((s) => ({ key: s.key, label: s.label, color: s.color, shape: "line" })),
    (t, hidden) =>
      xyChart(t, {
        xLabel: "generated tokens",
        yLabel: "KV cache (MiB)",
        series,
        yFromZero: true,
      }, hidden),
  );
}

function drawKernels(): void {
  const { body, caption } = section("kernels");
  if (data.kernels.length === 0) {
    return noData(body, "No per-kernel timings in this results file (profile with --per-kernel).");
  }
  const order = ["draft", "target", "verify"];
  const passes = uniq(data.kernels.map((k) => k.pass)).sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const names = uniq(data.kernels.map((k) => k.name));
  const passTotal = passes.map((p) =>
    data.kernels.filter((k) => k.pass === p).reduce((s, k) => s + k.ms, 0)
  );
  caption.textContent =
    `GPU time of one pass split by kernel (stacked): draft = one draft token, ` +
    `target = one plain decode token, verify = K + 1 tokens scored at once.`;
  const series: BarSeries[] = names.map((name, i) => {
    const rows = passes.map((p) => data.kernels.filter((k) => k.name === name && k.pass === p));
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
  chartPanel(
    body,
    "",
    series.map((s) => ({ key: s.key, label: s.label, color: s.color, shape: "box" })),
    (t, hidden) =>
      barChart(t, {
        categories: passes,
        series,
        stacked: true,
        xLabel: "pass",
        yLabel: "GPU time (ms)",
        height: 340,
      }, hidden),
  );
}

function drawQuant(): void {
  const { body, caption } = section("quant");
  const int8 = configs.filter((c) => c.quant === "int8");
  const fp16 = configs.filter((c) => c.quant === "fp16");
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
  const pool = configs.filter((c) =>
    c.cache === ref.cache && c.cacheSize === ref.cacheSize && c.maxNewTokens === n &&
    c.promptType === promptType
  );
  caption.textContent = `Target weights in INT8 vs FP16, ${cacheLabel(ref)}, N = ${n}` +
    `${multiPrompt ? `, ${promptType} prompts` : ""}: memory, throughput and draft acceptance.`;
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
      values: vals.map((v) => (v == null ? null : mib(v))),
      tips: vals.map((
        v,
        i,
      ) => (c && v != null ? configTip(c, [`${memCats[i]}: ${fmtBytes(v)}`]) : [])),
    };
  });
  const quantLegend = (shape: LegendItem["shape"]) =>
    quants.map((q): LegendItem => ({ key: q, label: q, color: QUANT_COLORS[q], shape }));
  chartPanel(box, "GPU memory", quantLegend("box"), (t, hidden) =>
    barChart(t, {
      categories: memCats,
      series: memSeries,
      stacked: false,
      xLabel: "memory kind",
      yLabel: "memory (MiB)",
      yFormat: format(",.0f"),
    }, hidden));

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
    chartPanel(
      box,
      "Throughput",
      quantLegend("line"),
      (t, hidden) =>
        xyChart(t, {
          xLabel: "draft length K (tokens)",
          yLabel: "throughput (tokens/s)",
          series: tput,
          hlines,
          xTicks: kTicks,
        }, hidden),
      hlines.length > 0 ? "dashed: baseline" : undefined,
    );
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
    chartPanel(box, "Throughput", quantLegend("box"), (t, hidden) =>
      barChart(t, {
        categories: ["plain decoding"],
        series: bars,
        stacked: false,
        xLabel: "decoding",
        yLabel: "throughput (tokens/s)",
      }, hidden));
  }
  const acc = specSeries(
    (c) => c.draftAcceptanceRate,
    (c) => [`acceptance: ${fmtPct(c.draftAcceptanceRate)}`],
  );
  if (acc.some((s) => s.points.length > 0)) {
    chartPanel(box, "Draft acceptance", quantLegend("line"), (t, hidden) =>
      xyChart(t, {
        xLabel: "draft length K (tokens)",
        yLabel: "acceptance rate (fraction)",
        series: acc,
        xTicks: kTicks,
        yDomain: [0, 1],
        yFormat: format(".0%"),
      }, hidden));
  }
}

// ---------------------------------------------------------------------------------------------
// Summary, table, prompts, download link

function bestConfig(): Cfg | undefined {
  let best: Cfg | undefined;
  for (const c of specs) {
    if (c.measuredSpeedup == null) continue;
    if (!best || c.measuredSpeedup > (best.measuredSpeedup ?? -Infinity)) best = c;
  }
  return best;
}

function statCard(label: string, value: string, details: string[], highlight = false): HTMLElement {
  const card = el("div", `stat-card${highlight ? " highlight" : ""}`);
  card.append(el("div", "label", label), el("div", "value", value));
  for (const d of details) card.append(el("div", "detail", d));
  return card;
}

function modelDetail(m: ResultsFile["models"]["target"]): string {
  return `${fmtParams(m.params)} params · ${m.layers} layers · d${m.hidden} · ${m.heads} heads · ` +
    `${m.dtype} · ${fmtBytes(m.weightBytes)}`;
}

function drawSummary(): void {
  const host = document.getElementById("summary") as HTMLElement;
  const best = bestConfig();
  if (best) {
    const base = findBaseline(best);
    host.append(statCard("Best speedup", fmtX(best.measuredSpeedup), [
      best.id,
      `K = ${best.k} · N = ${best.maxNewTokens} · ${cacheLabel(best)} · ${best.quant}`,
      `${f1(best.throughputTokS.mean)} tok/s` +
      (base ? ` vs ${f1(base.throughputTokS.mean)} tok/s baseline` : ""),
    ], true));
  } else {
    host.append(
      statCard("Best speedup", "—", ["no speculative run with a measured speedup"]),
    );
  }
  host.append(statCard("Target model", data.models.target.path, [modelDetail(data.models.target)]));
  host.append(
    data.models.draft
      ? statCard("Draft model", data.models.draft.path, [modelDetail(data.models.draft)])
      : statCard("Draft model", "none", ["baseline-only sweep"]),
  );
  const d = data.device;
  host.append(statCard("Device", d.description || d.vendor || "unknown adapter", [
    [d.vendor, d.architecture].filter((s) => s).join(" · ") +
    (d.isFallbackAdapter ? " · fallback adapter" : ""),
    d.features.length > 0 ? `features: ${d.features.join(", ")}` : "no optional features",
  ]));
  const summary = data.analytic.summary;
  const bestModel = summary.find((s) => s.model === data.analytic.best);
  host.append(statCard(
    "Best analytic model",
    summary.length > 0 ? data.analytic.best : "—",
    summary.length > 0
      ? [
        bestModel ? `mean |error| ${f1(bestModel.meanAbsPctError)}%` : "",
        summary.filter((s) => s !== bestModel).map((s) => `${s.model} ${f1(s.meanAbsPctError)}%`)
          .join(" · "),
      ].filter((s) => s)
      : ["no speculative runs to check"],
  ));
  host.append(statCard("Run", fmtDate(data.createdAt), [
    `${data.tool.name} ${data.tool.version}`,
    `${configs.length} configurations · ${samples} samples each`,
  ]));
  const s = data.settings;
  const cacheNames = s.cacheSizes.map((c) => (c === null ? "full" : `sink ${c}`));
  host.append(el(
    "div",
    "settings-line",
    [
      s.kValues.length > 0 ? `K ∈ {${s.kValues.join(", ")}}` : "no K values",
      `N ∈ {${s.maxNewTokens.join(", ")}} new tokens`,
      `caches: ${cacheNames.join(", ")}`,
      `weights: ${s.quant.join(", ")}`,
      `prompt types: ${s.promptTypes.join(", ")}`,
      s.temperature === 0 ? "greedy (temperature 0)" : `temperature ${s.temperature}`,
    ].join("  ·  "),
  ));
  document.title = `neox-spec report: ${data.models.target.path}` +
    (data.models.draft ? ` + ${data.models.draft.path}` : "");
  const footer = document.getElementById("footer-text") as HTMLElement;
  footer.textContent =
    `Generated by ${data.tool.name} ${data.tool.version} from a sweep finished ` +
    `${fmtDate(data.createdAt)}. Charts show means over ${samples} samples (warm-up excluded); ` +
    `speedups are relative to the baseline with the same cache, weights, length and prompts. ` +
    `This file is self-contained and makes no network requests.`;
}

interface Column {
  label: string;
  value: (c: Cfg) => string | number | null;
  show?: (c: Cfg) => string;
  numeric: boolean;
  title?: string;
}

function drawTable(): void {
  const wrap = document.querySelector("#configs .table-wrap") as HTMLElement;
  if (configs.length === 0) return noData(wrap, "No configurations in this results file.");
  const columns: Column[] = [
    { label: "id", value: (c) => c.id, numeric: false },
    { label: "mode", value: (c) => c.mode, numeric: false },
    { label: "K", value: (c) => c.k, numeric: true },
    { label: "N", value: (c) => c.maxNewTokens, numeric: true },
    {
      label: "cache",
      value: (c) => (c.cache === "full" ? "full" : `sink ${c.cacheSize}`),
      numeric: false,
    },
    { label: "weights", value: (c) => c.quant, numeric: false },
    ...(multiPrompt ? [{ label: "prompts", value: (c: Cfg) => c.promptType, numeric: false }] : []),
    {
      label: "tok/s",
      value: (c) => c.throughputTokS.mean,
      show: (c) => `${f1(c.throughputTokS.mean)} ± ${f1(c.throughputTokS.std)}`,
      numeric: true,
      title: "throughput, mean ± std",
    },
    {
      label: "TTFT ms",
      value: (c) => c.ttftMs.mean,
      show: (c) => f1(c.ttftMs.mean),
      numeric: true,
    },
    {
      label: "TPOT ms",
      value: (c) => c.tpotMs.mean,
      show: (c) => f2(c.tpotMs.mean),
      numeric: true,
    },
    {
      label: "accept",
      value: (c) => c.draftAcceptanceRate,
      show: (c) => fmtPct(c.draftAcceptanceRate),
      numeric: true,
      title: "draft acceptance rate",
    },
    {
      label: "τ",
      value: (c) => c.meanTokensPerRound,
      show: (c) => fmt2(c.meanTokensPerRound),
      numeric: true,
      title: "mean tokens per round",
    },
    {
      label: "speedup",
      value: (c) => c.measuredSpeedup,
      show: (c) => fmtX(c.measuredSpeedup),
      numeric: true,
      title: "measured speedup over the matching baseline",
    },
    {
      label: "seed",
      value: (c) => c.accounting?.seed.speedup ?? null,
      show: (c) => fmtX(c.accounting?.seed.speedup),
      numeric: true,
      title: "seed formula prediction",
    },
    {
      label: "leviathan",
      value: (c) => c.accounting?.leviathan.speedup ?? null,
      show: (c) => fmtX(c.accounting?.leviathan.speedup),
      numeric: true,
      title: "Leviathan prediction",
    },
    {
      label: "refined",
      value: (c) => c.accounting?.refined.speedup ?? null,
      show: (c) => fmtX(c.accounting?.refined.speedup),
      numeric: true,
      title: "refined prediction",
    },
    {
      label: "c",
      value: (c) => c.c,
      show: (c) => fmt3(c.c),
      numeric: true,
      title: "T_draft / T_target",
    },
    {
      label: "compr.",
      value: (c) => c.compressionEvents,
      show: (c) => fInt(c.compressionEvents),
      numeric: true,
      title: "cache compression events",
    },
    {
      label: "KV",
      value: (c) => c.kvBytes,
      show: (c) => fmtBytes(c.kvBytes),
      numeric: true,
      title: "KV-cache bytes",
    },
    {
      label: "peak",
      value: (c) => c.peakBytes,
      show: (c) => fmtBytes(c.peakBytes),
      numeric: true,
      title: "peak GPU bytes",
    },
  ];
  const best = bestConfig();
  const table = el("table");
  const headRow = table.createTHead().insertRow();
  const tbody = table.createTBody();
  let sortIndex = -1;
  let ascending = true;
  const fill = () => {
    const rows = [...configs];
    if (sortIndex >= 0) {
      const col = columns[sortIndex];
      rows.sort((a, b) => {
        const va = col.value(a);
        const vb = col.value(b);
        if (va === null && vb === null) return 0;
        if (va === null) return 1; // missing values last in both directions
        if (vb === null) return -1;
        const cmp = typeof va === "number" && typeof vb === "number"
          ? va - vb
          : String(va).localeCompare(String(vb), undefined, { numeric: true });
        return ascending ? cmp : -cmp;
      });
    }
    tbody.replaceChildren(...rows.map((c) => {
      const tr = el("tr");
      if (c === best) tr.className = "best";
      for (const col of columns) {
        const v = col.value(c);
        tr.append(
          el(
            "td",
            col.numeric ? "num" : undefined,
            col.show ? col.show(c) : v === null ? "—" : String(v),
          ),
        );
      }
      return tr;
    }));
  };
  columns.forEach((col, i) => {
    const th = el("th", col.numeric ? "num" : undefined);
    th.scope = "col";
    const button = el("button", undefined, col.label);
    button.type = "button";
    if (col.title) button.title = col.title;
    button.addEventListener("click", () => {
      if (sortIndex === i) ascending = !ascending;
      else {
        sortIndex = i;
        ascending = !col.numeric;
      }
      for (const other of headRow.querySelectorAll("th")) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      fill();
    });
    th.append(button);
    headRow.append(th);
  });
  fill();
  wrap.append(table);
}

function drawPrompts(): void {
  const host = document.getElementById("prompts") as HTMLElement;
  if (data.prompts.length === 0) return noData(host, "No prompts recorded in this results file.");
  for (const p of data.prompts) {
    const item = el("div", "prompt");
    item.append(el("div", "meta", `${p.name} · ${p.kind} · ${fInt(p.ids.length)} tokens`));
    item.append(el("pre", undefined, p.text));
    host.append(item);
  }
}

function setupDownload(): void {
  const link = document.getElementById("download-json") as HTMLAnchorElement;
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  link.href = URL.createObjectURL(blob);
  link.download = "results.json";
}

// ---------------------------------------------------------------------------------------------

const steps: [string, () => void][] = [
  ["summary", drawSummary],
  ["download link", setupDownload],
  ["throughput", drawThroughput],
  ["prediction", drawPrediction],
  ["latency", drawLatency],
  ["acceptance", drawAcceptance],
  ["positions", drawPositions],
  ["analytic", drawAnalytic],
  ["cache", drawCache],
  ["memory", drawMemory],
  ["kernels", drawKernels],
  ["quant", drawQuant],
  ["table", drawTable],
  ["prompts", drawPrompts],
];
function reportFailure(name: string, e: unknown): void {
  // One broken section must not take the others down; the error still reaches the console.
  console.error(`report: drawing ${name} failed:`, e);
  const root = document.querySelector(`section[data-chart="${name}"] .chart-body`);
  if (root instanceof HTMLElement) noData(root, `This chart could not be drawn (${String(e)}).`);
}

for (const [name, build] of steps) {
  const first = pendingDraws.length;
  try {
    build();
  } catch (e) {
    reportFailure(name, e);
  }
  for (let i = first; i < pendingDraws.length; i++) {
    const draw = pendingDraws[i];
    pendingDraws[i] = () => {
      try {
        draw();
      } catch (e) {
        reportFailure(name, e);
      }
    };
  }
}
for (const draw of pendingDraws) draw();
document.documentElement.dataset.ready = "true";
