/// <reference lib="dom" />
/**
 * Section "trees": token trees against the chain in one group (cache, quant, N, prompt
 * type): tokens per verify and the verify's cost against the drafts it checks, and the
 * measured speedup beside the one predicted before the sweep.
 */

import { format } from "d3-format";
import { color, noData, panels, xyPanel, type XYSeries } from "../charts.ts";
import { f1, f2, fmtX, signedPct as signed } from "../format.ts";
import { byNum, type Cfg, configTip, type ReportView, type SectionHost, uniq } from "../view.ts";

/** Draft nodes one verify checks: K for a chain, the node count for a tree. */
const nodesOf = (c: Cfg) => c.tree?.nodesPerVerify ?? (c.k as number);

export function drawTrees({ body, caption }: SectionHost, v: ReportView): void {
  const trees = v.configs.filter((c) => c.mode === "tree");
  if (trees.length === 0) {
    return noData(
      body,
      "No token-tree runs in this results file (add them with deno task profile --trees " +
        "2,2,1 4,2,1,1 auto:16).",
    );
  }
  // The group of the first tree: the chain runs beside it are its comparison.
  const t0 = trees[0];
  const same = (c: Cfg) =>
    c.cache === t0.cache && c.cacheSize === t0.cacheSize && c.quant === t0.quant &&
    c.maxNewTokens === t0.maxNewTokens && c.promptType === t0.promptType;
  const chain = v.specs.filter(same).sort((a, b) => byNum(a.k as number, b.k as number));
  const group = trees.filter(same);
  const specs = uniq(group.map((c) => c.tree!.spec));
  caption.textContent = `Chains of K drafts (line) and token trees (one point each) in one ` +
    `group: ${t0.cache === "full" ? "full cache" : `sink ${t0.cacheSize}`}, ${t0.quant}, ` +
    `N = ${t0.maxNewTokens}${v.multiPrompt ? `, ${t0.promptType} prompts` : ""}. A tree ` +
    `pays when its extra tokens per verify outgrow what its wider verify and its draft ` +
    `levels cost; predictions (hollow) were made before the sweep from the draft's ` +
    `per-position ranks and the device profile (dynamic trees are not predicted).`;
  const box = panels(body);
  const tip = (c: Cfg) =>
    configTip(c, [
      `draft nodes per verify: ${nodesOf(c)}`,
      `tokens per verify: ${c.meanTokensPerRound === null ? "-" : f2(c.meanTokensPerRound)}`,
      `verify: ${c.tVerifyMs === null ? "-" : `${f2(c.tVerifyMs)} ms`}`,
      `speedup: ${fmtX(c.measuredSpeedup)}`,
      ...(c.predicted
        ? [
          `predicted: ${fmtX(c.predicted.speedup.costAware)}` +
          (c.predicted.errorPct ? ` (${signed(c.predicted.errorPct.speedup.costAware)})` : ""),
        ]
        : []),
    ]);
  const panel = (
    title: string,
    yLabel: string,
    y: (c: Cfg) => number | null,
    predicted?: (c: Cfg) => number | null,
  ) => {
    const point = (c: Cfg, f: (c: Cfg) => number | null) => {
      const val = f(c);
      return val === null ? [] : [{ x: nodesOf(c), y: val, tip: tip(c) }];
    };
    const series: XYSeries[] = [
      {
        key: "chain",
        label: "chain (K drafts)",
        color: "#4b5563",
        points: chain.flatMap((c) => point(c, y)),
      },
      ...specs.map((spec, i) => ({
        key: spec,
        label: `tree ${spec}`,
        color: color(i),
        line: false,
        points: group.filter((c) => c.tree!.spec === spec).flatMap((c) => point(c, y)),
      })),
    ];
    if (predicted) {
      series.push({
        key: "predicted",
        label: "predicted before the sweep",
        color: "#9ca3af",
        line: false,
        dashed: true,
        points: [...chain, ...group].flatMap((c) => point(c, predicted)),
      });
    }
    xyPanel(box, {
      title,
      xLabel: "draft nodes per verify",
      yLabel,
      series,
      yFormat: format(".2f"),
    });
  };
  panel(
    "Tokens per verify",
    "tokens per round",
    (c) => c.meanTokensPerRound,
    (c) => c.predicted?.tokensPerRound ?? null,
  );
  panel("Cost of one verify", "verify pass (ms)", (c) => c.tVerifyMs);
  panel(
    "Speedup over plain decoding",
    "speedup (×)",
    (c) => c.measuredSpeedup,
    (c) => c.predicted?.speedup.costAware ?? null,
  );
  const best = [...chain, ...group].filter((c) => c.measuredSpeedup !== null)
    .sort((a, b) => (b.measuredSpeedup as number) - (a.measuredSpeedup as number))[0];
  if (best) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = `Best here: ${best.id} at ${fmtX(best.measuredSpeedup)} ` +
      `(${f1(best.throughputTokS.mean)} tok/s, ${
        f2(best.meanTokensPerRound ?? 0)
      } tokens per verify).`;
    body.append(p);
  }
}
