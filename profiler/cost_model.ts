/**
 * The cost model of a device profile (`mod.ts calibrate -o dev.json`): what one forward pass
 * and one generation loop cost on this device, measured apart from any sweep.
 *
 * Pass time, per pass kind (model, quantization, logits rows):
 *
 *   T_pass(T, L) = a(T) + (b + c * T) * L        [ms]
 *
 * with T the tokens of the pass, L the cached keys it attends over, a(T) non-decreasing and
 * piecewise linear between the measured token counts (knots) and extended linearly past the
 * last two, b the cost of reading one cached key's K and V (whatever T) and c the cost of one
 * query-key pair (T queries over L cached keys), one b and c per pass kind. A first
 * calibration with c * L alone (no T) gave negative a(1): a prefill of 64 tokens over 128 keys
 * pays 64x a decode's attention. With c * T * L alone, c came from the large passes and a
 * one-token decode's cost in L was under-counted by 5x (on lavapipe, measured: 0.11 ms per key
 * at T = 1 against 0.02 per query-key pair at T = 64). a(T) is piecewise rather than a + b T because the matmul kernels
 * pick a row tile by T (1, 4 or 8 rows per workgroup): on lavapipe a pass of 2 tokens costs
 * about what 4 do, so time is a staircase in T, not a line.
 *
 * Generation wall time = passScale * the sum of its passes' T_pass + perWaitMs * CPU waits on
 * the GPU + perPassMs * passes (CPU encode and submit). All three come from real generation
 * loops on a calibration prompt (not any configuration a sweep runs), timed pass by pass:
 * passScale = the median over loops of the GPU time of their passes / the pass model's time
 * for them (passes timed alone and inside loops differ); perWaitMs and perPassMs by least
 * squares (>= 0) on wall time minus the loops' GPU time, over loops not in a slow spell.
 */
import type { CachePolicy } from "../engine/cache_policy.ts";
import type { TokenTree } from "../engine/tree_speculative.ts";
import { PREFILL_CHUNK, SINK_PREFILL_CHUNK } from "../engine/generate.ts";
import { nextBatch, OVERSHOOT_MIN_WAIT_MS } from "../engine/speculative.ts";
import type { TickCalibrationInfo } from "./gpu_timer.ts";
import type { DeviceProfile } from "./simulator.ts";
import { mean, median } from "./stats.ts";

/** Schema tag of a device profile with measured pass costs. */
export const DEVICE_SCHEMA = "neox-spec/device@2";

/** One measured pass time (median over repetitions). */
export interface PassPoint {
  T: number;
  L: number;
  ms: number;
}

/** Mean and largest |fit - measured| / measured over the measured points, %. */
export interface FitError {
  meanRelPct: number;
  maxRelPct: number;
  points: number;
}

/** The fitted pass model of one pass kind. */
export interface PassFit {
  /** a(T) at the measured token counts, ms. */
  knots: { T: number; ms: number }[];
  /** c: ms per (query token x cached key) pair. */
  msPerKey: number;
  /** b: ms per cached key, whatever the tokens of the pass (reading its K and V). */
  msPerCachedKey: number;
  fitError: FitError;
  /** The measurements the fit came from. */
  points: PassPoint[];
}

/** Per-wait and per-pass CPU overheads of generation loops. */
export interface Overheads {
  form: string;
  /** GPU time of passes inside generation loops / the pass model's time for them. */
  passScale: number;
  perWaitMs: number;
  perPassMs: number;
  /** Error of the whole generation-time model (passes + overheads) on the loops it saw. */
  fitError: FitError;
  /** The loops (ms): wall, timed passes' GPU time, pass model of the timed and untimed passes. */
  loops: OverheadLoop[];
}

/** One generation loop of the overhead fit. */
export interface OverheadLoop {
  what: string;
  wallMs: number;
  /** GPU time of the loop's timed passes. */
  timedGpuMs: number;
  /** The pass model's time for the timed passes, and for the untimed ones (first prefills). */
  timedModelMs: number;
  untimedModelMs: number;
  waits: number;
  passes: number;
  /** Its passes ran > 25% from the median in-loop scale: left out of the overhead fit. */
  spell?: boolean;
}

/** A device profile: the simulator's rates plus measured pass costs and overheads. */
export interface DeviceCosts extends DeviceProfile {
  schema: typeof DEVICE_SCHEMA;
  form: string;
  /** The models the pass costs were measured with. */
  models: { target: string; draft: string };
  quant: ("fp16" | "int8")[];
  tickCalibration: TickCalibrationInfo | null;
  /** Keyed by {@link passKey}. */
  passes: Record<string, PassFit>;
  overheads: Overheads;
  /** Mean and max fit error over every pass kind. */
  fitError: FitError;
  /**
   * The simulator (its pass form fitted on synthetic Pythia shapes) predicting the measured
   * pass times of these models, whose shapes it was not calibrated on: error per pass kind.
   */
  simulatorValidation?: {
    key: string;
    shape: string;
    error: FitError;
    rows: { T: number; L: number; measuredMs: number; simulatedMs: number }[];
  }[];
}

/** The form string written into device profiles. */
export const PASS_FORM = "T_pass(T, L) = a(T) + (b + c * T) * L ms; a(T) non-decreasing, " +
  "piecewise linear between measured T knots (linear extension past the ends), one b >= 0 and " +
  "one c >= 0 per pass kind; pass points are medians over rounds spread in time; " +
  "generation = passScale * sum T_pass + perWaitMs * waits + perPassMs * passes";

/**
 * Key of a pass kind: `target-fp16` (one-row logits: decode and prefill), `target-fp16-verify`
 * (logits for all rows), `target-fp16-tree` (logits for all rows, attention by a token tree's
 * ancestor mask: a tree's verify, or a draft pass over a tree level), `draft-fp16`.
 */
export function passKey(
  role: "target" | "draft",
  quant: "fp16" | "int8",
  verify = false,
  tree = false,
): string {
  return `${role}-${quant}${tree ? "-tree" : verify ? "-verify" : ""}`;
}

function knotMs(knots: { T: number; ms: number }[], T: number): number {
  if (knots.length === 1) return knots[0].ms;
  let i = knots.findIndex((k) => k.T >= T);
  if (i === 0) i = 1;
  if (i < 0) i = knots.length - 1;
  const a = knots[i - 1], b = knots[i];
  return a.ms + (b.ms - a.ms) * (T - a.T) / (b.T - a.T);
}

/**
 * Predicted GPU time of one pass of `T` tokens over `L` cached keys, ms.
 *
 * @throws RangeError when the profile has no pass kind `modelKey`.
 */
export function passMs(costs: DeviceCosts, modelKey: string, T: number, L: number): number {
  const fit = costs.passes[modelKey];
  if (!fit) {
    throw new RangeError(
      `device profile has no pass costs for ${modelKey} (has ${
        Object.keys(costs.passes).join(", ")
      })`,
    );
  }
  return Math.max(0, knotMs(fit.knots, T) + ((fit.msPerCachedKey ?? 0) + fit.msPerKey * T) * L);
}

export function fitErrorOf(pairs: { fit: number; measured: number }[]): FitError {
  const rel = pairs.map((p) => 100 * Math.abs(p.fit - p.measured) / p.measured);
  return {
    meanRelPct: rel.length ? mean(rel) : 0,
    maxRelPct: rel.length ? Math.max(...rel) : 0,
    points: rel.length,
  };
}

/** Least-squares non-decreasing fit of values (pool adjacent violators), weights `w`. */
function isotonic(values: number[], w: number[]): number[] {
  const blocks: { v: number; w: number; n: number }[] = [];
  values.forEach((v, i) => {
    blocks.push({ v, w: w[i], n: 1 });
    while (blocks.length > 1 && blocks[blocks.length - 2].v > blocks[blocks.length - 1].v) {
      const b = blocks.pop()!, a = blocks.pop()!;
      blocks.push({ v: (a.v * a.w + b.v * b.w) / (a.w + b.w), w: a.w + b.w, n: a.n + b.n });
    }
  });
  return blocks.flatMap((b) => new Array<number>(b.n).fill(b.v));
}

/**
 * Least squares y = u * x1 + v * x2 with u, v >= 0 (a negative one is refitted as 0 with the
 * other alone), from the sums x1.x1, x1.x2, x2.x2, x1.y, x2.y.
 */
function nnls2(
  a11: number,
  a12: number,
  a22: number,
  b1: number,
  b2: number,
): [number, number] {
  const det = a11 * a22 - a12 * a12;
  let u = det > 0 ? (b1 * a22 - b2 * a12) / det : -1;
  let v = det > 0 ? (a11 * b2 - a12 * b1) / det : -1;
  if (u < 0 || v < 0) {
    const onlyU = a11 > 0 ? Math.max(0, b1 / a11) : 0;
    const onlyV = a22 > 0 ? Math.max(0, b2 / a22) : 0;
    // The better of the two one-variable fits (smaller residual: larger b.x explained).
    if (onlyU * b1 >= onlyV * b2) [u, v] = [onlyU, 0];
    else [u, v] = [0, onlyV];
  }
  return [u, v];
}

/**
 * Fits a(T) + (b + c T) L to measured points: b and c from the within-T covariance of time
 * with L and with T L (least squares with a free intercept per T; kept >= 0, attending over
 * more keys costs no less), a(T) = mean time at T - (b + c T) * mean L at T, made
 * non-decreasing in T (pool adjacent violators: a pass of more tokens costs no less; a noisy
 * point cannot make a dip).
 */
export function fitPasses(points: PassPoint[]): PassFit {
  const byT = new Map<number, PassPoint[]>();
  for (const p of points) byT.set(p.T, [...(byT.get(p.T) ?? []), p]);
  let a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
  for (const ps of byT.values()) {
    const l = mean(ps.map((p) => p.L)), m = mean(ps.map((p) => p.ms));
    for (const p of ps) {
      const x1 = p.L - l, x2 = p.T * (p.L - l), y = p.ms - m;
      a11 += x1 * x1;
      a12 += x1 * x2;
      a22 += x2 * x2;
      b1 += x1 * y;
      b2 += x2 * y;
    }
  }
  const [msPerCachedKey, msPerKey] = nnls2(a11, a12, a22, b1, b2);
  const attend = (T: number, L: number) => (msPerCachedKey + msPerKey * T) * L;
  const groups = [...byT.entries()].sort(([a], [b]) => a - b);
  const raw = groups.map(([T, ps]) => mean(ps.map((p) => p.ms - attend(T, p.L))));
  const mono = isotonic(raw, groups.map(([, ps]) => ps.length));
  const knots = groups.map(([T], i) => ({ T, ms: mono[i] }));
  const fit: PassFit = {
    knots,
    msPerKey,
    msPerCachedKey,
    fitError: { meanRelPct: 0, maxRelPct: 0, points: 0 },
    points,
  };
  fit.fitError = fitErrorOf(
    points.map((p) => ({ fit: knotMs(knots, p.T) + attend(p.T, p.L), measured: p.ms })),
  );
  return fit;
}

/** One pass of a generation loop. */
export interface ScheduledPass {
  /** False for passes the engine encodes without the timing hook (the first round's prefills). */
  timed?: boolean;
  role: "target" | "draft";
  verify: boolean;
  /** A pass of token-tree nodes (ancestor mask, logits for all rows). */
  tree?: boolean;
  T: number;
  L: number;
}

/** The passes and CPU waits of one generation, as the engine's loops run them. */
export interface Schedule {
  passes: ScheduledPass[];
  waits: number;
}

function live(cache: CachePolicy, len: number): number {
  return cache.kind === "sink" ? Math.min(len, cache.size) : len;
}

function prefillPasses(
  role: "target" | "draft",
  n: number,
  chunk: number,
  cache: CachePolicy,
): ScheduledPass[] {
  const out: ScheduledPass[] = [];
  for (let s = 0; s < n; s += chunk) {
    out.push({ role, verify: false, T: Math.min(chunk, n - s), L: live(cache, s) });
  }
  return out;
}

/**
 * Passes and waits of plain greedy decoding (engine/generate.ts greedyGenerate): a prefill of
 * P tokens (chunks of 256, or 32 with a sink cache), N - 1 one-token passes in submits of
 * 32 with no wait between them, one wait after the prefill and one final read.
 */
export function baselineSchedule(promptTokens: number, n: number, cache: CachePolicy): Schedule {
  const chunk = cache.kind === "sink"
    ? Math.min(SINK_PREFILL_CHUNK, promptTokens)
    : Math.min(PREFILL_CHUNK, promptTokens);
  const passes = prefillPasses("target", promptTokens, Math.max(1, chunk), cache);
  for (let i = 1; i < n; i++) {
    passes.push({ role: "target", verify: false, T: 1, L: live(cache, promptTokens + i - 1) });
  }
  return { passes, waits: 2 };
}

/**
 * Passes and waits of greedy speculative decoding (engine/speculative.ts) whose rounds
 * accept `rounds[r]` drafts: the first round prefills the target (P - 1 tokens) and the draft
 * (P), drafts K - 1 more tokens and verifies K + 1; every later round runs a 2-token draft
 * pass, K - 1 one-token draft passes and a verify of K + 1. Rounds go in batches of
 * engine/speculative.ts `nextBatch` per submit (past the goal when a readback wait costs
 * `waitMs` >= OVERSHOOT_MIN_WAIT_MS, as the engine decides from its measured readback cost);
 * rounds of a batch past the goal run their passes and commit nothing. One wait per read: the
 * first round's, then one per batch (each read takes the accept log and the tokens).
 */
export function speculativeSchedule(
  promptTokens: number,
  n: number,
  k: number,
  rounds: readonly number[],
  cache: CachePolicy,
  waitMs: number,
): Schedule {
  const P = promptTokens;
  const chunk = Math.max(
    1,
    cache.kind === "sink"
      ? Math.max(Math.min(SINK_PREFILL_CHUNK, P), k + 1)
      : Math.min(PREFILL_CHUNK, Math.max(P, k + 1)),
  );
  const passes: ScheduledPass[] = [
    ...(P > 1 ? prefillPasses("target", P - 1, chunk, cache) : []),
    ...prefillPasses("draft", P, chunk, cache),
  ].map((p) => ({ ...p, timed: false }));
  // Committed tokens before each round (prompt included): the target has cached all but the
  // last, the draft likewise after its 2-token catch-up pass.
  const batches = batchedRounds(P, n, k, rounds, (len, first) => {
    if (!first) passes.push({ role: "draft", verify: false, T: 2, L: live(cache, len - 2) });
    for (let i = 1; i < k; i++) {
      passes.push({ role: "draft", verify: false, T: 1, L: live(cache, len - 1 + i) });
    }
    passes.push({ role: "target", verify: true, T: k + 1, L: live(cache, len - 1) });
  }, waitMs >= OVERSHOOT_MIN_WAIT_MS);
  return { passes, waits: 1 + batches };
}

/**
 * The rounds of a greedy loop as the engines submit them: the first round alone, then batches
 * until n tokens exist; `encode` adds one round's passes with `len` committed tokens (prompt
 * included) before it. Batches of `nextBatch` rounds (the tree loop never passes the goal),
 * those past the goal encoded but committing nothing, at most n + 1 rounds in all. Returns
 * the number of batches after the first round (one read each).
 */
function batchedRounds(
  promptTokens: number,
  n: number,
  depth: number,
  rounds: readonly number[],
  encode: (len: number, first: boolean) => void,
  overshoot = false,
): number {
  let len = promptTokens;
  let produced = 0;
  let logged = 0;
  let encoded = 0;
  let r = 0;
  const round = (first: boolean) => {
    encode(len, first);
    encoded++;
    if (produced >= n) return; // past the goal: the passes run, nothing is committed
    const a = Math.min(rounds[r++] ?? 0, depth);
    len += a + 1;
    produced += a + 1;
    logged++;
  };
  round(true);
  let batches = 0;
  while (produced < n) {
    const batch = Math.min(nextBatch(n, produced, logged, depth, overshoot), n + 1 - encoded);
    for (let i = 0; i < batch; i++) round(false);
    batches++;
  }
  return batches;
}

/**
 * Passes and waits of greedy token-tree decoding (engine/tree_speculative.ts) whose rounds
 * accept `rounds[r]` nodes: the first round prefills the target and the draft (P - 1 tokens
 * each, untimed); every round runs the draft's root pass (1 token in the first round, then 2:
 * the last accepted token and the root), one draft pass per deeper level over that level's
 * nodes (logits for every row, tree mask) and the target's verify of the root and every node
 * (N tokens); rounds go in batches of ceil((N_new - produced) / (D + 1)) per submit with one
 * read each; one wait for the first round and one read of its log, one final read of the
 * tokens and one of the accepted paths. The top-k and accept kernels inside those passes are
 * not priced (the pass kinds time model passes only).
 */
export function treeSchedule(
  promptTokens: number,
  n: number,
  tree: Pick<TokenTree, "widths" | "levels" | "parent">,
  rounds: readonly number[],
  cache: CachePolicy,
): Schedule {
  const P = promptTokens;
  const N = tree.parent.length;
  const D = tree.widths.length;
  const chunk = Math.max(
    1,
    Math.max(Math.min(cache.kind === "sink" ? SINK_PREFILL_CHUNK : PREFILL_CHUNK, P), N),
  );
  const passes: ScheduledPass[] = P > 1
    ? [
      ...prefillPasses("target", P - 1, chunk, cache),
      ...prefillPasses("draft", P - 1, chunk, cache),
    ].map((p) => ({ ...p, timed: false }))
    : [];
  const batches = batchedRounds(P, n, D, rounds, (len, first) => {
    passes.push(
      first
        ? { role: "draft", verify: false, T: 1, L: live(cache, len - 1) }
        : { role: "draft", verify: false, T: 2, L: live(cache, len - 2) },
    );
    for (let d = 1; d < D; d++) {
      const { start, count } = tree.levels[d];
      passes.push({
        role: "draft",
        verify: true,
        tree: true,
        T: count,
        L: live(cache, len - 1 + start),
      });
    }
    passes.push({ role: "target", verify: true, tree: true, T: N, L: live(cache, len - 1) });
  });
  // The first round's wait and log read, one read per batch, the tokens and the paths.
  return { passes, waits: 2 + batches + 2 };
}

/** GPU ms of a schedule's passes under the profile's pass model (only timed or untimed ones). */
export function scheduleGpuMs(
  costs: DeviceCosts,
  quant: "fp16" | "int8",
  s: Schedule,
  only?: "timed" | "untimed",
): number {
  let ms = 0;
  for (const p of s.passes) {
    if (only && (p.timed !== false) !== (only === "timed")) continue;
    // The draft always runs fp16 weights.
    const key = passKey(p.role, p.role === "draft" ? "fp16" : quant, p.verify, p.tree);
    ms += passMs(costs, key, p.T, p.L);
  }
  return ms;
}

/** Wall ms of a schedule: its passes plus per-wait and per-pass overheads. */
export function scheduleWallMs(
  costs: DeviceCosts,
  quant: "fp16" | "int8",
  s: Schedule,
): number {
  return (costs.overheads.passScale ?? 1) * scheduleGpuMs(costs, quant, s) +
    costs.overheads.perWaitMs * s.waits +
    costs.overheads.perPassMs * s.passes.length;
}

/** A loop whose passes ran this far from the median in-loop scale ran in a slow spell. */
const SPELL = 0.25;

/**
 * Overheads from loops: passScale = the median over loops of timed GPU ms / their pass model
 * ms (one loop in a slow spell of a shared machine cannot move it; the sum once gave 1.87
 * where quiet runs give 1.0-1.13); loops within 25% of it then fit wall - timed GPU -
 * passScale * untimed model = perWaitMs * waits + perPassMs * passes by least squares, both
 * kept >= 0 (a negative one is refitted as 0 with the other alone); the others are kept in
 * `loops`, marked `spell`.
 */
export function fitOverheads(loops: OverheadLoop[]): Overheads {
  const ratios = loops.filter((l) => l.timedModelMs > 0).map((l) => l.timedGpuMs / l.timedModelMs);
  const passScale = ratios.length ? median(ratios) : 1;
  const marked = loops.map((l): OverheadLoop => {
    const r = l.timedModelMs > 0 ? l.timedGpuMs / l.timedModelMs : passScale;
    const { spell: _, ...rest } = l;
    return Math.abs(r / passScale - 1) > SPELL ? { ...rest, spell: true } : rest;
  });
  let fitOn = marked.filter((l) => !l.spell);
  if (fitOn.length < 2) fitOn = marked;
  const y = fitOn.map((l) => l.wallMs - l.timedGpuMs - passScale * l.untimedModelMs);
  const x1 = fitOn.map((l) => l.waits), x2 = fitOn.map((l) => l.passes);
  const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
  const [perWaitMs, perPassMs] = nnls2(
    dot(x1, x1),
    dot(x1, x2),
    dot(x2, x2),
    dot(x1, y),
    dot(x2, y),
  );
  return {
    form: "passScale = median over loops of timed GPU / pass model; loops within 25% of it: " +
      "wall - timed GPU - passScale * untimed model = perWaitMs * waits + perPassMs * passes " +
      "(least squares, >= 0)",
    passScale,
    perWaitMs,
    perPassMs,
    fitError: fitErrorOf(
      fitOn.map((l) => ({
        fit: passScale * (l.timedModelMs + l.untimedModelMs) + perWaitMs * l.waits +
          perPassMs * l.passes,
        measured: l.wallMs,
      })),
    ),
    loops: marked,
  };
}

/** Mean and max of several fit errors (weighted by points). */
export function combineFitErrors(errors: FitError[]): FitError {
  const points = errors.reduce((s, e) => s + e.points, 0);
  return {
    meanRelPct: points ? errors.reduce((s, e) => s + e.meanRelPct * e.points, 0) / points : 0,
    maxRelPct: Math.max(0, ...errors.map((e) => e.maxRelPct)),
    points,
  };
}

/** Checks that parsed JSON is a device profile with pass costs. */
export function asDeviceCosts(json: unknown, path: string): DeviceCosts {
  const d = json as Partial<DeviceCosts>;
  if (d?.schema !== DEVICE_SCHEMA || typeof d.passes !== "object" || !d.overheads) {
    throw new RangeError(
      `${path}: not a device profile with pass costs (schema ${DEVICE_SCHEMA}; run mod.ts calibrate -o ${path})`,
    );
  }
  if (d.form !== PASS_FORM) {
    throw new RangeError(
      `${path}: device profile of another cost form ("${d.form}"); re-run mod.ts calibrate -o ${path}`,
    );
  }
  return d as DeviceCosts;
}

/**
 * `--k auto` inputs from a device profile at cache length L: c = T_draft(1) / T_target(1)
 * and K -> T_verify(K + 1) / T_target(1) (instead of the parameter ratio and a verify that
 * costs one target pass).
 */
export function kAutoCosts(
  costs: DeviceCosts,
  quant: "fp16" | "int8",
  L: number,
): { c: number; verifyCostRatio: (k: number) => number } {
  const t1 = passMs(costs, passKey("target", quant), 1, L);
  return {
    c: passMs(costs, passKey("draft", "fp16"), 1, L) / t1,
    verifyCostRatio: (k) => passMs(costs, passKey("target", quant, true), k + 1, L) / t1,
  };
}
