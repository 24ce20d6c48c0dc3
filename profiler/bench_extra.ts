/**
 * Small additions to `mod.ts bench` (profiler/bench.ts): dispatches per pass and per layer (from the dispatch metadata), the
 * verify pass's GPU time for every T (it should grow smoothly: monotone in T), and the
 * measured matmul choices of engine/autotune.ts.
 */
import { ATTENTION_TUNE_KEYS } from "../engine/autotune.ts";
import type { NeoxModel } from "../engine/model.ts";
import type { GpuTimer } from "./gpu_timer.ts";
import { timePass } from "./kernel_profile.ts";

/** Dispatches of one pass of T tokens: in all, and in one transformer layer. */
export function dispatchCount(model: NeoxModel, T: number): { pass: number; perLayer: number } {
  const seq = model.newSequence({ capacity: T + 1, maxTokens: T + 2, maxT: T, logitsRows: T });
  try {
    const plan = seq.plan(
      T,
      T === 1
        ? { logits: "last", argmax: true, advance: true }
        : { logits: "all", argmax: false, advance: false },
    );
    return { pass: plan.length, perLayer: plan.filter((d) => d.meta.layer === 0).length };
  } finally {
    seq.destroy();
  }
}

/** Fastest GPU ms of one verify pass (all logits, one compute pass) for each T, at `cacheLen`. */
export async function verifyCurve(
  model: NeoxModel,
  Ts: number[],
  o: { timer: GpuTimer; nsPerTick: number; cacheLen: number; reps?: number },
): Promise<{ T: number; ms: number }[]> {
  const maxT = Math.max(...Ts);
  const capacity = o.cacheLen + maxT + 1;
  const seq = model.newSequence({ capacity, maxTokens: capacity + 1, maxT, logitsRows: maxT });
  try {
    // Rounds over all T, fastest round each: noise on a shared machine only adds time, and
    // interleaving keeps a burst of it from bending one part of the curve.
    const best = new Map<number, number>();
    for (let r = 0; r < (o.reps ?? 3); r++) {
      for (const T of Ts) {
        const ms = await timePass(seq, T, o.timer, o.nsPerTick, {
          cacheLen: o.cacheLen,
          reps: 1,
          pass: "verify",
          passOptions: { logits: "all", argmax: false, advance: false },
        });
        best.set(T, Math.min(best.get(T) ?? Infinity, ms));
      }
    }
    return Ts.map((T) => ({ T, ms: best.get(T)! }));
  } finally {
    seq.destroy();
  }
}

/** The measured matmul and attention choices of a model's adapter profile, one line each. */
export function tunedLines(model: NeoxModel): string[] {
  const p = model.profile;
  if (!p) return [];
  const ticks = (t: Record<string, number>) =>
    Object.entries(t).map(([n, v]) => `${n} ${(v / 1e3).toFixed(0)}k`).join(", ");
  return [
    ...[...p.matmul].map(([k, v]) =>
      `${k}: ${v.variant}${v.rpt ? ` RPT=${v.rpt}` : ""} (${ticks(v.ticks)} ticks)`
    ),
    ...[...p.attention].map(([k, v]) =>
      `${k} (${ATTENTION_TUNE_KEYS} cached): ${v.variant.variant} (${ticks(v.ticks)} ticks)`
    ),
    ...[...p.norm].map(([k, v]) =>
      `${k}: ${v.rows ? "layernorm_pair_rows" : "layernorm_pair"} (${ticks(v.ticks)} ticks)`
    ),
    ...[...p.fused].map(([k, v]) =>
      `one-token pass, ${k} (${ATTENTION_TUNE_KEYS} cached): ${
        v.fused ? "decode_layer" : "layer by layer"
      } (${ticks(v.ticks)} ticks)`
    ),
  ];
}
