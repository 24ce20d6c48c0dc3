/**
 * Full-page PNG of a rendered report, taken with headless Chromium over CDP:
 *
 *   deno run -A report/screenshot.ts report.html out.png [--width 1400]
 *
 * Prints console errors and exceptions of the page to stderr and exits 1 if there were any.
 */

import { parseArgs } from "node:util";
import { NeoxError } from "../engine/errors.ts";
import { writeFileAtomic } from "../engine/output.ts";
import { Browser, findChromium } from "./cdp.ts";

/** Loads `htmlPath` in headless Chromium and writes a full-page PNG; returns page errors. */
export async function screenshotReport(
  htmlPath: string,
  pngPath: string,
  width = 1400,
): Promise<string[]> {
  const binary = findChromium();
  if (binary === null) {
    throw new NeoxError("chromium: no Chromium or Chrome binary found (apt-get install chromium)");
  }
  const absolute = await Deno.realPath(htmlPath).catch(() => {
    throw new NeoxError(`${htmlPath}: no such file`);
  });
  const browser = await Browser.launch(binary);
  const errors: string[] = [];
  try {
    const page = await browser.newPage(width, 900);
    browser.on((e) => {
      if (e.sessionId !== page.sessionId) return;
      if (e.method === "Runtime.exceptionThrown") {
        errors.push(
          e.params.exceptionDetails?.exception?.description ?? e.params.exceptionDetails?.text,
        );
      } else if (e.method === "Runtime.consoleAPICalled" && e.params.type === "error") {
        errors.push(
          e.params.args.map((a: { value?: unknown; description?: string }) =>
            a.value ?? a.description
          ).join(" "),
        );
      } else if (e.method === "Log.entryAdded" && e.params.entry.level === "error") {
        errors.push(e.params.entry.text);
      }
    });
    await page.send("Runtime.enable");
    await page.send("Log.enable");
    await page.goto(new URL(`file://${absolute}`).href);
    await page.waitFor("document.documentElement.dataset.ready === 'true'");
    const png = await page.screenshot();
    await writeFileAtomic(pngPath, png);
  } finally {
    await browser.close();
  }
  return errors;
}

if (import.meta.main) {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { width: { type: "string", default: "1400" } },
  });
  if (positionals.length !== 2) {
    console.error("usage: deno run -A report/screenshot.ts report.html out.png [--width 1400]");
    Deno.exit(2);
  }
  try {
    const errors = await screenshotReport(positionals[0], positionals[1], Number(values.width));
    for (const e of errors) console.error(`page error: ${e}`);
    console.log(`wrote ${positionals[1]}`);
    if (errors.length > 0) Deno.exit(1);
  } catch (e) {
    if (e instanceof NeoxError) {
      console.error(`error: ${e.message}`);
      Deno.exit(e.exitCode);
    }
    throw e;
  }
}
