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
import { type Dispatch, encodeDispatches, type KernelLibrary } from "../kernels/kernel.ts";
import {
  type Linear,
  linear,
  type MatmulChoice,
  matmulChoice,
  matmulTuning,
  rowsTok,
  streamRead,
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
  /** Fastest GPU ticks of each candidate per dispatch, by its name (for reports). */
  ticks: Record<string, number>;
}

/** The device profile: tuned matmul choices by `tuneKey`, and how they were obtained. */
export interface DeviceProfile {
  adapter: string;
  matmul: Map<string, TunedMatmul>;
}

const profiles = new Map<string, DeviceProfile>();

/** The process-wide profile of this adapter (created empty). */
export function deviceProfile(gpu: Gpu): DeviceProfile {
  const i = gpu.adapterInfo;
  const adapter = `${i.vendor}|${i.architecture}|${i.device}|${i.description}`;
  let p = profiles.get(adapter);
  if (!p) profiles.set(adapter, p = { adapter, matmul: new Map() });
  return p;
}

/** Token buckets tuned: a pass of T tokens uses the choice of the smallest bucket >= T. */
export const TUNE_BUCKETS = [1, 4, 16] as const;

function bucket(T: number): number {
  return TUNE_BUCKETS.find((b) => T <= b) ?? TUNE_BUCKETS[TUNE_BUCKETS.length - 1];
}

/** Key of a weight shape and token bucket in the profile. */
export function tuneKey(m: Pick<Linear, "wt" | "N" | "K">, T: number): string {
  return `${m.wt} ${m.N}x${m.K} T<=${bucket(T)}`;
}

/**
 * Most partial sums (RPT x TOK) a matmul_rows candidate keeps per invocation: at 16 tokens RPT
 * 8 (128) beat RPT 4 by 1.1-1.3x on lavapipe (PERF.md).
 */
export const MAX_ACCUMULATORS = 128;

/**
 * Candidates timed for a matrix: matmul_rows at 1, 2, 4, 8 and 16 rows per invocation (at most
 * MAX_ACCUMULATORS partial sums), and matmul_f16x8.
 */

function candidates(m: Linear, T: number): MatmulChoice[] {
  if (m.wt !== "f16" || !m.chunks.every((c) => c.inter)) return [];
  const tok = rowsTok(T);
  const out: MatmulChoice[] = [1, 2, 4, 8, 16].filter((rpt) => rpt * tok <= MAX_ACCUMULATORS).map((
    rpt,
  ) => ({
    variant: "rows",
    tok,
    rpt,
  }));
  if (m.K % 8 === 0) out.push(matmulTuning("f16x8", T));
  return out;
}

function name(c: MatmulChoice): string {
  return `${c.variant}${c.rpt ? ` RPT=${c.rpt}` : ""}`;
}

/**
 * The kernel for `m` in a pass of T tokens: the profile's measured choice (TOK re-derived for
 * T), else the rule of `matmulChoice`.
 */
export function tunedChoice(profile: DeviceProfile | null, m: Linear, T: number): MatmulChoice {
  const t = profile?.matmul.get(tuneKey(m, T));
  if (!t) return matmulChoice(m, T);
  if (t.variant === "rows") return { variant: "rows", tok: rowsTok(T), rpt: t.rpt };
  return matmulTuning(t.variant, T);
}

/**
 * Times every candidate of every matrix in `linears` (distinct shapes only, those not yet in
 * the profile) at each tuned bucket and records the fastest. One submit and one readback in
 * all: each candidate runs `reps` dispatches in its own timestamped pass, `rounds` times
 * interleaved with the others; the fastest round counts.
 */
export async function tuneMatmuls(
  gpu: Gpu,
  lib: KernelLibrary,
  linears: Linear[],
  o: { rounds?: number; reps?: number } = {},
): Promise<DeviceProfile> {
  const profile = deviceProfile(gpu);
  if (!gpu.hasTimestamps) return profile;
  const rounds = o.rounds ?? 3;
  const reps = o.reps ?? 1;
  const jobs: { key: string; cands: { c: MatmulChoice; d: Dispatch[] }[] }[] = [];
  const seen = new Set<string>();
  const scratch: GPUBuffer[] = [];
  for (const m of linears) {
    for (const T of TUNE_BUCKETS) {
      const key = tuneKey(m, T);
      const cs = candidates(m, T);
      if (seen.has(key) || profile.matmul.has(key) || cs.length < 2) continue;
      seen.add(key);
      const x = storageBuffer(gpu, T * m.K * 4, "tune x");
      const y = storageBuffer(gpu, T * m.N * 4, "tune y");
      scratch.push(x, y);
      jobs.push({
        key,
        cands: cs.map((c) => ({ c, d: linear(lib, m, { x, y, T, variant: c, label: "tune" }) })),
      });
    }
  }
  const passes = jobs.reduce((s, j) => s + j.cands.length, 0) * rounds;
  if (passes === 0) return profile;
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
  const set = gpu.device.createQuerySet({ type: "timestamp", count: 2 * passes });
  const enc = gpu.device.createCommandEncoder();
  let q = 0;
  for (let r = 0; r < rounds; r++) {
    for (const j of jobs) {
      // Rotate the order each round so no candidate always runs first.
      for (let i = 0; i < j.cands.length; i++) {
        const cand = j.cands[(i + r) % j.cands.length];
        const cold = enc.beginComputePass();
        encodeDispatches(cold, [flush]);
        cold.end();
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
  scratch.forEach((b) => b.destroy());
  // Walk the passes in the order they were encoded.
  const samples = jobs.map((j) => j.cands.map(() => [] as number[]));
  q = 0;
  for (let r = 0; r < rounds; r++) {
    jobs.forEach((j, ji) => {
      for (let i = 0; i < j.cands.length; i++) {
        const ci = (i + r) % j.cands.length;
        samples[ji][ci].push(Number(ticks[q + 1] - ticks[q]) / reps);
        q += 2;
      }
    });
  }
  jobs.forEach((j, ji) => {
    // The fastest round: other work on a shared machine only ever adds time.
    const med = samples[ji].map((s) => Math.min(...s));
    // Ticks of 0 everywhere (an adapter without working timestamps): keep the rule.
    if (med.every((v) => !(v > 0))) return;
    let best = 0;
    med.forEach((v, i) => {
      if (v < med[best]) best = i;
    });
    const c = j.cands[best].c;
    profile.matmul.set(j.key, {
      variant: c.variant,
      rpt: c.rpt,
      ticks: Object.fromEntries(j.cands.map((cd, i) => [name(cd.c), med[i]])),
    });
  });
  return profile;
}
