/**
 * The report: a results JSON (see profiler/results.ts) rendered as one self-contained HTML
 * file with d3 charts, inline CSS and the data embedded. `mod.ts report results.json -o
 * report.html` calls {@link writeReport}.
 */

export { bundleClient, CHART_SECTIONS, embedJson, renderReport, writeReport } from "./render.ts";
export { validateResults } from "./validate.ts";
