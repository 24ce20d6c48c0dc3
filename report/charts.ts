/// <reference lib="dom" />
/**
 * Chart scaffolding shared by every report section: text-only DOM elements, the tooltip,
 * chart panels with toggling legends, the SVG frame and axes, and the two chart kinds
 * (xyChart: lines, points, error bars, reference lines; barChart: grouped or stacked bars).
 * Every string reaches the page as text (textContent / d3 .text()), never as HTML.
 */

import { scaleBand, scaleLinear } from "d3-scale";
import { select } from "d3-selection";
import { axisBottom, axisLeft } from "d3-axis";
import { line } from "d3-shape";
import { extent, max } from "d3-array";
import { format } from "d3-format";

/** Series colours, cycled. */
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
export const color = (i: number) => PALETTE[i % PALETTE.length];
/** One colour per analytic model, the same in every chart. */
export const MODEL_COLORS: Record<string, string> = {
  seed: "#9333ea",
  leviathan: "#ea580c",
  refined: "#16a34a",
  costAware: "#0891b2",
};
/** One colour per weight format, the same in every chart. */
export const QUANT_COLORS: Record<string, string> = { fp16: "#2563eb", int8: "#ea580c" };

// ---------------------------------------------------------------------------------------------
// DOM helpers (text only)

/** An element with an optional class and text content (never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The sentence a section shows instead of a chart it has no data for. */
export function noData(host: HTMLElement, sentence: string): void {
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

/** One legend button: toggles the series with `key`. */
export interface LegendItem {
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

/** What a panel holds beside its chart: a heading, the legend, a note after the legend. */
interface PanelOptions {
  title?: string;
  /** Default: one entry per series (xyPanel: line, or dashed for a dashed series; barPanel: box). */
  legend?: LegendItem[];
  hint?: string;
}

/** A panel of one {@link xyChart}. */
export function xyPanel(host: HTMLElement, o: XYOptions & PanelOptions): void {
  const legend = o.legend ??
    o.series.map((s): LegendItem => ({
      key: s.key,
      label: s.label,
      color: s.color,
      shape: s.dashed ? "dashed" : "line",
    }));
  chartPanel(host, o.title ?? "", legend, (t, hidden) => xyChart(t, o, hidden), o.hint);
}

/** A panel of one {@link barChart}. */
export function barPanel(host: HTMLElement, o: BarOptions & PanelOptions): void {
  const legend = o.legend ?? legendOf(o.series, "box");
  chartPanel(host, o.title ?? "", legend, (t, hidden) => barChart(t, o, hidden), o.hint);
}

/** Chart drawings waiting for the page layout (see chartPanel); client.ts runs them. */
export const pendingDraws: (() => void)[] = [];

/** A point of an xyChart series; `tip` is its tooltip, one line per entry. */
export interface XYPoint {
  x: number;
  y: number;
  err?: number;
  tip: string[];
}

/** A series of an xyChart, toggled by its legend entry `key`. */
export interface XYSeries {
  key: string;
  label: string;
  color: string;
  points: XYPoint[];
  /** Draw a line through the points (sorted by x). Default true. */
  line?: boolean;
  markers?: boolean;
  dashed?: boolean;
}

/** A horizontal reference line (e.g. a baseline), dashed. */
export interface HLine {
  /** Series key it belongs to (hidden with it). */
  key: string;
  y: number;
  color: string;
  tip: string[];
}

/** What an xyChart draws, and how its axes read. */
export interface XYOptions {
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

/**
 * Horizontal grid lines, the x axis (as the chart configured it), the y axis (6 ticks, the
 * chart's format) and both axis titles.
 */
function axes(
  // deno-lint-ignore no-explicit-any
  g: any,
  iw: number,
  ih: number,
  // deno-lint-ignore no-explicit-any
  xAxis: any,
  // deno-lint-ignore no-explicit-any
  y: any,
  o: { xLabel: string; yLabel: string; yFormat?: (v: number) => string },
): void {
  g.append("g")
    .attr("class", "grid-lines")
    .call(axisLeft(y).ticks(6).tickSize(-iw).tickFormat(() => ""));
  g.append("g").attr("class", "axis").attr("transform", `translate(0,${ih})`).call(xAxis);
  const yAxis = axisLeft(y).ticks(6);
  if (o.yFormat) yAxis.tickFormat(o.yFormat);
  g.append("g").attr("class", "axis").call(yAxis);
  g.append("text")
    .attr("class", "axis-label")
    .attr("x", iw / 2)
    .attr("y", ih + 38)
    .attr("text-anchor", "middle")
    .text(o.xLabel);
  g.append("text")
    .attr("class", "axis-label")
    .attr("transform", "rotate(-90)")
    .attr("x", -ih / 2)
    .attr("y", -50)
    .attr("text-anchor", "middle")
    .text(o.yLabel);
}

function padDomain(lo: number, hi: number, frac: number, minPad: number): [number, number] {
  const pad = Math.max((hi - lo) * frac, minPad);
  return [lo - pad, hi + pad];
}

/** Lines and points (with error bars and reference lines) on linear x and y axes. */
export function xyChart(target: HTMLElement, o: XYOptions, hidden: Set<string>): void {
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

  const xAxis = axisBottom(x);
  if (o.xTicks) xAxis.tickValues(o.xTicks).tickFormat(o.xTickFormat ?? format("d"));
  else xAxis.ticks(7, o.diagonal ? ".2f" : undefined);
  axes(g, iw, ih, xAxis, y, o);

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

/** A series of a barChart: one value (or none) and one tooltip per category. */
export interface BarSeries {
  key: string;
  label: string;
  color: string;
  values: (number | null)[];
  tips: string[][];
}

/** What a barChart draws, and how its axes read. */
export interface BarOptions {
  categories: string[];
  series: BarSeries[];
  stacked: boolean;
  xLabel: string;
  yLabel: string;
  yFormat?: (v: number) => string;
  height?: number;
}

/** Bars by category: one bar per series side by side, or stacked. */
export function barChart(target: HTMLElement, o: BarOptions, hidden: Set<string>): void {
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
      : max(series, (s: BarSeries) => s.values[ci] ?? 0) ?? 0
  );
  const y = scaleLinear().domain([0, (max(totals) ?? 0) * 1.06 || 1]).nice(6).range([ih, 0]);

  axes(g, iw, ih, axisBottom(x), y, o);

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

/** A grid of side-by-side panels in a section body. */
export function panels(body: HTMLElement): HTMLElement {
  const box = el("div", "panels");
  body.append(box);
  return box;
}

/** The legend of a chart whose every series is drawn with the same kind of swatch. */
export function legendOf(
  series: readonly { key: string; label: string; color: string }[],
  shape: LegendItem["shape"],
): LegendItem[] {
  return series.map((s) => ({ key: s.key, label: s.label, color: s.color, shape }));
}
