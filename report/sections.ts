/**
 * The report's sections, in page order: the one list that render.ts writes the page
 * skeleton from and that report/client.ts draws. Plain data, no DOM or d3, so that
 * render.ts can import it in Deno; client.ts maps every id here to exactly one drawer
 * (`DRAWERS`, checked by the type checker: a missing or unknown id does not compile).
 *
 * Adding a section:
 * 1. write report/sections/<name>.ts exporting
 *    `draw<Name>({ body, caption }: SectionHost, v: ReportView): void` (a `SectionDraw`,
 *    report/view.ts) that fills `body` with xyPanel/barPanel/el (report/charts.ts) or a
 *    no-data sentence, and sets `caption`;
 * 2. add its line to {@link SECTIONS} below (where it stands is where the page shows it);
 * 3. add `<id>: draw<Name>` to `DRAWERS` in report/client.ts (the type check asks for it).
 */

/**
 * How the skeleton holds a section: a `chart` gets `data-chart` (the browser test expects an
 * SVG with marks, or a no-data sentence, in each), a `table` or `text` section does not.
 */
export type SectionKind = "chart" | "table" | "text";

/** One section of the page: its id (also its element id), heading and layout. */
export interface SectionInfo {
  id: string;
  title: string;
  /** Spans both columns of the grid. */
  wide: boolean;
  kind: SectionKind;
  /** A caption fixed in the skeleton; otherwise the drawer writes it from the data. */
  caption?: string;
}

/** Every section of the page, in order. */
export const SECTIONS = [
  { id: "throughput", title: "Throughput vs draft length K", wide: false, kind: "chart" },
  {
    id: "prediction",
    title: "Predicted before the sweep vs measured",
    wide: true,
    kind: "chart",
  },
  { id: "latency", title: "Latency vs draft length K", wide: true, kind: "chart" },
  { id: "acceptance", title: "Draft acceptance and tokens per round", wide: true, kind: "chart" },
  {
    id: "agreement",
    title: "Acceptance measured without speculation",
    wide: true,
    kind: "chart",
  },
  { id: "positions", title: "Per-position acceptance", wide: false, kind: "chart" },
  {
    id: "analytic",
    title: "In-sample accounting (where time went, not a prediction)",
    wide: false,
    kind: "chart",
  },
  { id: "cache", title: "Cache size: throughput and compression", wide: true, kind: "chart" },
  { id: "trees", title: "Token trees vs the chain", wide: true, kind: "chart" },
  { id: "memory", title: "KV-cache memory during generation", wide: false, kind: "chart" },
  { id: "kernels", title: "Per-kernel GPU time", wide: false, kind: "chart" },
  { id: "quant", title: "INT8 vs FP16 target", wide: true, kind: "chart" },
  {
    id: "configs",
    title: "All configurations",
    wide: true,
    kind: "table",
    caption: "Click a column heading to sort.",
  },
  { id: "prompts", title: "Prompts", wide: true, kind: "text" },
  { id: "measure", title: "Measure on this GPU", wide: true, kind: "text" },
] as const satisfies readonly SectionInfo[];

/** The id of a registered section. */
export type SectionId = typeof SECTIONS[number]["id"];

/** The chart sections (`data-chart` in the page), in order. */
export const CHART_SECTIONS: readonly SectionInfo[] = SECTIONS.filter((s) => s.kind === "chart");

/** The `<section>` element of the page skeleton for one section (titles are trusted text). */
export function sectionSkeleton(s: SectionInfo): string {
  const classes = `card${s.kind === "chart" ? " chart-section" : ""}${s.wide ? " wide" : ""}`;
  // Chart sections keep their `chart-` element ids, so links into older reports still work.
  const attrs = s.kind === "chart" ? `data-chart="${s.id}" id="chart-${s.id}"` : `id="${s.id}"`;
  return `<section class="${classes}" data-section="${s.id}" ${attrs}>
<h2>${s.title}</h2><p class="caption">${
    s.caption ?? ""
  }</p><div class="chart-body"></div></section>`;
}
