/**
 * Matmul variant selection by measurement: for each distinct weight shape (type, N, K) and
 * bucket of tokens per pass, time the candidate kernels on this adapter with GPU timestamps
 * and keep the fastest, in a process-wide device profile (so a second load of the same
 * shapes, or the draft sharing a shape with the target, costs nothing). Where timestamps are
 * unavailable, or a shape has one candidate, the deterministic rule of ops.ts `matmulChoice`
 * stands. A choice changes speed only: every candidate agrees with the float64 reference
 * (tests/kernels_test.ts).
 */
import { type Gpu, readBuffer, storageBuffer } from "./device.ts";
import type { NeoxConfig } from "./config.ts";
import type { NeoxModel } from "./model.ts";
import { type Dispatch, encodeDispatches, type KernelLibrary } from "../kernels/kernel.ts";
import {
  appendsInAttention,
  argmax,
  ARGMAX_WG,
  attention,
  attentionChoice,
  attentionMultiFits,
  attentionName,
  attentionRowsFits,
  attentionSplitFits,
  type AttentionVariant,
  type HeadShape,
  int8RowsFit,
  isRowsVariant,
  LAYER_GROUPS,
  layerNormPair,
  type Linear,
  linear,
  type LinearOptions,
  type MatmulChoice,
  matmulChoice,
  matmulTuning,
  NORM_WG,
  readsWeightTexture,
  rotaryAppend,
  rowsTok,
  streamRead,
  tileFits,
  uniformXFits,
  weightTexture,
  WIDE_LANES,
} from "./ops.ts";

/**
 * Bytes read between timed candidates so that each finds its weights cold, as in a forward
 * pass where every matrix is read once (warm weights favoured the wrong layout on lavapipe).
 */
const FLUSH_BYTES = 16 << 20;

/** A measured choice: variant and rows per invocation (TOK follows from T at use). */
export interface TunedMatmul {
  variant: MatmulChoice["variant"];
  rpt?: number;
  /** The loop order, where the winner set it (else the default at the bucket's T). */
  xRegs?: boolean;
  /** Tiled kernels: lanes over K (MatmulChoice.lanes), where the winner set them. */
  lanes?: number;
  /** Fastest GPU ticks of each candidate per dispatch, by its name (for reports). */
  ticks: Record<string, number>;
}

/** A measured attention kernel for a head shape and token bucket. */
export interface TunedAttention {
  variant: AttentionVariant;
  /** Fastest GPU ticks of each candidate per dispatch, by kernel name (for reports). */
  ticks: Record<string, number>;
}

/**
 * The device profile: tuned matmul choices by `tuneKey`, attention kernels by
 * `attentionKey`, and how they were obtained.
 */
export interface DeviceProfile {
  adapter: string;
  matmul: Map<string, TunedMatmul>;
  attention: Map<string, TunedAttention>;
  /**
   * Row reductions: layernorm_pair by `normKey` (whether the barrier-free kernel won, else the
   * one-workgroup kernel's size `wg`) and argmax by `argmaxKey` (its workgroup size `wg`).
   */
  norm: Map<string, TunedReduction>;
  /**
   * One-token passes by `fusedKey`: whether one dispatch per layer won, and with how many
   * workgroups (1: decode_layer; more: decode_layer_split; absent: 1).
   */
  fused: Map<
    string,
    {
      fused: boolean;
      groups?: number;
      /** Layer by layer: the bucket whose matmul choices it runs (absent: 1). */
      matmulT?: number;
      ticks: Record<string, number>;
    }
  >;
  /**
   * Where choices measured by an earlier process came from (engine/tune_cache.ts); absent
   * when every choice was measured by this one.
   */
  restored?: TuneProvenance;
}

/** The tuning cache file a profile's earlier choices were read from, and when they were timed. */
export interface TuneProvenance {
  path: string;
  measuredAt: string;
  entries: number;
}

/** The profile's four maps of measured choices. */
export const PROFILE_MAPS = ["matmul", "attention", "norm", "fused"] as const;

const profiles = new Map<string, DeviceProfile>();

/** A profile with nothing measured: every choice falls back to the engine's rules. */
export function emptyProfile(adapter: string): DeviceProfile {
  return { adapter, matmul: new Map(), attention: new Map(), norm: new Map(), fused: new Map() };
}

/** The process-wide profile of this adapter (created empty). */
export function deviceProfile(gpu: Gpu): DeviceProfile {
  const i = gpu.adapterInfo;
  const adapter = `${i.vendor}|${i.architecture}|${i.device}|${i.description}`;
  let p = profiles.get(adapter);
  if (!p) profiles.set(adapter, p = emptyProfile(adapter));
  return p;
}

/** The matmul variants the tuner chooses among (`candidates`). */
export const TUNED_MATMUL_VARIANTS = [
  "rows",
  "rows_tex",
  "rows_ubo",
  "f16x8",
  "int8_rows",
  "int8_rows_tex",
  "int8_rows_ubo",
  "int8x16",
] as const;

/**
 * Token buckets tuned: a pass of T tokens uses the choice of the smallest bucket >= T. 8 lets
 * passes of 5-8 tokens (the paper's K = 5 and 7) run RPT 16 (RPT x TOK <= MAX_ACCUMULATORS):
 * on lavapipe their whole verify passes took 0.91-0.94x the time with the 16-token choices,
 * and a load's matmul tuning about twice as long (PERF.md).
 */
export const TUNE_BUCKETS = [1, 4, 8, 16] as const;

function bucket(T: number): number {
  return TUNE_BUCKETS.find((b) => T <= b) ?? TUNE_BUCKETS[TUNE_BUCKETS.length - 1];
}

/** Key of a weight shape and token bucket in the profile. */
export function tuneKey(m: Pick<Linear, "wt" | "N" | "K" | "group">, T: number): string {
  const group = m.wt === "int8" && m.group ? `-g${m.group}` : "";
  return `${m.wt}${group} ${m.N}x${m.K} T<=${bucket(T)}`;
}

/**
 * Most partial sums (RPT x TOK) a matmul_rows candidate keeps per invocation: at 16 tokens RPT
 * 8 (128) beat RPT 4 by 1.1-1.3x on lavapipe (PERF.md).
 */
export const MAX_ACCUMULATORS = 128;

/**
 * Candidates timed for a matrix: matmul_rows at 1, 4, 8 and 16 rows per invocation (at most
 * MAX_ACCUMULATORS partial sums; 2 never won on lavapipe, 1 keeps the most parallel shape for
 * a GPU), at 8 and 16 where the chunks have weight textures matmul_rows_ubo (x fits a uniform
 * binding) or else matmul_rows_tex, and matmul_f16x8. matmul_rows_ubo replaces its storage-x
 * twin rather than joining it: interleaved on lavapipe at the embedded pair's seven shapes, 1, 4
 * and 16 tokens, RPT 8 and 16, it took 0.79-1.08x its time (median 0.93; PERF.md), and each
 * candidate is a shader to compile at load. Where a few tokens (2 <= TOK <= RPT, RPT >= 8: the
 * buckets of 4 and 8) give the kernel a choice of loop order (MatmulChoice.xRegs), both are
 * timed: keeping x in registers is the default there, streaming the tokens won at 4 for 7 of the
 * embedded pair's 8 shapes on lavapipe, and at 8 for all 4 of the target's (PERF.md).
 */
function candidates(m: Linear, T: number, limits: GPUSupportedLimits): MatmulChoice[] {
  if (!m.chunks.every((c) => c.inter)) return tiledCandidates(m, T, limits);
  const tok = rowsTok(T);
  const rpts = [1, 4, 8, 16].filter((rpt) => rpt * tok <= MAX_ACCUMULATORS);
  const int8 = m.wt === "int8";
  if (int8 ? !int8RowsFit(m) : m.wt !== "f16") return [];
  const out: MatmulChoice[] = rpts.map((rpt) => ({
    variant: int8 ? "int8_rows" : "rows",
    tok,
    rpt,
  }));
  // The texture-weight kernel at the row counts that win on lavapipe (PERF.md).
  if (m.K % 4 === 0 && m.chunks.every((c) => c.tex)) {
    const ubo = uniformXFits(limits, m.K, T);
    const variant = int8
      ? (ubo ? "int8_rows_ubo" : "int8_rows_tex")
      : ubo
      ? "rows_ubo"
      : "rows_tex";
    for (const rpt of rpts.filter((r) => r >= 8)) out.push({ variant, tok, rpt });
  }
  const other = out.filter((c) => tok >= 2 && (c.rpt ?? 1) >= Math.max(8, tok));
  out.push(...other.map((c) => ({ ...c, xRegs: false })));
  // The workgroup-tiled kernel the rule picks without an interleaved copy.
  if (int8) out.push(matmulTuning("int8x16", T));
  else if (m.K % 8 === 0) out.push(matmulTuning("f16x8", T));
  return out;
}

/**
 * Candidates for a matrix without interleaved copies (f16 over INTERLEAVE_MAX_BYTES, such as
 * Pythia-2.8B's, or int8 not interleaved): the tiled kernel of the rule (f16x8, int8x16) in its
 * workgroup of 64 and in the wide one of 256 ({@link WIDE_LANES}) at 1 and 4 rows per
 * invocation, where its partial sums fit the workgroup memory. The wide one is for a GPU: on the
 * software adapter a workgroup runs on one core, and wider ones only add reduction work. (Twins
 * that staged x in workgroup memory ran within a few percent of these on an H200 and were
 * removed; PERF.md, session 15.)
 */
function tiledCandidates(m: Linear, T: number, limits: GPUSupportedLimits): MatmulChoice[] {
  const base = matmulChoice(m, T);
  if (base.variant !== "f16x8" && base.variant !== "int8x16") return [];
  const wide = [1, 4].map((rpt) => ({ ...base, rpt, lanes: WIDE_LANES }));
  return [base, ...wide].filter((c) => tileFits(limits, c));
}

/** A candidate's or measured choice's name in reports: variant, RPT and a chosen loop order. */
export function matmulName(c: Pick<MatmulChoice, "variant" | "rpt" | "xRegs" | "lanes">): string {
  const order = c.xRegs === undefined ? "" : ` XREGS=${Number(c.xRegs)}`;
  const lanes = c.lanes === undefined ? "" : ` KL=${c.lanes}`;
  return `${c.variant}${c.rpt ? ` RPT=${c.rpt}` : ""}${order}${lanes}`;
}

/**
 * The kernel for `m` in a pass of T tokens: the profile's measured choice (TOK re-derived for
 * T, the loop order the one timed), else the rule of `matmulChoice`.
 */
export function tunedChoice(
  profile: DeviceProfile | null,
  m: Linear,
  T: number,
  runT = T,
): MatmulChoice {
  // `runT`: the pass's own tokens where it runs the choices of passes of T (a one-token pass
  // on the T <= 4 bucket's, where tuneFused measured them faster).
  const t = profile?.matmul.get(tuneKey(m, T));
  if (!t) return matmulChoice(m, runT);
  if (t.lanes !== undefined) {
    return { ...matmulTuning(t.variant, runT), rpt: t.rpt, lanes: t.lanes };
  }
  if (isRowsVariant(t.variant)) {
    // The loop order it was timed with: by the default (TOK <= RPT) at T, passes of 5-8
    // tokens ran the order their bucket's 16-token timing had not, and on lavapipe took
    // longer than passes of 9 (PERF.md).
    const xRegs = t.xRegs ?? rowsTok(bucket(T)) <= (t.rpt ?? 1);
    return { variant: t.variant, tok: rowsTok(runT), rpt: t.rpt, xRegs };
  }
  return matmulTuning(t.variant, runT);
}

/**
 * A matrix to tune and the epilogue its passes run (its bias comes with it): the kernels take
 * the epilogue as a constant (kernels/matmul_tile.wgsl), so the candidates are timed, and
 * their pipelines compiled, as the passes will run them.
 */
export interface TuneMatrix extends Pick<LinearOptions, "act" | "accumulate"> {
  m: Linear;
}

/**
 * Times every candidate of every matrix in `mats` (distinct shapes only, those not yet in
 * the profile) at each tuned bucket and records the fastest. One submit and one readback in
 * all: each candidate runs `reps` dispatches in its own timestamped pass, `rounds` times
 * interleaved with the others; the fastest round counts. Interleaved chunks get weight
 * textures first (matmul_rows_tex's candidates); those no measured choice reads are freed.
 */
export async function tuneMatmuls(
  gpu: Gpu,
  lib: KernelLibrary,
  mats: TuneMatrix[],
  o: { rounds?: number; reps?: number } = {},
): Promise<DeviceProfile> {
  const linears = mats.map((t) => t.m);
  const profile = deviceProfile(gpu);
  if (!gpu.hasTimestamps) return profile;
  addWeightTextures(gpu, linears);
  const rounds = o.rounds ?? 3;
  const reps = o.reps ?? 1;
  const jobs: { key: string; cands: { c: MatmulChoice; d: Dispatch[] }[] }[] = [];
  const seen = new Set<string>();
  const scratch: GPUBuffer[] = [];
  for (const { m, act, accumulate } of mats) {
    for (const T of TUNE_BUCKETS) {
      const key = tuneKey(m, T);
      const cs = candidates(m, T, gpu.device.limits);
      if (seen.has(key) || profile.matmul.has(key) || cs.length < 2) continue;
      seen.add(key);
      const x = storageBuffer(gpu, T * m.K * 4, "tune x");
      const y = storageBuffer(gpu, T * m.N * 4, "tune y");
      scratch.push(x, y);
      jobs.push({
        key,
        cands: cs.map((c) => ({
          c,
          d: linear(lib, m, { x, y, T, act, accumulate, variant: c, label: "tune" }),
        })),
      });
    }
  }
  if (jobs.length > 0) await timeMatmuls(gpu, lib, profile, jobs, { rounds, reps }, scratch);
  dropUnusedTextures(profile, linears);
  return profile;
}

/** Times the matmul jobs (each candidate after a read that evicts its weights); records the fastest. */
async function timeMatmuls(
  gpu: Gpu,
  lib: KernelLibrary,
  profile: DeviceProfile,
  jobs: { key: string; cands: { c: MatmulChoice; d: Dispatch[] }[] }[],
  o: { rounds: number; reps: number },
  scratch: GPUBuffer[],
): Promise<void> {
  const flushSrc = storageBuffer(gpu, FLUSH_BYTES, "tune flush");
  const flushOut = storageBuffer(gpu, 64 * 64 * 16, "tune flush out");
  scratch.push(flushSrc, flushOut);
  const flush = streamRead(lib, {
    src: flushSrc,
    out: flushOut,
    bytes: FLUSH_BYTES,
    workgroups: 64,
    fma: 0,
    layout: 1,
  });
  await keepFastest(gpu, jobs, { ...o, before: flush }, (j, at, ticks) => {
    const c = j.cands[at].c;
    profile.matmul.set(j.key, {
      variant: c.variant,
      rpt: c.rpt,
      ...(c.xRegs === undefined ? {} : { xRegs: c.xRegs }),
      ...(c.lanes === undefined ? {} : { lanes: c.lanes }),
      ticks: Object.fromEntries(j.cands.map((cd, i) => [matmulName(cd.c), ticks[i]])),
    });
  });
  scratch.forEach((b) => b.destroy());
}

/**
 * Gives every interleaved chunk (K % 4 == 0) its weight texture, so that matmul_rows_tex is
 * among the candidates: copied on the GPU, one submit.
 */
function addWeightTextures(gpu: Gpu, linears: Linear[]): void {
  const enc = gpu.device.createCommandEncoder();
  for (const m of linears) {
    for (const c of m.chunks) {
      if (c.inter && !c.tex && m.K % 4 === 0) {
        c.tex = weightTexture(gpu.device, enc, c.inter, c.inter.label);
      }
    }
  }
  gpu.device.queue.submit([enc.finish()]);
}

/** Frees the weight textures of matrices whose measured choices never read them. */
function dropUnusedTextures(profile: DeviceProfile, linears: Linear[]): void {
  for (const m of linears) {
    if (TUNE_BUCKETS.some((T) => readsWeightTexture(profile.matmul.get(tuneKey(m, T))?.variant))) {
      continue;
    }
    for (const c of m.chunks) {
      c.tex?.destroy();
      c.tex = undefined;
    }
  }
}

/**
 * Times every job's candidates ({@link timeCandidates}) and calls `keep` with the fastest of
 * each: its index and every candidate's fastest round (other work on a shared machine only
 * ever adds time). A job whose ticks are all 0 (an adapter without working timestamps) is
 * skipped: the rule stands.
 */
async function keepFastest<J extends { cands: { d: Dispatch[] }[] }>(
  gpu: Gpu,
  jobs: J[],
  o: { rounds: number; reps: number; before?: Dispatch },
  keep: (job: J, at: number, ticks: number[]) => void,
): Promise<void> {
  const samples = await timeCandidates(gpu, jobs, o);
  jobs.forEach((j, ji) => {
    const ticks = samples[ji].map((s) => Math.min(...s));
    if (ticks.every((v) => !(v > 0))) return;
    let at = 0;
    ticks.forEach((v, i) => {
      if (v < ticks[at]) at = i;
    });
    keep(j, at, ticks);
  });
}

/**
 * Times the candidates of every job in one submit and one readback: each candidate runs
 * `reps` times its dispatches in its own timestamped pass (after `before`, untimed, when
 * given), `rounds` times interleaved with the others, the order rotated every round.
 * Returns GPU ticks per repetition: [job][candidate][round].
 */
async function timeCandidates(
  gpu: Gpu,
  jobs: { cands: { d: Dispatch[] }[] }[],
  o: { rounds: number; reps: number; before?: Dispatch },
): Promise<number[][][]> {
  const { rounds, reps } = o;
  const passes = jobs.reduce((s, j) => s + j.cands.length, 0) * rounds;
  const set = gpu.device.createQuerySet({ type: "timestamp", count: 2 * passes });
  const enc = gpu.device.createCommandEncoder();
  let q = 0;
  for (let r = 0; r < rounds; r++) {
    for (const j of jobs) {
      for (let i = 0; i < j.cands.length; i++) {
        const cand = j.cands[(i + r) % j.cands.length];
        if (o.before) {
          const cold = enc.beginComputePass();
          encodeDispatches(cold, [o.before]);
          cold.end();
        }
        const pass = enc.beginComputePass({
          timestampWrites: {
            querySet: set,
            beginningOfPassWriteIndex: q,
            endOfPassWriteIndex: q + 1,
          },
        });
        for (let k = 0; k < reps; k++) encodeDispatches(pass, cand.d);
        pass.end();
        q += 2;
      }
    }
  }
  const buf = gpu.device.createBuffer({
    size: 8 * q,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  enc.resolveQuerySet(set, 0, q, buf, 0);
  gpu.device.queue.submit([enc.finish()]);
  const ticks = new BigUint64Array(await readBuffer(gpu, buf));
  buf.destroy();
  set.destroy();
  // Walk the passes in the order they were encoded.
  const samples = jobs.map((j) => j.cands.map(() => [] as number[]));
  q = 0;
  for (let r = 0; r < rounds; r++) {
    jobs.forEach((j, ji) => {
      for (let i = 0; i < j.cands.length; i++) {
        samples[ji][(i + r) % j.cands.length].push(Number(ticks[q + 1] - ticks[q]) / reps);
        q += 2;
      }
    });
  }
  return samples;
}

/**
 * Invocations a head of attention_split: one 256-bit vector of lavapipe's, and a GPU's
 * subgroup (32).
 */
export const ATTENTION_SPLIT_LANES = [8, 32] as const;

/**
 * attention_multi's candidate: 8 invocations over the keys (one 256-bit vector of lavapipe's),
 * each folding its keys into blocks of 4 queries (larger passes run several blocks). Blocks of
 * 8 were faster at 8 tokens (494 against 618 us at 256 keys) but lavapipe took 12 s to compile
 * that shader (its loops unrolled) against 3.4 s, at every load that tunes a new head shape, and
 * the CI suite ran out of time (PERF.md).
 */
export const ATTENTION_MULTI: AttentionVariant & { variant: "multi" } = {
  variant: "multi",
  lanes: 8,
  tq: 4,
};

/**
 * Cached entries the attention candidates and tuneFused's passes are timed over: their sum
 * gives the choice of a pass not told its length, each alone the choice of a pass told a length
 * nearest it ({@link byNearestLength}). A short cache and the paper's middle one (timed at 256
 * alone, the tuner took attention kernels that were 20% slower at 52).
 */
export const ATTENTION_TUNE_LENGTHS = [64, 256] as const;

/** Key of a head shape and token bucket in the profile. */
export function attentionKey(s: Omit<HeadShape, "T">, T: number): string {
  return `attention H=${s.H} hd=${s.hd} rot=${s.rot} T<=${bucket(T)}`;
}

/** Key of a pass's attention timed at L cached entries alone (L of the tune lengths). */
export function attentionLengthKey(s: Omit<HeadShape, "T">, L: number, T = 1): string {
  return `${attentionKey(s, T)} L=${L}`;
}

/**
 * The tuned length nearest to `cacheLen` attended keys, on a log scale (64 up to 128, 256
 * above): which of the per-length one-token choices a pass over that cache runs.
 */
export function nearestTuneLength(cacheLen: number): number {
  const Ls = ATTENTION_TUNE_LENGTHS;
  let best: number = Ls[0];
  for (const L of Ls) {
    if (Math.abs(Math.log(cacheLen / L)) < Math.abs(Math.log(cacheLen / best))) best = L;
  }
  return best;
}

/**
 * The entry of `map` timed at the tuned length nearest `cacheLen` (key `atLength(L)`), where the
 * pass was told its length and there is one; else the one timed over the lengths summed (key
 * `summed`; also what a tuning file from before per-length timing holds).
 */
function byNearestLength<V>(
  map: Map<string, V> | undefined,
  summed: string,
  atLength: (L: number) => string,
  cacheLen?: number,
): V | undefined {
  const v = cacheLen === undefined ? undefined : map?.get(atLength(nearestTuneLength(cacheLen)));
  return v ?? map?.get(summed);
}

/**
 * The attention kernel for heads `s` in a pass of T tokens: measured, else the default. A
 * pass told the keys it attends (`cacheLen`, as plain decoding and speculative rounds know
 * them) runs the kernel measured at the nearest tuned length alone: on lavapipe
 * attention_split wins one-token passes at 256 cached entries and attention_rows at the
 * bench's ~52 (with their sum's choice the decode step was slower than a verify of 2 tokens),
 * and attention_multi verify passes of up to 4 tokens at both (PERF.md).
 */
export function tunedAttention(
  profile: DeviceProfile | null,
  s: Omit<HeadShape, "T">,
  T: number,
  cacheLen?: number,
): AttentionVariant | undefined {
  return byNearestLength(
    profile?.attention,
    attentionKey(s, T),
    (L) => attentionLengthKey(s, L, T),
    cacheLen,
  )?.variant;
}

/**
 * Times the attention kernels for heads `s` at each token bucket over each of
 * ATTENTION_TUNE_LENGTHS cached entries (their sum counts, and each length alone:
 * {@link attentionLengthKey}): the device's default (attention.wgsl or its tiled fallback)
 * and, where the shape allows it, the barrier-free attention_rows, attention_split at each of
 * ATTENTION_SPLIT_LANES and, for passes of several tokens, attention_multi with the bucket's
 * block of queries (ATTENTION_MULTI); records the fastest.
 */
export async function tuneAttention(
  gpu: Gpu,
  lib: KernelLibrary,
  s: Omit<HeadShape, "T">,
  o: { rounds?: number; reps?: number } = {},
): Promise<DeviceProfile> {
  const profile = deviceProfile(gpu);
  if (!gpu.hasTimestamps || !attentionRowsFits(s.hd, s.rot)) return profile;
  const wgBytes = gpu.device.limits.maxComputeWorkgroupStorageSize;
  const common: AttentionVariant[] = [
    attentionChoice(wgBytes),
    { variant: "rows" },
    ...ATTENTION_SPLIT_LANES.filter((n) => attentionSplitFits(s.hd, s.rot, n, wgBytes)).map((
      lanes,
    ) => ({ variant: "split", lanes }) as const),
  ];
  const scratch: GPUBuffer[] = [];
  const jobs: { key: string; cands: { v: AttentionVariant; d: Dispatch[] }[] }[] = [];
  for (const T of TUNE_BUCKETS) {
    const key = attentionKey(s, T);
    const { lanes, tq } = ATTENTION_MULTI;
    const multi = T > 1 && attentionMultiFits(s.hd, s.rot, lanes, tq, wgBytes);
    const variants = multi ? [...common, ATTENTION_MULTI] : common;
    // Each length alone too (a tuning cache written before them lacks them).
    const alone = ATTENTION_TUNE_LENGTHS.map((L) => attentionLengthKey(s, L, T))
      .filter((k) => !profile.attention.has(k));
    if (profile.attention.has(key) && alone.length === 0) continue;
    // One dispatch over each of ATTENTION_TUNE_LENGTHS cached entries: a candidate's time is
    // their sum.
    const places = ATTENTION_TUNE_LENGTHS.map((L) => {
      const C = L + T;
      const entry = s.H * s.hd * 4;
      const state = storageBuffer(gpu, 64, "tune state");
      gpu.device.queue.writeBuffer(state, 0, new Uint32Array([L, L]));
      const bufs = {
        q: storageBuffer(gpu, T * entry, "tune q"),
        kCache: storageBuffer(gpu, C * entry, "tune k"),
        vCache: storageBuffer(gpu, C * entry, "tune v"),
        cosSin: storageBuffer(gpu, C * Math.max(4, s.rot * 4), "tune cos/sin"),
        out: storageBuffer(gpu, T * entry, "tune out"),
      };
      scratch.push(state, ...Object.values(bufs));
      return { ...bufs, state, C };
    });
    // Time what the pass would run: the rotary and cache append folded into the kernel where
    // it does that (appendsInAttention), else a rotary_append dispatch before it.
    const qkv = storageBuffer(gpu, 3 * T * s.H * s.hd * 4, "tune qkv");
    scratch.push(qkv);
    const run = (v: AttentionVariant, b: (typeof places)[number]): Dispatch[] =>
      appendsInAttention(v, T)
        ? [attention(lib, { ...s, ...b, T, variant: v, qkv, label: "tune" })]
        : [
          rotaryAppend(lib, { ...s, ...b, T, qkv, label: "tune" }),
          attention(lib, { ...s, ...b, T, variant: v, label: "tune" }),
        ];
    if (!profile.attention.has(key)) {
      jobs.push({ key, cands: variants.map((v) => ({ v, d: places.flatMap((b) => run(v, b)) })) });
    }
    ATTENTION_TUNE_LENGTHS.forEach((L, i) => {
      const k = attentionLengthKey(s, L, T);
      if (alone.includes(k)) {
        jobs.push({ key: k, cands: variants.map((v) => ({ v, d: run(v, places[i]) })) });
      }
    });
  }
  if (jobs.length === 0) return profile;
  await keepFastest(gpu, jobs, { rounds: o.rounds ?? 3, reps: o.reps ?? 2 }, (j, at, ticks) => {
    profile.attention.set(j.key, {
      variant: j.cands[at].v,
      ticks: Object.fromEntries(j.cands.map((c, i) => [attentionName(c.v), ticks[i]])),
    });
  });
  scratch.forEach((b) => b.destroy());
  return profile;
}

/** A measured row reduction (the profile's `norm` map). */
export interface TunedReduction {
  /** layernorm_pair: the one-invocation-per-row kernel won (argmax: always false). */
  rows: boolean;
  /** The one-workgroup kernel's invocations, where not its default (NORM_WG, ARGMAX_WG). */
  wg?: number;
  ticks: Record<string, number>;
}

/**
 * Workgroup sizes timed for the row reductions besides their defaults (layernorm_pair's 64,
 * argmax's 32, lavapipe's): 256, WebGPU's default limit of invocations. On an H200 an
 * invocation's loads run one after another, and layernorm_pair of 2560 took 38 us a row in 64
 * (PERF.md).
 */
export const WIDE_REDUCTION_WG = 256;

/** Key of a row width and token bucket in the profile. */
export function normKey(d: number, T: number): string {
  return `layernorm_pair d=${d} T<=${bucket(T)}`;
}

/**
 * A row reduction's kernel in reports and tick names: layernorm_pair_rows, or layernorm_pair or
 * argmax (by the profile key) at its workgroup size.
 */
export function reductionName(key: string, r: { rows: boolean; wg?: number }): string {
  if (r.rows) return "layernorm_pair_rows";
  return key.startsWith("argmax")
    ? `argmax WG=${r.wg ?? ARGMAX_WG}`
    : `layernorm_pair WG=${r.wg ?? NORM_WG}`;
}

/** Key of an argmax over V logits in the profile. */
export function argmaxKey(V: number): string {
  return `argmax V=${V}`;
}

/**
 * The measured layernorm_pair kernel for rows of d in a pass of T: the rows one, or the
 * one-workgroup one of `wg` invocations (undefined: its default).
 */
export function tunedNorm(
  profile: DeviceProfile | null,
  d: number,
  T: number,
): { rows: boolean; wg?: number } {
  const t = profile?.norm.get(normKey(d, T));
  return { rows: t?.rows ?? false, wg: t?.wg };
}

/** The measured argmax workgroup size over V logits (undefined: its default). */
export function tunedArgmaxWg(profile: DeviceProfile | null, V: number): number | undefined {
  return profile?.norm.get(argmaxKey(V))?.wg;
}

/**
 * Times one argmax over V logits at its default workgroup (ARGMAX_WG) and WIDE_REDUCTION_WG;
 * records the faster.
 */
export async function tuneArgmax(
  gpu: Gpu,
  lib: KernelLibrary,
  V: number,
  o: { rounds?: number; reps?: number } = {},
): Promise<DeviceProfile> {
  const profile = deviceProfile(gpu);
  const key = argmaxKey(V);
  if (!gpu.hasTimestamps || profile.norm.has(key)) return profile;
  const state = storageBuffer(gpu, 16, "tune state");
  const logits = storageBuffer(gpu, V * 4, "tune logits");
  const tokens = storageBuffer(gpu, 64, "tune tokens");
  // Its default (ARGMAX_WG) and the wide one.
  const kinds: TunedReduction["wg"][] = [undefined, WIDE_REDUCTION_WG];
  const cands = kinds.map((wg) => ({
    d: [argmax(lib, { state, logits, tokens, V, row: 0, T: 1, wg, label: "tune" })],
  }));
  await keepFastest(gpu, [{ cands }], { rounds: o.rounds ?? 3, reps: o.reps ?? 4 }, (_j, at, t) => {
    const name = (wg?: number) => reductionName(key, { rows: false, wg });
    const ticks = Object.fromEntries(kinds.map((wg, i) => [name(wg), t[i]]));
    profile.norm.set(key, { rows: false, ...(kinds[at] ? { wg: kinds[at] } : {}), ticks });
  });
  [state, logits, tokens].forEach((b) => b.destroy());
  return profile;
}

/**
 * Times layernorm_pair (one workgroup per row, of NORM_WG and of WIDE_REDUCTION_WG) against
 * layernorm_pair_rows (one invocation per row, no barrier) for rows of d at each token bucket;
 * records the fastest.
 */
export async function tuneNorms(
  gpu: Gpu,
  lib: KernelLibrary,
  d: number,
  o: { rounds?: number; reps?: number } = {},
): Promise<DeviceProfile> {
  const profile = deviceProfile(gpu);
  if (!gpu.hasTimestamps || d % 4 !== 0) return profile;
  const scratch: GPUBuffer[] = [];
  const jobs: { key: string; cands: { d: Dispatch[] }[] }[] = [];
  const param = (n: number, label: string) => {
    const b = storageBuffer(gpu, n * 4, label);
    scratch.push(b);
    return b;
  };
  const norm = () => ({ weight: param(d, "tune w"), bias: param(d, "tune b") });
  // The default workgroup (NORM_WG), the rows kernel and the wide workgroup.
  const kinds: { rows: boolean; wg?: number }[] = [
    { rows: false },
    { rows: true },
    { rows: false, wg: WIDE_REDUCTION_WG },
  ];
  for (const T of TUNE_BUCKETS) {
    const key = normKey(d, T);
    if (profile.norm.has(key)) continue;
    const io = {
      x: param(T * d, "tune x"),
      y1: param(T * d, "tune y1"),
      y2: param(T * d, "tune y2"),
    };
    const ws = { norm1: norm(), norm2: norm() };
    jobs.push({
      key,
      cands: kinds.map((k) => ({
        d: [layerNormPair(lib, { ...io, ...ws, ...k, T, d, eps: 1e-5, label: "tune" })],
      })),
    });
  }
  if (jobs.length === 0) return profile;
  await keepFastest(gpu, jobs, { rounds: o.rounds ?? 3, reps: o.reps ?? 4 }, (j, at, t) => {
    const ticks = Object.fromEntries(kinds.map((k, i) => [reductionName(j.key, k), t[i]]));
    profile.norm.set(j.key, { ...kinds[at], ticks });
  });
  scratch.forEach((b) => b.destroy());
  return profile;
}

/** A one-dispatch layer's name in reports: decode_layer, or split over G workgroups. */
const fusedName = (g: number) => g === 1 ? "decode_layer" : `split G=${g}`;

/**
 * A one-dispatch layer (decode_layer, decode_layer_split) is taken only when its pass is faster
 * than this fraction of the layer-by-layer one: decode_layer runs each layer in one workgroup,
 * so on a software adapter one core does the work of all, and at parity the tuner flipped
 * between the two from load to load on noise (in
 * passes timed back to back, the draft with decode_layer took 1.2-2.9 ms against 1.1-1.9 layer
 * by layer at cache 20-256, in one process; PERF.md).
 */
export const FUSED_MARGIN = 0.9;

/** Key of a model shape in the profile's one-token pass choices. */
export function fusedKey(c: NeoxConfig): string {
  return `decode_layer d=${c.hiddenSize} ff=${c.intermediateSize} H=${c.numHeads} hd=${c.headDim} rot=${c.rotaryDims} layers=${c.numLayers}`;
}

/**
 * The one-token pass whose whole-pass ticks `t` are least (`names`: layer by layer on the T <= 1
 * matmul choices, on ONE_TOKEN_ALT_BUCKET's, then one dispatch a layer at each of `groups`): a
 * fused layer only under FUSED_MARGIN of layer by layer, the alternative bucket only under
 * ALT_BUCKET_MARGIN of the T <= 1 one.
 */
function fusedChoice(names: string[], groups: number[], t: number[]) {
  const useAlt = t[1] < ALT_BUCKET_MARGIN * t[0];
  const layers = useAlt ? t[1] : t[0];
  const best = groups.length === 0
    ? -1
    : groups.reduce((b, _g, i) => t[2 + i] < t[2 + b] ? i : b, 0);
  const fused = best >= 0 && t[2 + best] < FUSED_MARGIN * layers;
  return {
    fused,
    ...(best >= 0 ? { groups: groups[best] } : {}),
    // The fused candidates ran embed_out on the T <= 1 choice: kept only layer by layer.
    ...(useAlt && !fused ? { matmulT: ONE_TOKEN_ALT_BUCKET } : {}),
    ticks: Object.fromEntries(names.map((n, i) => [n, t[i]])),
  };
}

/**
 * The measured one-token pass of this shape: null layer by layer, else the workgroups of its
 * one dispatch per layer (1: decode_layer, more: decode_layer_split).
 */
export function tunedFused(
  profile: DeviceProfile | null,
  c: NeoxConfig,
  cacheLen?: number,
): number | null {
  const f = fusedEntry(profile, c, cacheLen);
  return f?.fused ? f.groups ?? 1 : null;
}

/** Key of the one-token pass timed at L cached entries alone (L of the tune lengths). */
export function fusedLengthKey(c: NeoxConfig, L: number): string {
  return `${fusedKey(c)} L=${L}`;
}

/**
 * The one-token pass choice for a pass of this shape, by its length where told
 * ({@link byNearestLength}). On lavapipe (AMD EPYC) the draft's decode_layer_split at G = 2 took
 * 0.66 ms a pass at 52 cached entries against 0.80 layer by layer, and 1.01 against 0.89 at
 * 256: the sum's choice ran the slower pass at the bench's lengths (PERF.md).
 */
function fusedEntry(profile: DeviceProfile | null, c: NeoxConfig, cacheLen?: number) {
  return byNearestLength(profile?.fused, fusedKey(c), (L) => fusedLengthKey(c, L), cacheLen);
}

/**
 * The token bucket whose matmul choices a layer-by-layer one-token pass of this shape runs: 1,
 * or ONE_TOKEN_ALT_BUCKET where tuneFused measured that pass faster on them.
 */
export function oneTokenMatmulT(
  profile: DeviceProfile | null,
  c: NeoxConfig,
  cacheLen?: number,
): number {
  return fusedEntry(profile, c, cacheLen)?.matmulT ?? 1;
}

/**
 * The bucket whose matmul choices tuneFused also times a whole one-token pass on: each matmul's
 * T <= 1 choice is timed alone, after a flush, and on lavapipe the pass ran slower on them
 * than a verify of 2 tokens on the T <= 4 choices (6.7-6.9 ms against 6.7, PERF.md).
 */
export const ONE_TOKEN_ALT_BUCKET = 4;

/**
 * A one-token pass on ONE_TOKEN_ALT_BUCKET's matmuls is kept where it is faster than this
 * fraction of the pass on the T <= 1 ones (within it, the per-matmul timings stand).
 */
export const ALT_BUCKET_MARGIN = 0.97;

/**
 * Times a whole one-token pass of `model` (logits and argmax) layer by layer with the tuned
 * kernels against one dispatch per layer - decode_layer's one workgroup and decode_layer_split's
 * LAYER_GROUPS - where the model fits them, over each of ATTENTION_TUNE_LENGTHS cached entries;
 * records, over the lengths summed and at each alone ({@link fusedLengthKey}), the fastest
 * one-dispatch layer where it wins by FUSED_MARGIN. Run after the other tuners: the
 * layer-by-layer pass uses their choices.
 */
export async function tuneFused(
  gpu: Gpu,
  model: NeoxModel,
  o: { rounds?: number; reps?: number } = {},
): Promise<DeviceProfile> {
  const profile = deviceProfile(gpu);
  const keys = [
    fusedKey(model.cfg),
    ...ATTENTION_TUNE_LENGTHS.map((L) => fusedLengthKey(model.cfg, L)),
  ];
  if (!gpu.hasTimestamps || keys.every((k) => profile.fused.has(k))) return profile;
  // Re-timed whole (a file from before per-length timing holds the sum's choice only), and
  // the layer-by-layer candidates must not be built as a fused pass by an earlier choice.
  keys.forEach((k) => profile.fused.delete(k));
  const opts = { logits: "last", argmax: true, advance: false } as const;
  const seqs = ATTENTION_TUNE_LENGTHS.map((L) => {
    const seq = model.newSequence({ capacity: L + 1, maxTokens: L + 2, maxT: 1 });
    seq.setState(L, L);
    return seq;
  });
  try {
    // A shape's workgroup memory grows with the cache (decode_layer keeps a row of scores a
    // head): a one-dispatch layer is a candidate only where it fits at every tuned length
    // (pythia-70m fits 65 slots, not 257, in 32 KiB). Longer caches fall back to layer by
    // layer in buildPass.
    const groups = [1, ...LAYER_GROUPS].filter((g) =>
      seqs.every((seq) => model.fusedLayersFit(seq, g))
    );
    // Layer by layer on the T <= 1 matmul choices, on ONE_TOKEN_ALT_BUCKET's, then the fused.
    const alt = ONE_TOKEN_ALT_BUCKET;
    const names = ["layers", `layers T<=${alt} matmuls`, ...groups.map(fusedName)];
    // Each length's layer-by-layer pass runs the attention measured at that length alone.
    const jobs = seqs.map((seq, i) => {
      const layers = (matmulT: number) =>
        model.buildPass(seq, 1, { ...opts, matmulT, cacheLen: ATTENTION_TUNE_LENGTHS[i] });
      return {
        cands: [layers(1), layers(alt), ...groups.map((g) => model.fusedPass(seq, opts, g)!)]
          .map((d) => ({ d })),
      };
    });
    // Pipelines compiled and first runs done before the timed rounds.
    await timeCandidates(gpu, jobs, { rounds: 1, reps: 1 });
    const samples = await timeCandidates(gpu, jobs, { rounds: o.rounds ?? 5, reps: o.reps ?? 3 });
    // Over the lengths summed, then at each alone (samples follow ATTENTION_TUNE_LENGTHS).
    const sums = names.map((_n, i) => samples.reduce((sum, s) => sum + Math.min(...s[i]), 0));
    const each = samples.map((s) => names.map((_n, i) => Math.min(...s[i])));
    if (![sums, ...each].every((t) => t.every((v) => v > 0))) return profile;
    [sums, ...each].forEach((t, i) => profile.fused.set(keys[i], fusedChoice(names, groups, t)));
  } finally {
    seqs.forEach((s) => s.destroy());
  }
  return profile;
}
