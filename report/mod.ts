/**
 * The report: a results JSON (see profiler/results.ts) rendered as one self-contained HTML
 * file with d3 charts, inline CSS and the data embedded. `mod.ts report results.json -o
 * report.html` calls {@link writeReport}.
 */

export { bundleClient, embedJson, renderReport, shareableResults, writeReport } from "./render.ts";
export { CHART_SECTIONS, type SectionInfo, SECTIONS } from "./sections.ts";
export { validateResults } from "./validate.ts";
