/**
 * Report rendering without a browser: the HTML is self-contained, the embedded data is
 * escaped and round-trips, the results validator refuses bad files with one-line
 * NeoxErrors, and writeReport is atomic.
 */

import assert from "node:assert/strict";
import { NeoxError } from "../engine/errors.ts";
import type { ResultsFile } from "../profiler/results.ts";
import {
  CHART_SECTIONS,
  embedJson,
  renderReport,
  shareableResults,
  validateResults,
  writeReport,
} from "../report/mod.ts";

const FIXTURE = new URL("./fixtures/results_sample.json", import.meta.url);
const fixtureText = await Deno.readTextFile(FIXTURE);
const fixture = (): ResultsFile => JSON.parse(fixtureText);

const EVIL = "</script><img src=x onerror=alert(1)>";

/** The fixture with hostile strings in every kind of text field the page shows. */
function hostileResults(): ResultsFile {
  const r = fixture();
  r.prompts[0].text = `hello ${EVIL} <!-- x --> \u2028 end`;
  r.prompts[0].name = `<b>${EVIL}</b>`;
  r.models.target.path = `models/${EVIL}`;
  r.device.description = `GPU <script>alert(2)</script>`;
  r.configs[1].id = `spec-${EVIL}`;
  r.kernels[0].name = `<svg onload=alert(3)>`;
  r.analytic.alphaNote = `note ${EVIL}`;
  return r;
}

function extractDataJson(html: string): string {
  const m = html.match(
    /<script type="application\/json" id="results-data">([\s\S]*?)<\/script>/,
  );
  assert.ok(m, "results-data script element present");
  return m[1];
}

function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
}

Deno.test({
  name: "report: rendered page is one self-contained file with inline script and CSS",
  async fn() {
    const html = await renderReport(fixture());
    assert.ok(html.startsWith("<!doctype html>"));
    // No URL-bearing attribute points outside the file.
    const attrs = [
      ...html.matchAll(/\b(src|href|action|poster|srcset)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi),
    ];
    for (const [, name, raw] of attrs) {
      const value = raw.replace(/^["']|["']$/g, "").trim().toLowerCase();
      assert.ok(
        !/^(https?:|\/\/|ftp:|ws:|wss:)/.test(value),
        `external ${name}=${value} in the report`,
      );
    }
    assert.ok(!/<script[^>]*\bsrc\s*=/i.test(html), "no external script");
    assert.ok(!/<link[^>]*rel=["']?stylesheet/i.test(html), "no external stylesheet");
    assert.ok(!/@import|url\(\s*["']?https?:/i.test(html), "no CSS imports of URLs");
    assert.ok(/<style>[\s\S]+<\/style>/.test(html), "inline CSS");
    const scripts = inlineScripts(html);
    assert.equal(scripts.length, 1, "one inline script");
    assert.ok(scripts[0].length > 10_000, "the d3 bundle is inlined");
    assert.ok(!/\bimport\s*\(|\brequire\(/.test(scripts[0]), "bundle loads nothing at run time");
    // Exactly the two script elements: the data and the bundle.
    assert.equal(html.match(/<\/script>/gi)?.length, 2);
    // Every chart section is in the skeleton.
    for (const { id } of CHART_SECTIONS) assert.ok(html.includes(`data-chart="${id}"`), id);
    assert.ok(html.includes('id="download-json"'));
  },
});

Deno.test({
  name: "report: CSP allows only the inline bundle (by hash) and no network",
  async fn() {
    const html = await renderReport(fixture());
    const csp = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)?.[1];
    assert.ok(csp, "CSP meta tag present");
    assert.ok(csp.includes("default-src 'none'"));
    const script = inlineScripts(html)[0];
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script));
    const b64 = btoa(String.fromCharCode(...new Uint8Array(digest)));
    assert.ok(csp.includes(`script-src 'sha256-${b64}'`), "CSP hash matches the inline script");
    assert.ok(!csp.includes("unsafe-inline'; script") && !/script-src[^;]*unsafe/.test(csp));
  },
});

Deno.test({
  name: "report: embedded data is escaped and round-trips exactly",
  async fn() {
    const results = hostileResults();
    const html = await renderReport(results);
    assert.ok(!html.includes(EVIL), "hostile prompt does not appear raw");
    assert.ok(!html.includes("<img"), "no img tag anywhere");
    assert.ok(!html.includes("<svg onload"), "no injected svg");
    assert.ok(!html.includes("<script>alert"), "no injected script");
    assert.ok(!html.includes("<!-- x"), "no comment opener from the data");
    assert.ok(!html.includes("\u2028"), "line separators escaped");
    const raw = extractDataJson(html);
    assert.ok(!/[<>&]/.test(raw), "no < > & left in the data JSON");
    // Exactly the results, but for model paths cut to folder names (see the next test).
    assert.deepEqual(JSON.parse(raw), shareableResults(results));
    assert.equal(html.match(/<\/script>/gi)?.length, 2, "data cannot close its element");
    assert.equal(
      embedJson({ a: "</script>&<!--" }),
      '{"a":"\\u003c/script\\u003e\\u0026\\u003c!--"}',
    );
  },
});

Deno.test({
  name: "report: names models by folder, never by the sender's absolute path",
  async fn() {
    const results = fixture();
    results.models.target.path = "/home/qsender/qckpts/pythia-2.8b-deduped/";
    results.models.draft!.path = "C:\\Users\\qpeer\\models\\pythia-70m-deduped";
    results.settings.replay = { trace: "/home/qsender/qtraces/accept.jsonl" };
    // A calibrated device profile from before calibrate recorded names.
    results.simulator = {
      device: {
        models: { target: "/home/qsender/qckpts/pythia-2.8b-deduped", draft: "synthetic:x" },
        simulatorValidation: [{ key: "target-fp16", shape: "/home/qsender/qckpts/t" }],
      },
      rows: [],
      meanAbsPctError: 0,
    };
    const html = await renderReport(results);
    for (const part of ["/home/", "qsender", "qckpts", "Users", "qpeer", "qtraces"]) {
      assert.ok(!html.includes(part), `"${part}" of a local path is in the report`);
    }
    const shared = JSON.parse(extractDataJson(html)) as ResultsFile;
    assert.equal(shared.models.target.path, "pythia-2.8b-deduped");
    assert.equal(shared.models.draft?.path, "pythia-70m-deduped");
    assert.equal(shared.settings.replay?.trace, "accept.jsonl");
    assert.deepEqual(shared.simulator?.device.models, {
      target: "pythia-2.8b-deduped",
      draft: "synthetic:x",
    });
    // Parameters and everything else are kept; the caller's results are not modified.
    assert.equal(shared.models.target.params, results.models.target.params);
    assert.deepEqual(shared.configs, results.configs);
    assert.equal(results.models.target.path, "/home/qsender/qckpts/pythia-2.8b-deduped/");
    // Synthetic models and relative folders keep their names.
    const synthetic = fixture();
    synthetic.models.target.path = "synthetic:pythia-2.8b";
    assert.equal(shareableResults(synthetic).models.target.path, "synthetic:pythia-2.8b");
    assert.equal(shareableResults(fixture()).models.draft?.path, "pythia-70m-deduped");
  },
});

Deno.test("report: validateResults accepts the fixture and raw JSON text", () => {
  const parsed = validateResults(fixture(), "results_sample.json");
  assert.equal(parsed.configs.length, 62);
  const fromText = validateResults(fixtureText, "results_sample.json");
  assert.deepEqual(fromText, fixture());
});

function assertRefused(json: unknown, pattern: RegExp): void {
  assert.throws(
    () => validateResults(json, "out/results.json"),
    (e: unknown) => {
      assert.ok(e instanceof NeoxError, `NeoxError expected, got ${e}`);
      assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
      assert.ok(e.message.startsWith("out/results.json: "), `names the file: ${e.message}`);
      assert.match(e.message, pattern);
      assert.equal(e.exitCode, 1);
      return true;
    },
  );
}

Deno.test("report: validateResults refuses malformed JSON and a wrong schema", () => {
  assertRefused('{"schema": "neox-spec/results@1",\n  oops', /not valid JSON/);
  assertRefused("", /not valid JSON/);
  assertRefused([1, 2], /expected a JSON object/);
  assertRefused(null, /expected a JSON object/);
  assertRefused(
    { ...fixture(), schema: "neox-spec/results@0" },
    /schema is "neox-spec\/results@0", expected "neox-spec\/results@1"/,
  );
  const noSchema = fixture() as Partial<ResultsFile>;
  delete noSchema.schema;
  assertRefused(noSchema, /schema is nothing/);
});

Deno.test("report: validateResults names the missing or mistyped field", () => {
  const missing = fixture();
  delete (missing.configs[3] as Partial<ResultsFile["configs"][number]>).ttftMs;
  assertRefused(missing, /configs\[3\]\.ttftMs is missing/);

  const wrongType = fixture();
  (wrongType.configs[2].throughputTokS as unknown as Record<string, unknown>).mean = "fast";
  assertRefused(
    wrongType,
    /configs\[2\]\.throughputTokS\.mean must be a finite number, got "fast"/,
  );

  const badEnum = fixture();
  (badEnum.configs[0] as unknown as Record<string, unknown>).cache = "paged";
  assertRefused(badEnum, /configs\[0\]\.cache must be one of "full", "sink"/);

  const noK = fixture();
  noK.configs[1].k = null;
  assertRefused(noK, /configs\[1\]\.k must be an integer >= 1 for a speculative run/);

  const undefinedNullable = fixture();
  delete (undefinedNullable.configs[0] as Partial<ResultsFile["configs"][number]>).accounting;
  assertRefused(undefinedNullable, /configs\[0\]\.accounting is missing \(use null/);

  const dup = fixture();
  dup.configs[5].id = dup.configs[4].id;
  assertRefused(dup, /configs\[5\]\.id repeats the id .* of configs\[4\]/);

  const noDevice = fixture() as Partial<ResultsFile>;
  delete noDevice.device;
  assertRefused(noDevice, /device is missing/);

  const badKernel = fixture();
  (badKernel.kernels[0] as unknown as Record<string, unknown>).ms = null;
  assertRefused(badKernel, /kernels\[0\]\.ms must be a finite number, got null/);

  const badMemory = fixture();
  (badMemory.memory[1].points[2] as unknown as Record<string, unknown>).kvBytes = "1 MB";
  assertRefused(badMemory, /memory\[1\]\.points\[2\]\.kvBytes/);

  const badTool = fixture();
  (badTool.tool as unknown as Record<string, unknown>).name = "other-tool";
  assertRefused(badTool, /tool\.name must be one of "neox-spec"/);

  const newlineKey = fixture();
  (newlineKey.prompts[0] as unknown as Record<string, unknown>).text = 42;
  assertRefused(newlineKey, /prompts\[0\]\.text must be a string, got 42/);
});

Deno.test({
  name: "report: writeReport writes atomically and leaves no file on failure",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "neox-report-test-" });
    try {
      const good = `${dir}/results.json`;
      await Deno.writeTextFile(good, fixtureText);
      const html = `${dir}/report.html`;
      await writeReport(good, html);
      const page = await Deno.readTextFile(html);
      assert.ok(page.startsWith("<!doctype html>") && page.trimEnd().endsWith("</html>"));
      assert.deepEqual(JSON.parse(extractDataJson(page)), shareableResults(fixture()));
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "report.html",
        "results.json",
      ]);

      // Malformed input: nothing written, an existing report is left as it was.
      const bad = `${dir}/bad.json`;
      await Deno.writeTextFile(bad, fixtureText.slice(0, 500));
      const fresh = `${dir}/fresh.html`;
      await assert.rejects(writeReport(bad, fresh), (e: unknown) => {
        assert.ok(e instanceof NeoxError);
        assert.match(e.message, /bad\.json: not valid JSON/);
        return true;
      });
      await assert.rejects(writeReport(bad, html), NeoxError);
      assert.equal(await Deno.readTextFile(html), page, "old report untouched");

      // Schema error: same.
      const wrong = `${dir}/wrong.json`;
      await Deno.writeTextFile(wrong, JSON.stringify({ ...fixture(), schema: "x" }));
      await assert.rejects(writeReport(wrong, fresh), /wrong\.json: not a neox-spec results file/);

      // Missing input file.
      await assert.rejects(writeReport(`${dir}/nope.json`, fresh), (e: unknown) => {
        assert.ok(e instanceof NeoxError);
        assert.match(e.message, /nope\.json: cannot read the results file: no such file/);
        return true;
      });

      // Unwritable destination (folder missing): NeoxError naming it, no temporary left.
      const nowhere = `${dir}/missing-dir/report.html`;
      await assert.rejects(writeReport(good, nowhere), (e: unknown) => {
        assert.ok(e instanceof NeoxError);
        assert.ok(e.message.startsWith(`${nowhere}: cannot write the report`), e.message);
        return true;
      });

      // Destination is a directory: the rename fails after the temporary was written;
      // the temporary must be cleaned up.
      const asDir = `${dir}/taken.html`;
      await Deno.mkdir(asDir);
      await assert.rejects(writeReport(good, asDir), NeoxError);

      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names, [
        "bad.json",
        "report.html",
        "results.json",
        "taken.html",
        "wrong.json",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
