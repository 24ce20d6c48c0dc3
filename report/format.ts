/**
 * How the report writes numbers, sizes, dates and cache settings (d3-format based). Runs in
 * the browser as part of the report bundle; `—` stands for a missing value everywhere.
 */

import { format } from "d3-format";

/** Fixed-point formats with thousands separators; fInt for counts, fPct for fractions. */
export const f1 = format(",.1f");
export const f2 = format(",.2f");
export const f3 = format(".3f");
export const fInt = format(",d");
export const fPct = format(".1%");
const fSi = format(".3~s");

type Maybe = number | null | undefined;

/** A number format that writes `—` for a missing value. */
const orDash = (f: (v: number) => string) => (v: Maybe): string => (v == null ? "—" : f(v));

/** The formats above, writing `—` for null or undefined. */
export const fmt1 = orDash(f1);
export const fmt2 = orDash(f2);
export const fmt3 = orDash(f3);
export const fmtInt = orDash(fInt);
export const fmtPct = orDash(fPct);
/** A speedup, e.g. `1.42×`. */
/** A signed percentage: "+4.1%", "−3.0%". */
export const signedPct = (x: number) => `${x >= 0 ? "+" : "−"}${f1(Math.abs(x))}%`;

export const fmtX = orDash((v) => `${f2(v)}×`);

const MIB = 1024 * 1024;
/** Bytes in MiB (the unit of the memory axes). */
export const mib = (bytes: number) => bytes / MIB;

/** Bytes in the largest binary unit that keeps the number at least 1. */
export function fmtBytes(bytes: Maybe): string {
  if (bytes == null) return "—";
  if (bytes >= 1024 * MIB) return `${f2(bytes / (1024 * MIB))} GiB`;
  if (bytes >= MIB) return `${f1(bytes / MIB)} MiB`;
  if (bytes >= 1024) return `${f1(bytes / 1024)} KiB`;
  return `${fInt(bytes)} B`;
}

/** A parameter count, e.g. `2.78B`, `70.4M`. */
export function fmtParams(n: number): string {
  return fSi(n).replace("G", "B");
}

/** An ISO time as `YYYY-MM-DD HH:MM UTC` (the text as given when it is not a date). */
export function fmtDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

/** `full cache` or `sink C`. */
export const cacheLabel = (c: { cache: string; cacheSize: number | null }) =>
  c.cache === "full" ? "full cache" : `sink ${c.cacheSize ?? "?"}`;

/** One measured statistic with its spread and sample count, for tooltips. */
export function statLine(
  name: string,
  s: { mean: number; std: number; n: number },
  unit: string,
): string {
  return `${name}: ${f1(s.mean)} ± ${f1(s.std)} ${unit} (n=${s.n})`;
}
