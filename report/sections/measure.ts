/// <reference lib="dom" />
/**
 * Section "measure": the reader measures a synthetic pair on their own GPU with the same WGSL
 * engine (bundled into the page), and the results appear beside the report's device: measured
 * speedup per K, the cost-aware prediction from the costs just measured, tokens/s and pass
 * times. Also defines `globalThis.neoxspec.measure(options)`, the same entry point for tests.
 */

import { format } from "d3-format";
import { getGpu } from "../../engine/device.ts";
import { leviathanTokensPerRound } from "../../engine/speculative_math.ts";
import {
  MAX_NEW_TOKENS,
  measureHere,
  type MeasureOptions,
  SYNTHETIC_NAMES,
  whyNotFits,
} from "../../profiler/measure_here.ts";
import type { ResultsFile } from "../../profiler/results.ts";
import { color, el, pendingDraws, xyPanel, type XYSeries } from "../charts.ts";
import { f1, f2, fmt2, fmtX } from "../format.ts";
import { type Cfg, type ReportView, type SectionHost } from "../view.ts";

/** How to turn WebGPU on, per browser (the page has no `navigator.gpu`). */
export const ENABLE_WEBGPU = [
  "This browser exposes no WebGPU (navigator.gpu is missing), so nothing can be measured here.",
  "Chrome and Edge: WebGPU is on by default from version 113 on Windows, macOS and ChromeOS " +
  "(Linux: enable chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan, or " +
  "edge://flags/... in Edge); it needs a secure context, and file:// pages count as one.",
  "Firefox: on by default from version 141 on Windows; elsewhere set dom.webgpu.enabled to " +
  "true in about:config (Nightly has it on).",
  "Safari: on by default from Safari 26; in older versions turn on Develop > Feature Flags > " +
  "WebGPU.",
];

interface Pair {
  target: string;
  draft: string;
}

/** The acceptance to replay by default: what the report measured, and where it came from. */
function defaultAlpha(v: ReportView): { alpha: number; from: string } {
  const positions = v.specs.flatMap((c) => c.perPositionAcceptance ?? []);
  if (positions.length > 0) {
    return {
      alpha: positions.reduce((a, b) => a + b, 0) / positions.length,
      from: "the report's mean per-position acceptance",
    };
  }
  const rates = v.specs.map((c) => c.draftAcceptanceRate).filter((a): a is number => a !== null);
  if (rates.length > 0) {
    return {
      alpha: rates.reduce((a, b) => a + b, 0) / rates.length,
      from: "the report's mean draft acceptance rate",
    };
  }
  return { alpha: 0.8, from: "a default (the report has no speculative runs)" };
}

/** Cost-aware prediction: E[tau](alpha, K) * T_target / (K T_draft + T_verify). */
function costAware(c: Cfg, alpha: number): number | null {
  if (c.k === null || !c.tDraftMs || !c.tTargetMs || !c.tVerifyMs) return null;
  return leviathanTokensPerRound(alpha, c.k) * c.tTargetMs / (c.k * c.tDraftMs + c.tVerifyMs);
}

function field(label: string, input: HTMLElement): HTMLElement {
  const box = el("label", "measure-field");
  box.append(el("span", undefined, label), input);
  return box;
}

function select(id: string, options: string[], value: string): HTMLSelectElement {
  const s = el("select");
  s.id = id;
  for (const o of options) {
    const opt = el("option", undefined, o.replace(/^synthetic:/, ""));
    opt.value = o;
    s.append(opt);
  }
  s.value = value;
  return s;
}

function input(id: string, value: string, width = 6): HTMLInputElement {
  const i = el("input");
  i.id = id;
  i.value = value;
  i.size = width;
  return i;
}

/** Draws charts queued after the page's first drawing (client.ts ran the queue at load). */
function flushDraws(first: number): void {
  for (const draw of pendingDraws.splice(first)) draw();
}

export function drawMeasure({ body, caption }: SectionHost, v: ReportView): void {
  caption.textContent = "Runs a synthetic Pythia pair on this computer's GPU with the same WGSL " +
    "kernels (bundled into this page; nothing is downloaded). Accept decisions are replayed " +
    "from the acceptance below, so the draft and verify passes are real and the speedup is " +
    "what this GPU would give at that acceptance.";
  const global = globalThis as unknown as { neoxspec?: Record<string, unknown> };
  const api = global.neoxspec ??= {};
  const gpuApi = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpuApi) {
    for (const line of ENABLE_WEBGPU) body.append(el("p", "no-data measure-help", line));
    api.measure = () => Promise.reject(new Error(ENABLE_WEBGPU[0]));
    return;
  }

  const adapterLine = el("p", "measure-adapter", "Looking for a WebGPU adapter…");
  const { alpha, from } = defaultAlpha(v);
  const target = select("measure-target", SYNTHETIC_NAMES, "synthetic:pythia-70m");
  const draft = select("measure-draft", SYNTHETIC_NAMES, "synthetic:pythia-14m");
  const kInput = input("measure-k", (v.kTicks.length ? v.kTicks : [3, 5]).join(","), 10);
  const nInput = input("measure-n", "32", 5);
  nInput.title = `2 to ${MAX_NEW_TOKENS}`;
  const alphaInput = input("measure-alpha", alpha.toFixed(2), 5);
  const button = el("button", "button", "Measure on this GPU");
  button.id = "measure-here";
  button.type = "button";
  button.disabled = true;
  const progress = el("p", "measure-progress", "");
  progress.id = "measure-progress";
  progress.setAttribute("aria-live", "polite");
  const controls = el("div", "measure-controls");
  controls.append(
    field("target", target),
    field("draft", draft),
    field("K values", kInput),
    field("new tokens", nInput),
    field(`alpha (default: ${from})`, alphaInput),
    button,
  );
  const results = el("div", "measure-results");
  body.append(adapterLine, controls, progress, results);

  const runs: ResultsFile[] = [];
  let queue: Promise<unknown> = Promise.resolve();
  const measure = (o: MeasureOptions): Promise<ResultsFile> => {
    const run = queue.then(async () => {
      button.disabled = true;
      try {
        const gpu = await getGpu();
        const r = await measureHere(
          gpu,
          { ...o, timestampsInNs: true },
          (line) => progress.textContent = `${line}…`,
        );
        runs.push(r);
        const timing = r.settings.timing === "wall-clock"
          ? "wall time over many passes per submit (this adapter has no timestamp-query)"
          : "GPU timestamps around every pass";
        progress.textContent = `Done: ${o.target} / ${o.draft}, alpha ${o.alpha}, ` +
          `${o.maxNewTokens} tokens; pass times from ${timing}.`;
        drawResults(results, v, runs);
        return r;
      } catch (e) {
        progress.textContent = `Not measured: ${(e as Error)?.message ?? String(e)}`;
        throw e;
      } finally {
        button.disabled = false;
      }
    });
    queue = run.catch(() => {});
    return run;
  };
  api.measure = measure;

  button.addEventListener("click", () => {
    const o: MeasureOptions = {
      target: target.value,
      draft: draft.value,
      alpha: Number(alphaInput.value),
      kValues: kInput.value.split(/[\s,]+/).filter((s) => s).map(Number),
      maxNewTokens: Number(nInput.value),
    };
    measure(o).catch(() => {/* the progress line says why */});
  });

  gpuApi.requestAdapter({ powerPreference: "high-performance" }).then((adapter) => {
    if (!adapter) {
      adapterLine.textContent = "WebGPU is present but offers no adapter on this computer " +
        "(no supported GPU or driver), so nothing can be measured here.";
      for (const line of ENABLE_WEBGPU.slice(1)) adapterLine.after(el("p", "no-data", line));
      controls.hidden = true;
      api.measure = () => Promise.reject(new Error(adapterLine.textContent!));
      return;
    }
    const info = adapter.info;
    const name = [info.vendor, info.architecture, info.description || info.device]
      .filter((s) => s).join(" ") || "unnamed adapter";
    const features = [...adapter.features].map(String).sort();
    adapterLine.textContent = `Adapter: ${name}. Features: ${features.join(", ") || "none"}. ` +
      (features.includes("shader-f16")
        ? "Weights stay f16. "
        : "No shader-f16: weights are f32 (twice the memory and bandwidth). ") +
      (features.includes("timestamp-query")
        ? "Pass times from GPU timestamps."
        : "No timestamp-query: pass times from wall time over many passes per submit.");
    const limits = {
      maxBindingBytes: Math.min(
        adapter.limits.maxStorageBufferBindingSize,
        adapter.limits.maxBufferSize,
      ),
      hasF16: features.includes("shader-f16"),
    };
    const unfit = SYNTHETIC_NAMES.filter((n) => whyNotFits(n, limits) !== null);
    for (const s of [target, draft]) {
      for (const opt of s.options) opt.disabled = unfit.includes(opt.value);
    }
    if (unfit.length > 0) {
      adapterLine.textContent += ` ${whyNotFits(unfit[unfit.length - 1], limits)}`;
    }
    button.disabled = false;
  }).catch((e) => {
    adapterLine.textContent = `WebGPU failed to give an adapter: ${String(e?.message ?? e)}`;
  });
}

/** Speedup per K of the report's device and of every measurement here, and their table. */
function drawResults(host: HTMLElement, v: ReportView, runs: ResultsFile[]): void {
  host.replaceChildren();
  const first = pendingDraws.length;
  const series: XYSeries[] = [];
  const slice = v.refSlice;
  const own = v.specs.filter((c) =>
    c.measuredSpeedup != null && (!slice || (c.cache === slice.cache && c.quant === slice.quant))
  );
  if (own.length > 0) {
    const n = Math.max(...own.map((c) => c.maxNewTokens));
    series.push({
      key: "report",
      label: `report: ${v.data.device.description} (N = ${n})`,
      color: "#6b7280",
      points: own.filter((c) => c.maxNewTokens === n && c.promptType === own[0].promptType)
        .map((c) => ({
          x: c.k!,
          y: c.measuredSpeedup!,
          tip: [c.id, `measured: ${fmtX(c.measuredSpeedup)}`],
        })),
    });
  }
  runs.forEach((r, i) => {
    const alpha = r.settings.replay?.alpha ?? 0;
    const specs = r.configs.filter((c) => c.mode === "speculative");
    const tag = `${r.models.target.path.replace(/^synthetic:/, "")}/` +
      `${r.models.draft?.path.replace(/^synthetic:/, "")} α ${f2(alpha)}`;
    series.push({
      key: `here-${i}`,
      label: `this GPU: ${tag}`,
      color: color(i),
      points: specs.map((c) => ({
        x: c.k!,
        y: c.measuredSpeedup!,
        tip: [c.id, `measured: ${fmtX(c.measuredSpeedup)}`, `${f1(c.throughputTokS.mean)} tok/s`],
      })),
    });
    series.push({
      key: `pred-${i}`,
      label: `cost-aware prediction: ${tag}`,
      color: color(i),
      dashed: true,
      points: specs.flatMap((c) => {
        const p = costAware(c, alpha);
        return p === null
          ? []
          : [{ x: c.k!, y: p, tip: [c.id, `cost-aware prediction: ${fmtX(p)}`] }];
      }),
    });
  });
  const ks = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const panel = el("div", "measure-chart");
  host.append(panel);
  xyPanel(panel, {
    xLabel: "draft length K",
    yLabel: "speedup over target alone (×)",
    series,
    xTicks: ks,
    yFormat: format(".2f"),
    yFromZero: true,
    hint: "dashed: E[τ](α, K) · T_target / (K·T_draft + T_verify), costs measured here",
  });
  host.append(resultsTable(runs));
  const last = runs[runs.length - 1];
  const link = el("a", "button", "Download JSON of this measurement");
  link.id = "measure-download";
  link.href = URL.createObjectURL(
    new Blob([JSON.stringify(last, null, 2)], { type: "application/json" }),
  );
  link.download = "measured-here.json";
  host.append(link);
  flushDraws(first);
}

function resultsTable(runs: ResultsFile[]): HTMLElement {
  const wrap = el("div", "table-wrap");
  const table = el("table", "measure-table");
  const head = el("tr");
  const heads = [
    "pair",
    "K",
    "tok/s",
    "τ measured",
    "τ = E[τ](α)",
    "speedup",
    "cost-aware",
    "T_draft ms",
    "T_target ms",
    "T_verify ms",
    "c",
  ];
  for (const h of heads) head.append(el("th", h === "pair" ? undefined : "num", h));
  table.append(el("thead"));
  table.tHead!.append(head);
  const tbody = el("tbody");
  for (const r of runs) {
    const alpha = r.settings.replay?.alpha ?? 0;
    const pair = `${r.models.target.path} / ${r.models.draft?.path} (α ${f2(alpha)})`;
    for (const c of r.configs) {
      const row = el("tr");
      const cells = [
        pair,
        c.k === null ? "target alone" : String(c.k),
        f1(c.throughputTokS.mean),
        fmt2(c.meanTokensPerRound),
        c.k === null ? "—" : f2(leviathanTokensPerRound(alpha, c.k)),
        fmtX(c.measuredSpeedup),
        fmtX(costAware(c, alpha)),
        fmt2(c.tDraftMs),
        fmt2(c.tTargetMs),
        fmt2(c.tVerifyMs),
        fmt2(c.c),
      ];
      cells.forEach((t, i) => row.append(el("td", i === 0 ? undefined : "num", t)));
      tbody.append(row);
    }
  }
  table.append(tbody);
  wrap.append(table);
  return wrap;
}
