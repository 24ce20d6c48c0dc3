/// <reference lib="dom" />
/** Section "configs": every configuration in one table, sortable by any column. */

import { el, noData } from "../charts.ts";
import { f1, fmt1, fmt2, fmt3, fmtBytes, fmtInt, fmtPct, fmtX } from "../format.ts";
import { bestConfig, type Cfg, type ReportView, type SectionHost } from "../view.ts";

const fmtSignedPct = (v: number | null) => (v === null ? "—" : `${v >= 0 ? "+" : ""}${f1(v)}%`);

interface Column {
  label: string;
  /** What the column sorts by (null sorts last both ways). */
  value: (c: Cfg) => string | number | null;
  /** The cell's text; the value as a string when absent. */
  show?: (c: Cfg) => string;
  numeric: boolean;
  /** The heading's tooltip. */
  title?: string;
}

const text = (label: string, value: (c: Cfg) => string): Column => ({
  label,
  value,
  numeric: false,
});

/** A numeric column shown with `format` (which writes `—` for a missing value). */
const num = (
  label: string,
  value: (c: Cfg) => number | null,
  format: (v: number | null) => string,
  title?: string,
): Column => ({ label, value, show: (c) => format(value(c)), numeric: true, title });

const ACCOUNTING_TITLES = {
  seed: "in-sample accounting (seed formula with the run's own fitted numbers), not a prediction",
  leviathan: "in-sample accounting (Leviathan with the run's own fitted alpha), not a prediction",
  refined: "in-sample accounting (refined, the run's own pass times), not a prediction",
} as const;

/** "27.6 ± 1.2" with the 95% CI half-width, or "± std" for files without a CI. */
function throughputCell(c: Cfg): string {
  const ci = c.throughputCi;
  if (!ci) return `${f1(c.throughputTokS.mean)} ± ${f1(c.throughputTokS.std)} sd`;
  return ci.halfWidth >= 0
    ? `${f1(c.throughputTokS.mean)} ± ${f1(ci.halfWidth)}`
    : `${f1(c.throughputTokS.mean)} (n=${c.throughputTokS.n})`;
}

function columns(v: ReportView): Column[] {
  return [
    text("id", (c) => c.id),
    text("mode", (c) => c.mode),
    { label: "K", value: (c) => c.k, numeric: true, title: "draft length (a tree's depth)" },
    text("tree", (c) => c.tree?.spec ?? ""),
    num("nodes", (c) => c.tree?.nodesPerVerify ?? null, fmtInt, "draft nodes per verify"),
    { label: "N", value: (c) => c.maxNewTokens, numeric: true },
    text("cache", (c) => (c.cache === "full" ? "full" : `sink ${c.cacheSize}`)),
    text("weights", (c) => c.quant),
    ...(v.multiPrompt ? [text("prompts", (c) => c.promptType)] : []),
    {
      label: "tok/s",
      value: (c) => c.throughputTokS.mean,
      show: throughputCell,
      numeric: true,
      title: "throughput, mean ± 95% CI half-width (n=1: no CI; 'sd': older file, ± std)",
    },
    num("TTFT ms", (c) => c.ttftMs.mean, fmt1),
    num("TPOT ms", (c) => c.tpotMs.mean, fmt2),
    num("accept", (c) => c.draftAcceptanceRate, fmtPct, "draft acceptance rate"),
    num("τ", (c) => c.meanTokensPerRound, fmt2, "mean tokens per round (per verify)"),
    num("verify ms", (c) => c.tVerifyMs, fmt2, "GPU time of one verify pass"),
    num(
      "speedup",
      (c) => c.measuredSpeedup,
      fmtX,
      "measured speedup over the matching baseline",
    ),
    num(
      "pred ×",
      (c) => c.predicted?.speedup.costAware ?? null,
      fmtX,
      "cost-aware speedup predicted before the sweep (out of sample)",
    ),
    num(
      "pred err",
      (c) => c.predicted?.errorPct?.speedup.costAware ?? null,
      fmtSignedPct,
      "error of the cost-aware predicted speedup, % of measured",
    ),
    num(
      "pred tok/s",
      (c) => c.predicted?.throughputTokS ?? null,
      fmt1,
      "cost-aware throughput predicted before the sweep (out of sample)",
    ),
    ...(Object.keys(ACCOUNTING_TITLES) as (keyof typeof ACCOUNTING_TITLES)[]).map((m) =>
      num(`acct ${m}`, (c) => c.accounting?.[m].speedup ?? null, fmtX, ACCOUNTING_TITLES[m])
    ),
    num("c", (c) => c.c, fmt3, "T_draft / T_target"),
    num("compr.", (c) => c.compressionEvents, fmtInt, "cache compression events"),
    num("KV", (c) => c.kvBytes, fmtBytes, "KV-cache bytes"),
    num("peak", (c) => c.peakBytes, fmtBytes, "peak GPU bytes"),
  ];
}

export function drawTable({ body }: SectionHost, v: ReportView): void {
  const wrap = el("div", "table-wrap");
  body.append(wrap);
  if (v.configs.length === 0) return noData(wrap, "No configurations in this results file.");
  const cols = columns(v);
  const best = bestConfig(v);
  const table = el("table");
  const headRow = table.createTHead().insertRow();
  const tbody = table.createTBody();
  let sortIndex = -1;
  let ascending = true;
  const fill = () => {
    const rows = [...v.configs];
    if (sortIndex >= 0) {
      const col = cols[sortIndex];
      rows.sort((a, b) => {
        const va = col.value(a);
        const vb = col.value(b);
        if (va === null && vb === null) return 0;
        if (va === null) return 1; // missing values last in both directions
        if (vb === null) return -1;
        const cmp = typeof va === "number" && typeof vb === "number"
          ? va - vb
          : String(va).localeCompare(String(vb), undefined, { numeric: true });
        return ascending ? cmp : -cmp;
      });
    }
    tbody.replaceChildren(...rows.map((c) => {
      const tr = el("tr");
      if (c === best) tr.className = "best";
      for (const col of cols) {
        const value = col.value(c);
        tr.append(
          el(
            "td",
            col.numeric ? "num" : undefined,
            col.show ? col.show(c) : value === null ? "—" : String(value),
          ),
        );
      }
      return tr;
    }));
  };
  cols.forEach((col, i) => {
    const th = el("th", col.numeric ? "num" : undefined);
    th.scope = "col";
    const button = el("button", undefined, col.label);
    button.type = "button";
    if (col.title) button.title = col.title;
    button.addEventListener("click", () => {
      if (sortIndex === i) ascending = !ascending;
      else {
        sortIndex = i;
        ascending = !col.numeric;
      }
      for (const other of headRow.querySelectorAll("th")) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      fill();
    });
    th.append(button);
    headRow.append(th);
  });
  fill();
  wrap.append(table);
}
