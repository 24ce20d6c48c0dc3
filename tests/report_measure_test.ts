/**
 * The report's "Measure on this GPU" section in real headless Chromium: with SwiftShader's
 * WebGPU adapter (timestamp-query, no shader-f16) the page measures synthetic Pythia-70m /
 * Pythia-14m with the bundled engine through `globalThis.neoxspec.measure`, returns a valid
 * results file and draws the chart; without the WebGPU flags it explains how to turn WebGPU on.
 *
 * Skipped (with a note) when no Chromium/Chrome binary is installed.
 */

import assert from "node:assert/strict";
import type { ResultsFile } from "../profiler/results.ts";
import { leviathanTokensPerRound } from "../engine/speculative_math.ts";
import { Browser, findChromium, type Page } from "../report/cdp.ts";
import { renderReport } from "../report/mod.ts";
import { validateResults } from "../report/validate.ts";

const FIXTURE = new URL("./fixtures/results_sample.json", import.meta.url);

const chromium = findChromium();
if (chromium === null) {
  console.log(
    "note: report measure test skipped: no chromium binary found (apt-get install -y chromium)",
  );
}

async function openReport(page: Page, errors: string[], path: string): Promise<void> {
  page.browser.on((e) => {
    if (e.sessionId !== page.sessionId) return;
    if (e.method === "Runtime.exceptionThrown") {
      errors.push(String(e.params.exceptionDetails?.exception?.description ?? "exception"));
    } else if (e.method === "Network.requestWillBeSent") {
      const url = String(e.params.request.url);
      if (!/^(file|data|blob|about):/.test(url)) errors.push(`request: ${url}`);
    }
  });
  await page.send("Runtime.enable");
  await page.send("Network.enable");
  await page.goto(new URL(`file://${path}`).href);
  await page.waitFor("document.documentElement.dataset.ready === 'true'");
}

async function withReport(
  webgpu: boolean,
  fn: (page: Page, errors: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "neox-measure-" });
  let browser: Browser | null = null;
  try {
    const html = await renderReport(JSON.parse(await Deno.readTextFile(FIXTURE)));
    await Deno.writeTextFile(`${dir}/report.html`, html);
    browser = await Browser.launch(chromium!, 30_000, { webgpu });
    const page = await browser.newPage(1400, 900);
    const errors: string[] = [];
    await openReport(page, errors, `${dir}/report.html`);
    await fn(page, errors);
    assert.deepEqual(errors, [], "no exceptions, no network requests");
  } finally {
    await browser?.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "report measures synthetic pythia-70m / pythia-14m on the browser's WebGPU adapter",
  ignore: chromium === null,
  sanitizeResources: false,
  async fn() {
    await withReport(true, async (page) => {
      await page.waitFor(
        `!document.getElementById("measure-here").disabled`,
        30_000,
      );
      const adapter = String(
        await page.evaluate(`document.querySelector(".measure-adapter").textContent`),
      );
      assert.match(adapter, /Adapter: .*timestamp-query/);
      assert.match(adapter, /No shader-f16: weights are f32/);
      const t0 = Date.now();
      const poll = setInterval(() => {
        page.evaluate(`document.getElementById("measure-progress").textContent`).then((p) =>
          console.log(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${p}`)
        ).catch(() => {});
      }, 15000);
      const json = await page.evaluate(`globalThis.neoxspec.measure({
        target: "synthetic:pythia-70m", draft: "synthetic:pythia-14m",
        alpha: 0.8, kValues: [3], maxNewTokens: 16,
      }).then((r) => JSON.stringify(r))`);
      clearInterval(poll);
      const r: ResultsFile = validateResults(String(json), "measured-here.json");
      assert.equal(r.models.target.path, "synthetic:pythia-70m");
      assert.equal(r.models.draft?.path, "synthetic:pythia-14m");
      assert.equal(r.models.target.dtype, "fp32", "no shader-f16: f32 weights");
      assert.equal(r.settings.replay?.alpha, 0.8);
      assert.equal(r.settings.timing, "gpu-timestamps");
      const spec = r.configs.find((c) => c.k === 3)!;
      const base = r.configs.find((c) => c.mode === "baseline")!;
      console.log(
        `measured: ${base.throughputTokS.mean.toFixed(2)} -> ${
          spec.throughputTokS.mean.toFixed(2)
        } tok/s, c ${spec.c?.toFixed(3)}, T_verify/T_target ${
          (spec.tVerifyMs! / spec.tTargetMs!).toFixed(2)
        }, speedup ${spec.measuredSpeedup?.toFixed(2)}`,
      );
      for (const t of [spec.tDraftMs, spec.tTargetMs, spec.tVerifyMs, base.tTargetMs]) {
        assert.ok(t !== null && t > 0, `positive pass time, got ${t}`);
      }
      assert.ok(Number.isFinite(spec.measuredSpeedup) && spec.measuredSpeedup! > 0);
      assert.ok(spec.throughputTokS.mean > 0 && base.throughputTokS.mean > 0);
      // 16 tokens take few rounds, so tau is a small sample of the replay: within 1.5 of E[tau].
      const tau = spec.meanTokensPerRound!;
      assert.ok(tau >= 1 && tau <= 4, `tau in [1, K + 1], got ${tau}`);
      assert.ok(Math.abs(tau - leviathanTokensPerRound(0.8, 3)) < 1.5, `tau ${tau} near E[tau]`);
      const accepted = spec.draftAcceptanceRate!;
      assert.ok(Math.abs(tau - (1 + 3 * accepted)) < 1, "tau consistent with the acceptance rate");
      const chart = await page.evaluate(`(() => {
        const s = document.querySelector('section[data-section="measure"]');
        return {
          svgs: s.querySelectorAll("svg").length,
          marks: s.querySelectorAll("svg circle.mark, svg .series path").length,
          rows: s.querySelectorAll(".measure-table tbody tr").length,
          progress: document.getElementById("measure-progress").textContent,
          download: document.getElementById("measure-download")?.href ?? "",
        };
      })()`);
      assert.equal(chart.svgs, 1);
      assert.ok(chart.marks > 0, `svg marks, got ${JSON.stringify(chart)}`);
      assert.equal(chart.rows, 2, "baseline and K = 3");
      assert.match(chart.progress, /GPU timestamps/);
      assert.match(chart.download, /^blob:/);
      // Bad options get a sentence, not a hung page.
      const bad = await page.evaluate(`globalThis.neoxspec.measure({
        target: "synthetic:pythia-9b", draft: "synthetic:pythia-14m",
        alpha: 0.8, kValues: [3], maxNewTokens: 16,
      }).then(() => "resolved", (e) => e.message)`);
      assert.match(String(bad), /not a synthetic model/);
    });
  },
});

Deno.test({
  name: "report without WebGPU says how to enable it",
  ignore: chromium === null,
  sanitizeResources: false,
  async fn() {
    await withReport(false, async (page) => {
      const text = String(
        await page.evaluate(
          `document.querySelector('section[data-section="measure"]').textContent`,
        ),
      );
      // Headless Chromium without the flags may expose navigator.gpu yet offer no adapter.
      if (text.includes("navigator.gpu is missing")) {
        for (const browser of ["Chrome", "Edge", "Firefox", "Safari"]) {
          assert.ok(text.includes(browser), `names ${browser}`);
        }
      } else {
        await page.waitFor(
          `document.querySelector(".measure-adapter").textContent.includes("no adapter")`,
          15_000,
        );
        const line = String(
          await page.evaluate(
            `document.querySelector('section[data-section="measure"]').textContent`,
          ),
        );
        for (const browser of ["Chrome", "Edge", "Firefox", "Safari"]) {
          assert.ok(line.includes(browser), `names ${browser}: ${line}`);
        }
      }
      const rejected = await page.evaluate(
        `globalThis.neoxspec.measure({}).then(() => "resolved", (e) => e.message)`,
      );
      assert.notEqual(rejected, "resolved");
    });
  },
});
