/// <reference lib="dom" />
/**
 * Section "prediction": the out-of-sample predictions (made before the sweep ran, from
 * acceptance measured without speculation and a calibrated device profile; DESIGN.md "What
 * counts as a prediction") against the measurements: speedup and throughput per model
 * (seed, leviathan, costAware) and tokens per round, y = x dashed, measured 95% CIs as error
 * bars, and one sentence per model saying why it missed, computed from the data.
 */

import { format } from "d3-format";
import { el, legendOf, MODEL_COLORS, noData, panels, xyPanel, type XYSeries } from "../charts.ts";
import { f1, f2, fmtX, signedPct } from "../format.ts";
import { type Cfg, findBaseline, type ReportView, type SectionHost, uniq } from "../view.ts";

/** The predicting models, in the order the page names them. */
export const PREDICTORS = ["seed", "leviathan", "costAware"] as const;
type Predictor = typeof PREDICTORS[number];

const LABELS: Record<Predictor, string> = {
  seed: "seed (1 + K a) / (1 + K c)",
  leviathan: "Leviathan E[τ] / (K c + 1)",
  costAware: "cost-aware (device profile)",
};

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const signed = signedPct;

/** Relative 95% half-width of a run's mean throughput; null without >= 2 samples. */
export function relCi(c: Cfg): number | null {
  const r = c.throughputCi?.relHalfWidth;
  return r === undefined || r < 0 ? null : r;
}

/** Half-width of the measured speedup's 95% CI: both runs' relative widths in quadrature. */
function speedupHalfWidth(v: ReportView, c: Cfg): number | undefined {
  const base = findBaseline(v, c);
  const rs = relCi(c);
  const rb = base ? relCi(base) : null;
  if (rs === null || rb === null || c.measuredSpeedup == null) return undefined;
  return c.measuredSpeedup * Math.hypot(rs, rb);
}

/** Mean |error| of a model's speedup: the results' summary, else the configurations'. */
function speedupMae(v: ReportView, pool: Cfg[], m: Predictor): number | null {
  const s = v.data.predictions?.summary.find((r) => r.model === m);
  if (s && s.speedupMeanAbsPctError !== null) return s.speedupMeanAbsPctError;
  const errs = pool.flatMap((c) => {
    const e = c.predicted?.errorPct?.speedup[m];
    return e == null ? [] : [Math.abs(e)];
  });
  return errs.length ? mean(errs) : null;
}

function signedErrors(pool: Cfg[], m: Predictor): number[] {
  return pool.flatMap((c) => {
    const e = c.predicted?.errorPct?.speedup[m];
    return e == null ? [] : [e];
  });
}

/** Why each model missed, in one sentence each, from the measurements and the predictions. */
function whyMissed(v: ReportView, pool: Cfg[]): string[] {
  const lines: string[] = [];
  const ks = uniq(pool.map((c) => c.k as number)).sort((a, b) => a - b);
  const verifyRatio = ks.flatMap((k) => {
    const rs = pool.filter((c) => c.k === k && c.tVerifyMs != null && c.tTargetMs)
      .map((c) => (c.tVerifyMs as number) / (c.tTargetMs as number));
    return rs.length ? [`${f2(mean(rs))}× at K = ${k}`] : [];
  });
  const verifyText = verifyRatio.length
    ? `a verify of K + 1 tokens costs T_verify / T_target = ${verifyRatio.join(", ")} here, ` +
      `not the 1× its denominator assumes, and per-round overheads are left out`
    : `it prices a verify of K + 1 tokens as one target pass and leaves out per-round overheads`;
  const seedErr = signedErrors(pool, "seed");
  if (seedErr.length) {
    lines.push(
      `seed: ${signed(mean(seedErr))} on average (signed, ${seedErr.length} runs): ${verifyText}.`,
    );
  }
  const levErr = signedErrors(pool, "leviathan");
  if (levErr.length) {
    // Same denominator as the seed's, so their ratio is E[τ] / (1 + K a).
    const ratios = pool.flatMap((c) => {
      const s = c.predicted?.speedup;
      return s && s.seed && s.leviathan ? [s.leviathan / s.seed - 1] : [];
    });
    lines.push(
      `Leviathan: ${signed(mean(levErr))} on average: the same K c + 1 denominator as the ` +
        `seed, so it misses for the same reason` +
        (ratios.length
          ? `; its i.i.d. E[τ] differs from the seed's 1 + K a by ${
            signed(100 * mean(ratios))
          } on average (the acceptance is not i.i.d. per position).`
          : "."),
    );
  }
  const byQuant = uniq(pool.map((c) => c.quant)).flatMap((q) => {
    const e = signedErrors(pool.filter((c) => c.quant === q), "costAware");
    return e.length
      ? [`${mean(e) < 0 ? "under" : "over"}-predicts ${q} by ${f1(Math.abs(mean(e)))}%`]
      : [];
  });
  const baseErr = v.baselines.flatMap((b) => {
    const e = b.predicted?.errorPct?.throughputTokS;
    return e == null ? [] : [e];
  });
  if (byQuant.length) {
    lines.push(
      `cost-aware: ${byQuant.join(", ")} (signed mean); it prices every pass from the ` +
        `calibrated device profile, so what is left is the profile's error` +
        (baseErr.length
          ? `: plain decoding alone is off by ${signed(mean(baseErr))} on average.`
          : "."),
    );
  }
  const tau = pool.flatMap((c) => {
    const p = c.predicted?.tokensPerRound;
    return p == null || c.meanTokensPerRound == null ? [] : [[p, c.meanTokensPerRound]];
  });
  if (tau.length) {
    const exact = tau.filter(([p, m]) => Math.abs(p - m) < 1e-9).length;
    const tauMae = mean(tau.map(([p, m]) => Math.abs(100 * (p - m) / m)));
    lines.push(
      `Tokens per round: predicted equals measured in ${exact} of ${tau.length} runs ` +
        `(mean |error| ${f2(tauMae)}%)` +
        (v.data.settings.temperature === 0
          ? "; greedy rounds follow exactly from the acceptance measured without speculation."
          : "."),
    );
  }
  return lines;
}

export function drawPrediction({ body, caption }: SectionHost, v: ReportView): void {
  const pool = v.specs.filter((c) => c.predicted && c.measuredSpeedup != null);
  if (pool.length === 0) {
    return noData(
      body,
      "No out-of-sample predictions in this results file (written before profile predicted " +
        "first, or no speculative runs); the in-sample accounting is shown below.",
    );
  }
  const p = v.data.predictions;
  caption.textContent = `Predicted before any configuration ran, from acceptance measured ` +
    `without speculation (${p?.acceptance.join(", ") ?? "source not recorded"}) and a device ` +
    `profile (${p?.device ?? "source not recorded"}), against what was then measured. One ` +
    `point per speculative configuration; error bars: 95% CI of the measurement (none with ` +
    `one sample). Legend: each model's mean |error| out of sample.`;
  const mae = Object.fromEntries(PREDICTORS.map((m) => [m, speedupMae(v, pool, m)]));
  const label = (m: Predictor) =>
    `${LABELS[m]}${mae[m] === null ? "" : ` — ${f1(mae[m] as number)}% mean |error|`}`;
  const box = panels(body);

  const speedup: XYSeries[] = PREDICTORS.map((m) => ({
    key: m,
    label: label(m),
    color: MODEL_COLORS[m],
    line: false,
    points: pool.flatMap((c) => {
      const s = c.predicted!.speedup[m];
      if (s == null) return [];
      const e = c.predicted!.errorPct?.speedup[m];
      return [{
        x: s,
        y: c.measuredSpeedup as number,
        err: speedupHalfWidth(v, c),
        tip: [
          c.id,
          `model: ${m}`,
          `predicted: ${fmtX(s)}`,
          `measured: ${fmtX(c.measuredSpeedup)}`,
          ...(e == null ? [] : [`error: ${signed(e)}`]),
        ],
      }];
    }),
  }));
  xyPanel(box, {
    title: "Speedup over plain decoding",
    xLabel: "predicted speedup (×)",
    yLabel: "measured speedup (×)",
    series: speedup,
    diagonal: true,
    yFormat: format(".2f"),
    legend: legendOf(speedup, "dot"),
    hint: "dashed: y = x (perfect prediction)",
  });

  const tputMae = (m: Predictor) =>
    p?.summary.find((s) => s.model === m)?.throughputMeanAbsPctError ?? null;
  const throughput: XYSeries[] = PREDICTORS.map((m) => ({
    key: m,
    label: `${m}${tputMae(m) === null ? "" : ` — ${f1(tputMae(m) as number)}%`}`,
    color: MODEL_COLORS[m],
    line: false,
    points: pool.flatMap((c) => {
      const s = c.predicted!.speedup[m];
      const base = findBaseline(v, c)?.predicted?.throughputTokS;
      // seed and Leviathan predict a speedup only: their throughput is the predicted baseline's x it.
      const x = m === "costAware"
        ? c.predicted!.throughputTokS
        : s == null || !base
        ? null
        : base * s;
      if (x == null) return [];
      const hw = c.throughputCi && c.throughputCi.halfWidth >= 0 ? c.throughputCi.halfWidth : 0;
      return [{
        x,
        y: c.throughputTokS.mean,
        err: hw || undefined,
        tip: [
          c.id,
          `model: ${m}`,
          `predicted: ${f1(x)} tok/s`,
          `measured: ${f1(c.throughputTokS.mean)}${hw ? ` ± ${f1(hw)}` : ""} tok/s`,
        ],
      }];
    }),
  }));
  const bases = v.baselines.filter((b) => b.predicted);
  if (bases.length) {
    throughput.push({
      key: "baseline",
      label: "plain decoding (device profile)",
      color: "#6b7280",
      line: false,
      points: bases.map((b) => {
        const hw = b.throughputCi && b.throughputCi.halfWidth >= 0 ? b.throughputCi.halfWidth : 0;
        return {
          x: b.predicted!.throughputTokS,
          y: b.throughputTokS.mean,
          err: hw || undefined,
          tip: [
            b.id,
            `predicted: ${f1(b.predicted!.throughputTokS)} tok/s`,
            `measured: ${f1(b.throughputTokS.mean)}${hw ? ` ± ${f1(hw)}` : ""} tok/s`,
          ],
        };
      }),
    });
  }
  xyPanel(box, {
    title: "Throughput",
    xLabel: "predicted throughput (tokens/s)",
    yLabel: "measured throughput (tokens/s)",
    series: throughput,
    diagonal: true,
    legend: legendOf(throughput, "dot"),
  });

  const tauPoints = pool.flatMap((c) => {
    const t = c.predicted!.tokensPerRound;
    return t == null || c.meanTokensPerRound == null ? [] : [{
      x: t,
      y: c.meanTokensPerRound,
      tip: [c.id, `predicted: ${f2(t)} tokens/round`, `measured: ${f2(c.meanTokensPerRound)}`],
    }];
  });
  if (tauPoints.length) {
    const tauMae = p?.tokensPerRoundMeanAbsPctError;
    const tau: XYSeries[] = [{
      key: "tau",
      label: `tokens per round${tauMae == null ? "" : ` — ${f2(tauMae)}% mean |error|`}`,
      color: "#374151",
      line: false,
      points: tauPoints,
    }];
    xyPanel(box, {
      title: "Tokens per round τ",
      xLabel: "predicted τ (tokens/round)",
      yLabel: "measured τ (tokens/round)",
      series: tau,
      diagonal: true,
      yFormat: format(".2f"),
      legend: legendOf(tau, "dot"),
    });
  }

  const why = el("ul", "why");
  for (const line of whyMissed(v, pool)) why.append(el("li", undefined, line));
  body.append(why);
}
