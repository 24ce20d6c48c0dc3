/// <reference lib="dom" />
/** Section "cache": StreamingLLM sink cache sizes vs the full cache (throughput, compressions). */

import { format } from "d3-format";
import {
  barPanel,
  type BarSeries,
  color,
  noData,
  panels,
  xyPanel,
  type XYSeries,
} from "../charts.ts";
import { fInt, fmtBytes, statLine } from "../format.ts";
import {
  byNum,
  type Cfg,
  configTip,
  maxBy,
  type ReportView,
  type SectionHost,
  uniq,
} from "../view.ts";

export function drawCache({ body, caption }: SectionHost, v: ReportView): void {
  const sinks = v.configs.filter((c) => c.cache === "sink");
  if (sinks.length === 0) {
    return noData(
      body,
      "No sink-cache runs in this results file, so there is no cache-size comparison.",
    );
  }
  const quant = sinks.some((c) => c.quant === (v.refSlice?.quant ?? "fp16"))
    ? (v.refSlice?.quant ?? "fp16")
    : sinks[0].quant;
  const n = maxBy(sinks.filter((c) => c.quant === quant), (c) => c.maxNewTokens) as number;
  const promptType = sinks.find((c) => c.quant === quant && c.maxNewTokens === n)?.promptType;
  const pool = v.configs.filter((c) =>
    c.quant === quant && c.maxNewTokens === n && c.promptType === promptType
  );
  const sizes = uniq(pool.filter((c) => c.cache === "sink").map((c) => c.cacheSize ?? 0)).sort(
    byNum,
  );
  const hasFull = pool.some((c) => c.cache === "full");
  const cats = [...sizes.map((s) => `sink ${s}`), ...(hasFull ? ["full"] : [])];
  const catOf = (c: Cfg) => (c.cache === "full" ? "full" : `sink ${c.cacheSize ?? 0}`);
  caption.textContent = `StreamingLLM sink + window cache of capacity C vs the full cache; ` +
    `${quant}, N = ${n}${v.multiPrompt ? `, ${promptType} prompts` : ""}. A compression event ` +
    `evicts entries between the sinks and the recent window.`;
  const groupKeys = uniq(pool.map((c) => (c.k === null ? "baseline" : `K = ${c.k}`)));
  groupKeys.sort((a, b) =>
    a === "baseline" ? -1 : b === "baseline" ? 1 : Number(a.slice(4)) - Number(b.slice(4))
  );
  const colorOf = (key: string, i: number) => (key === "baseline" ? "#4b5563" : color(i));
  const members = (key: string) =>
    pool.filter((c) => (c.k === null ? "baseline" : `K = ${c.k}`) === key);
  const box = panels(body);

  const series: XYSeries[] = groupKeys.map((key, i) => ({
    key,
    label: key,
    color: colorOf(key, i),
    dashed: key === "baseline",
    points: members(key).map((c) => ({
      x: cats.indexOf(catOf(c)),
      y: c.throughputTokS.mean,
      err: c.throughputTokS.std,
      tip: configTip(c, [
        statLine("throughput", c.throughputTokS, "tok/s"),
        `compression events: ${fInt(c.compressionEvents)}`,
        `KV cache: ${fmtBytes(c.kvBytes)}`,
      ]),
    })),
  }));
  xyPanel(box, {
    title: "Throughput vs cache size",
    xLabel: "KV cache (capacity C, tokens)",
    yLabel: "throughput (tokens/s)",
    series,
    xTicks: cats.map((_, i) => i),
    xTickFormat: (i) => cats[i] ?? "",
  });

  const bars: BarSeries[] = groupKeys.map((key, i) => {
    const byCat = cats.map((cat) => members(key).find((c) => catOf(c) === cat));
    return {
      key,
      label: key,
      color: colorOf(key, i),
      values: byCat.map((c) => (c ? c.compressionEvents : null)),
      tips: byCat.map((c) =>
        c
          ? configTip(c, [
            `compression events: ${fInt(c.compressionEvents)}`,
            `KV cache: ${fmtBytes(c.kvBytes)}`,
          ])
          : []
      ),
    };
  });
  barPanel(box, {
    title: "Compression events per run",
    categories: cats,
    series: bars,
    stacked: false,
    xLabel: "KV cache (capacity C, tokens)",
    yLabel: "compression events (count)",
    yFormat: format("~s"),
  });
}
