/// <reference lib="dom" />
/**
 * The report page's script (bundled with d3 into the HTML by render.ts; runs in the browser).
 *
 * Reads the results from `<script type="application/json" id="results-data">`, draws the
 * header, then every section registered in report/sections.ts with its drawer from
 * report/sections/. Every string that comes from the results is inserted as text
 * (textContent or d3 .text()), never as HTML.
 */

import type { ResultsFile } from "../profiler/results.ts";
import { noData, pendingDraws } from "./charts.ts";
import { type SectionId, SECTIONS } from "./sections.ts";
import { drawAcceptance } from "./sections/acceptance.ts";
import { drawAgreement } from "./sections/agreement.ts";
import { drawAnalytic } from "./sections/analytic.ts";
import { drawCache } from "./sections/cache.ts";
import { drawKernels } from "./sections/kernels.ts";
import { drawLatency } from "./sections/latency.ts";
import { drawMeasure } from "./sections/measure.ts";
import { drawMemory } from "./sections/memory.ts";
import { drawPositions } from "./sections/positions.ts";
import { drawPrediction } from "./sections/prediction.ts";
import { drawPrompts } from "./sections/prompts.ts";
import { drawQuant } from "./sections/quant.ts";
import { drawSummary, setupDownload } from "./sections/summary.ts";
import { drawTable } from "./sections/table.ts";
import { drawThroughput } from "./sections/throughput.ts";
import { drawTrees } from "./sections/trees.ts";
import { reportView, type SectionDraw, type SectionHost } from "./view.ts";

/** The drawer of every registered section: a missing or unknown id is a type error. */
const DRAWERS = {
  throughput: drawThroughput,
  prediction: drawPrediction,
  latency: drawLatency,
  acceptance: drawAcceptance,
  agreement: drawAgreement,
  positions: drawPositions,
  analytic: drawAnalytic,
  cache: drawCache,
  trees: drawTrees,
  memory: drawMemory,
  kernels: drawKernels,
  quant: drawQuant,
  configs: drawTable,
  prompts: drawPrompts,
  measure: drawMeasure,
} as const satisfies Record<SectionId, SectionDraw>;

const view = reportView(
  JSON.parse(
    (document.getElementById("results-data") as HTMLScriptElement).textContent ?? "null",
  ) as ResultsFile,
);

function host(id: string): SectionHost {
  const root = document.querySelector(`section[data-section="${id}"]`) as HTMLElement;
  return {
    body: root.querySelector(".chart-body") as HTMLElement,
    caption: root.querySelector(".caption") as HTMLElement,
  };
}

function reportFailure(name: string, e: unknown): void {
  // One broken section must not take the others down; the error still reaches the console.
  console.error(`report: drawing ${name} failed:`, e);
  const root = document.querySelector(`section[data-section="${name}"] .chart-body`);
  if (root instanceof HTMLElement) noData(root, `This chart could not be drawn (${String(e)}).`);
}

const steps: [string, () => void][] = [
  ["summary", () => drawSummary(view)],
  ["download link", () => setupDownload(view)],
  ...SECTIONS.map(({ id }): [string, () => void] => [id, () => DRAWERS[id](host(id), view)]),
];

for (const [name, build] of steps) {
  const first = pendingDraws.length;
  try {
    build();
  } catch (e) {
    reportFailure(name, e);
  }
  // Chart drawings wait for the page layout; their failures belong to the same section.
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
