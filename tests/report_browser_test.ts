/**
 * The report in a real browser: headless Chromium (Debian package `chromium`) loads the
 * rendered page from file:// and the test checks, over the Chrome DevTools Protocol, that it
 * runs without console errors or exceptions, makes no network request, draws every chart
 * (or a no-data sentence where the data has none), shows hostile strings as text, and that
 * tooltips, legend toggles, table sorting and the JSON download link work.
 *
 * Skipped (with a note) when no Chromium/Chrome binary is installed; CI installs one.
 */

import assert from "node:assert/strict";
import { modelName, type ResultsFile } from "../profiler/results.ts";
import { Browser, findChromium, type Page } from "../report/cdp.ts";
import { CHART_SECTIONS, renderReport } from "../report/mod.ts";

const FIXTURE = new URL("./fixtures/results_sample.json", import.meta.url);
const fixture = (): ResultsFile => JSON.parse(Deno.readTextFileSync(FIXTURE));
const EVIL_PROMPT = fixture().prompts.find((p) => p.text.includes("<img"))!.text;

const chromium = findChromium();
if (chromium === null) {
  console.log(
    "note: report browser test skipped: no chromium binary found (apt-get install -y chromium)",
  );
}

/** Everything the page reported that counts as an error, and every URL it requested. */
interface PageLog {
  errors: string[];
  requests: string[];
}

function watch(browser: Browser, page: Page): PageLog {
  const log: PageLog = { errors: [], requests: [] };
  browser.on((e) => {
    if (e.sessionId !== page.sessionId) return;
    const p = e.params;
    if (e.method === "Runtime.exceptionThrown") {
      log.errors.push(
        `exception: ${p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text}`,
      );
    } else if (
      e.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")
    ) {
      log.errors.push(
        `console.${p.type}: ${
          p.args.map((a: { value?: unknown; description?: string }) => a.value ?? a.description)
            .join(" ")
        }`,
      );
    } else if (e.method === "Log.entryAdded" && p.entry.level === "error") {
      log.errors.push(`log: ${p.entry.text} ${p.entry.url ?? ""}`);
    } else if (e.method === "Network.requestWillBeSent") {
      log.requests.push(p.request.url);
    }
  });
  return log;
}

async function load(page: Page, log: PageLog, path: string): Promise<void> {
  log.errors.length = 0;
  log.requests.length = 0;
  await page.goto(new URL(`file://${path}`).href);
  await page.waitFor("document.documentElement.dataset.ready === 'true'");
  // Let any late errors (e.g. CSP reports) arrive.
  await new Promise((res) => setTimeout(res, 100));
}

interface SectionState {
  id: string;
  svgs: number;
  marks: number;
  noData: string | null;
}

const SECTION_STATE = `[...document.querySelectorAll("section[data-chart]")].map((s) => ({
  id: s.dataset.chart,
  svgs: s.querySelectorAll("svg").length,
  marks: s.querySelectorAll("svg circle.mark, svg rect.mark, svg .series path").length,
  noData: s.querySelector(".no-data")?.textContent ?? null,
}))`;

async function sections(page: Page): Promise<Map<string, SectionState>> {
  const list = await page.evaluate(SECTION_STATE) as SectionState[];
  return new Map(list.map((s) => [s.id, s]));
}

function assertClean(log: PageLog): void {
  assert.deepEqual(log.errors, [], "no console errors or exceptions");
  const external = log.requests.filter((u) => !/^(file|data|blob|about):/.test(u));
  assert.deepEqual(external, [], "no network requests");
}

function assertCharts(state: Map<string, SectionState>, noDataIds: string[]): void {
  assert.deepEqual([...state.keys()].sort(), CHART_SECTIONS.map((s) => s.id).sort());
  for (const [id, s] of state) {
    if (noDataIds.includes(id)) {
      assert.ok(s.noData && s.noData.length > 10, `${id}: expected a no-data sentence`);
      assert.equal(s.svgs, 0, `${id}: no empty chart frame`);
    } else {
      assert.equal(s.noData, null, `${id}: unexpected no-data sentence`);
      assert.ok(
        s.svgs > 0 && s.marks > 0,
        `${id}: expected an SVG with marks, got ${JSON.stringify(s)}`,
      );
    }
  }
}

/** Fixture without int8, sink caches, kernels or memory series. */
function sparseResults(): ResultsFile {
  const r = fixture();
  r.configs = r.configs.filter((c) => c.quant === "fp16" && c.cache === "full");
  r.settings.quant = ["fp16"];
  r.settings.cacheSizes = [null];
  r.kernels = [];
  r.memory = [];
  return r;
}

/** A baseline-only sweep: no draft, no speculative configuration, no analytic summary. */
function baselineOnly(): ResultsFile {
  const r = fixture();
  r.models.draft = null;
  r.configs = r.configs.filter((c) => c.mode === "baseline");
  r.settings.kValues = [];
  r.analytic = { summary: [], best: "", alphaNote: "No speculative runs." };
  delete r.predictions;
  return r;
}

/** A results file from before profile predicted first: no predictions, CIs or acceptance. */
function beforePredictions(): ResultsFile {
  const r = fixture();
  delete r.predictions;
  for (const c of r.configs) {
    delete c.predicted;
    delete c.throughputCi;
  }
  return r;
}

Deno.test({
  name: "report in headless Chromium: charts, no errors, text-only data, interactions",
  ignore: chromium === null,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "neox-report-browser-" });
    let browser: Browser | null = null;
    try {
      const pages: Record<string, ResultsFile> = {
        "full.html": fixture(),
        "sparse.html": sparseResults(),
        "baseline.html": baselineOnly(),
        "old.html": beforePredictions(),
      };
      for (const [name, results] of Object.entries(pages)) {
        await Deno.writeTextFile(`${dir}/${name}`, await renderReport(results));
      }
      browser = await Browser.launch(chromium!);
      const page = await browser.newPage(1400, 900);
      const log = watch(browser, page);
      await page.send("Runtime.enable");
      await page.send("Log.enable");
      await page.send("Network.enable");

      await t.step("full fixture: every chart drawn, no errors, no requests", async () => {
        await load(page, log, `${dir}/full.html`);
        assertClean(log);
        assertCharts(await sections(page), []);
        const title = await page.evaluate("document.title");
        // The folder's name, not its path (a shared report hides the sender's file system).
        assert.ok(String(title).includes(modelName(fixture().models.target.path)));
        assert.ok(!String(title).includes("models/"));
        const summary = await page.evaluate(`document.getElementById("summary").textContent`);
        const best = fixture().configs
          .filter((c) => c.measuredSpeedup !== null)
          .sort((a, b) => b.measuredSpeedup! - a.measuredSpeedup!)[0];
        assert.ok(String(summary).includes(best.id), "summary names the best configuration");
        assert.ok(String(summary).includes(fixture().device.description));
        const predictors = fixture().predictions!.summary
          .sort((a, b) => a.speedupMeanAbsPctError! - b.speedupMeanAbsPctError!);
        assert.match(
          String(summary),
          new RegExp(`Best predictor \\(out of sample\\)${predictors[0].model}`),
        );
        // Axis labels with units are present.
        const labels = await page.evaluate(
          `[...document.querySelectorAll(".axis-label")].map((e) => e.textContent).join("|")`,
        );
        for (const unit of ["tokens/s", "ms", "MiB", "×", "count", "tokens"]) {
          assert.ok(String(labels).includes(unit), `an axis label with ${unit}`);
        }
      });

      await t.step("hostile prompt is rendered as text, never as markup", async () => {
        const imgs = await page.evaluate(`document.querySelectorAll("img").length`);
        assert.equal(imgs, 0);
        const shown = await page.evaluate(
          `document.body.textContent.includes(${JSON.stringify(EVIL_PROMPT)})`,
        );
        assert.equal(shown, true, "the prompt text appears verbatim");
        const promptName = fixture().prompts.find((p) => p.text === EVIL_PROMPT)!.name;
        const nameShown = await page.evaluate(
          `document.body.textContent.includes(${JSON.stringify(promptName)})`,
        );
        assert.equal(nameShown, true);
        assert.equal(await page.evaluate(`document.querySelectorAll("b").length`), 0);
      });

      await t.step("tooltip, legend toggle, sortable table, download link", async () => {
        const tip = await page.evaluate(`(() => {
          const c = document.querySelector('section[data-chart="throughput"] circle.mark');
          c.dispatchEvent(new MouseEvent("mouseenter", { clientX: 200, clientY: 300, bubbles: true }));
          const t = document.getElementById("tooltip");
          return { hidden: t.hidden, text: t.textContent };
        })()`);
        assert.equal(tip.hidden, false);
        assert.match(tip.text, /spec-k3-n64-full-fp16-medium.*tok\/s/);

        const counts = await page.evaluate(`(() => {
          const s = document.querySelector('section[data-chart="throughput"]');
          const n = () => s.querySelectorAll("circle.mark").length;
          const button = s.querySelector(".legend button");
          const before = n();
          button.click();
          const hidden = n();
          const pressed = button.getAttribute("aria-pressed");
          button.click();
          return { before, hidden, after: n(), pressed };
        })()`);
        assert.ok(counts.hidden < counts.before, JSON.stringify(counts));
        assert.equal(counts.after, counts.before);
        assert.equal(counts.pressed, "false");

        const sorted = await page.evaluate(`(() => {
          const table = document.querySelector("#configs table");
          const heads = [...table.querySelectorAll("thead th")];
          const col = heads.findIndex((th) => th.textContent === "speedup");
          heads[col].querySelector("button").click();
          const firstDesc = table.tBodies[0].rows[0].cells[0].textContent;
          const sortState = heads[col].getAttribute("aria-sort");
          heads[col].querySelector("button").click();
          const lastAsc = [...table.tBodies[0].rows].filter((r) => r.cells[col].textContent !== "—").pop()
            .cells[0].textContent;
          return { rows: table.tBodies[0].rows.length, firstDesc, sortState, lastAsc };
        })()`);
        const best = fixture().configs
          .filter((c) => c.measuredSpeedup !== null)
          .sort((a, b) => b.measuredSpeedup! - a.measuredSpeedup!)[0];
        assert.equal(sorted.rows, fixture().configs.length);
        assert.equal(sorted.sortState, "descending");
        assert.equal(sorted.firstDesc, best.id);
        assert.equal(sorted.lastAsc, best.id);

        const download = await page.evaluate(`(async () => {
          const a = document.getElementById("download-json");
          const data = await (await fetch(a.href)).json();
          return { href: a.href.slice(0, 5), name: a.download, configs: data.configs.length };
        })()`);
        assert.deepEqual(download, {
          href: "blob:",
          name: "results.json",
          configs: fixture().configs.length,
        });
        assertClean(log);
      });

      await t.step("no int8, no sink cache, no kernels, no memory: no-data sentences", async () => {
        await load(page, log, `${dir}/sparse.html`);
        assertClean(log);
        assertCharts(await sections(page), ["quant", "cache", "kernels", "memory"]);
      });

      await t.step("baseline-only sweep: speculative charts degrade to sentences", async () => {
        await load(page, log, `${dir}/baseline.html`);
        assertClean(log);
        assertCharts(await sections(page), [
          "throughput",
          "prediction",
          "latency",
          "acceptance",
          "agreement",
          "positions",
          "analytic",
          "trees",
        ]);
      });

      await t.step("results without predictions: those sections say so", async () => {
        await load(page, log, `${dir}/old.html`);
        assertClean(log);
        assertCharts(await sections(page), ["prediction", "agreement"]);
        const card = await page.evaluate(`document.getElementById("summary").textContent`);
        assert.match(String(card), /no out-of-sample predictions/);
      });
    } finally {
      if (browser) await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
