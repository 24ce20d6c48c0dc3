/**
 * Results JSON -> one self-contained HTML file.
 *
 * The page is a static skeleton (no data in it; one `<section>` per entry of SECTIONS in
 * report/sections.ts), the results embedded as JSON in a
 * `<script type="application/json">` block with `<`, `>`, `&` escaped, inline CSS, and an
 * inline script: report/client.ts and the d3-* packages it imports, bundled by esbuild when
 * the report is rendered. The client draws every chart and inserts every string from the
 * results as text (textContent / d3 .text()), never as HTML. A Content-Security-Policy allows
 * only that one script (by hash) and no network at all.
 */

import { NeoxError } from "../engine/errors.ts";
import { type ModelInfo, modelName, type ResultsFile } from "../profiler/results.ts";
import { validateResults } from "./validate.ts";
import { REPORT_CSS } from "./style.ts";
import { SECTIONS, sectionSkeleton } from "./sections.ts";

const CLIENT_ENTRY = new URL("./client.ts", import.meta.url);

let bundlePromise: Promise<string> | null = null;

/**
 * Bundles report/client.ts with the d3-* packages (from the project's node_modules) into
 * one minified IIFE. Done once per process; esbuild's service is stopped afterwards so a
 * Deno process that rendered a report can exit.
 */
export function bundleClient(): Promise<string> {
  if (bundlePromise === null) {
    bundlePromise = buildBundle();
    bundlePromise.catch(() => bundlePromise = null);
  }
  return bundlePromise;
}

async function buildBundle(): Promise<string> {
  if (CLIENT_ENTRY.protocol !== "file:") {
    throw new NeoxError(
      `report/client.ts: cannot bundle from ${CLIENT_ENTRY.protocol} (needs a local checkout)`,
    );
  }
  const entry = decodeURIComponent(CLIENT_ENTRY.pathname);
  // Loaded on demand so that other subcommands never load esbuild.
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (e) {
    throw new NeoxError(
      `report/render.ts: cannot load esbuild (npm:esbuild, run \`deno install\`): ${
        String((e as Error).message ?? e).split("\n")[0]
      }`,
    );
  }
  try {
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: "iife",
      minify: true,
      platform: "browser",
      target: "es2020",
      legalComments: "none",
      charset: "ascii",
      logLevel: "silent",
    });
    const js = result.outputFiles?.[0]?.text;
    if (!js) throw new Error("esbuild produced no output");
    // Inside an inline <script>, "</script" and "<!--" would end or confuse the element.
    return js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new NeoxError(
      `report/client.ts: bundling the report script failed: ${message.split("\n")[0]}`,
    );
  } finally {
    await esbuild.stop();
  }
}

/**
 * JSON for a `<script type="application/json">` element: `<`, `>`, `&` and the JS line
 * separators are escaped as \u sequences, so no string in the data can close the element
 * or open a comment; JSON.parse of the element's text gives back the same value.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  let binary = "";
  for (const byte of new Uint8Array(digest)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * The results as a report shares them: each model named by its folder (and a replayed
 * trace by its file name), not by the path on the machine that ran the sweep.
 */
export function shareableResults(results: ResultsFile): ResultsFile {
  const named = (m: ModelInfo): ModelInfo => ({ ...m, path: modelName(m.path) });
  const replay = results.settings.replay;
  return {
    ...results,
    models: {
      target: named(results.models.target),
      draft: results.models.draft === null ? null : named(results.models.draft),
    },
    settings: replay?.trace === undefined
      ? results.settings
      : { ...results.settings, replay: { ...replay, trace: modelName(replay.trace) } },
    ...(results.simulator ? { simulator: shareableSimulator(results.simulator) } : {}),
  };
}

/**
 * The simulator check's device profile without local paths: the calibrated models and the
 * shapes of its left-out check by folder name (files written before calibrate recorded names).
 */
function shareableSimulator(
  sim: NonNullable<ResultsFile["simulator"]>,
): NonNullable<ResultsFile["simulator"]> {
  const device = { ...sim.device };
  const models = device.models as Record<string, unknown> | undefined;
  if (models && typeof models === "object") {
    device.models = Object.fromEntries(
      Object.entries(models).map(([k, v]) => [k, typeof v === "string" ? modelName(v) : v]),
    );
  }
  if (Array.isArray(device.simulatorValidation)) {
    device.simulatorValidation = device.simulatorValidation.map((v: Record<string, unknown>) =>
      typeof v?.shape === "string" ? { ...v, shape: modelName(v.shape) } : v
    );
  }
  return { ...sim, device };
}

/**
 * Renders a results file as one self-contained HTML page (no external URL anywhere). The
 * page embeds {@link shareableResults}: no local path of the sender's appears in it.
 */
export async function renderReport(results: ResultsFile): Promise<string> {
  const script = await bundleClient();
  const scriptHash = await sha256Base64(script);
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${scriptHash}'`,
    "style-src 'unsafe-inline'",
    "img-src data: blob:",
    "connect-src blob:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const sections = SECTIONS.map(sectionSkeleton).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="generator" content="neox-spec report">
<title>neox-spec report</title>
<link rel="icon" href="data:,">
<style>
${REPORT_CSS}
</style>
</head>
<body>
<header class="page-header">
<div class="title-row"><h1>neox-spec: speculative decoding report</h1>
<a id="download-json" class="button" download="results.json">Download results JSON</a></div>
<div id="summary" class="summary"></div>
</header>
<noscript><p class="no-data">This report draws its charts with JavaScript; enable it to see them.</p></noscript>
<main class="grid">
${sections}
</main>
<footer class="page-footer"><span id="footer-text"></span></footer>
<div id="tooltip" role="tooltip" hidden></div>
<script type="application/json" id="results-data">${embedJson(shareableResults(results))}</script>
<script>${script}</script>
</body>
</html>
`;
}

/**
 * Reads a results file, checks it, renders it and writes the HTML atomically: the page is
 * written to `${htmlPath}.tmp` and renamed over `htmlPath`, so a failure leaves no partial
 * (or stale temporary) file. Throws a one-line {@link NeoxError} naming the file at fault.
 */
export async function writeReport(resultsPath: string, htmlPath: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(resultsPath);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new NeoxError(`${resultsPath}: cannot read the results file: ${why.split("\n")[0]}`);
  }
  const results = validateResults(text, resultsPath);
  const html = await renderReport(results);
  const tmpPath = `${htmlPath}.tmp`;
  try {
    await Deno.writeTextFile(tmpPath, html);
    await Deno.rename(tmpPath, htmlPath);
  } catch (e) {
    await Deno.remove(tmpPath).catch(() => {});
    const why = e instanceof Error ? e.message : String(e);
    throw new NeoxError(`${htmlPath}: cannot write the report: ${why.split("\n")[0]}`);
  }
}
