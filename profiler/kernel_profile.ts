/**
 * Per-kernel GPU time of one forward pass: every dispatch of `Sequence.plan(T, ...)` runs in
 * its own compute pass with timestamp writes, so each kernel's time is measured alone (the
 * per-pass cost of a real GPU shows in small kernels). Rows are summed per dispatch label
 * ("query_key_value", "attention", "embed_out", ...) and carry the bytes and FLOPs the kernel
 * must move and compute, read from each dispatch's metadata (engine/ops.ts), so that `withFloors` can set each kernel
 * against the adapter's measured streaming-read bandwidth and arithmetic rate
 * (`measureAdapter`, kernels/stream_read.wgsl).
 */
import { type Gpu, gpuIdle, storageBuffer } from "../engine/device.ts";
import { NeoxError } from "../engine/errors.ts";
import type { PassName } from "../engine/hooks.ts";
import type { NeoxModel, PassOptions, Sequence } from "../engine/model.ts";
import { advance, streamRead } from "../engine/ops.ts";
import { type Dispatch, encodeDispatches, KernelLibrary } from "../kernels/kernel.ts";
import { calibrateNsPerTick, type GpuTimer } from "./gpu_timer.ts";

/** GPU time of one kernel (all its dispatches) in one pass, with what it moves and computes. */
export interface KernelProfileRow {
  /** Dispatch label, e.g. "query_key_value". */
  name: string;
  /** The WGSL kernel it ran (its pipeline's source name, e.g. "matmul_vec4"). */
  kernel: string;
  /** "target" (one decode token), "draft" (one draft token) or "verify" (K + 1 tokens). */
  pass: string;
  /** Readable shape of one dispatch, e.g. "1x384 * 1152x384^T f16". */
  shape: string;
  /** Dispatches of this kernel in the pass (one per layer for layer kernels). */
  count: number;
  /** GPU time of all of them, ms (median over repetitions, per dispatch). */
  ms: number;
  /** Weight + activation bytes read and written by all of them (null: unknown kernel). */
  bytes: number | null;
  /** Floating-point operations of all of them (null: unknown kernel). */
  flops: number | null;
}

/** Options of {@link profileKernels}. */
export interface ProfileKernelOptions {
  /** Row pass name (default: "target" for T = 1, "verify" otherwise). */
  pass?: PassName;
  /**
   * Pass options (default: a decode step for T = 1 - last logits, argmax, advance - and a
   * verify pass otherwise - all logits, no argmax, no advance).
   */
  passOptions?: PassOptions;
  /** Cache length the pass starts from (default: half the sequence's capacity, room for T). */
  cacheLen?: number;
  /** Repetitions; each dispatch's time is the median (default 5). */
  reps?: number;
}

/** The adapter's measured rates, the roofline the kernels are set against. */
export interface AdapterRates {
  /** copyBufferToBuffer of `copyBytes`, GB/s counting read + write. */
  copyGBs: number;
  copyBytes: number;
  /** Streaming read of `readBytes` by a compute kernel (kernels/stream_read.wgsl), GB/s. */
  computeReadGBs: number;
  readBytes: number;
  /** The stream_read launch that gave computeReadGBs. */
  readLaunch: string;
  /** f32 fused multiply-add rate of the same kernel on a cache-resident buffer, GFLOP/s. */
  computeGflops: number;
  /** What one dispatch costs beyond its work, us ({@link dispatchCostMs}). */
  dispatchUs: number;
  /** Nanoseconds per timestamp tick used for all of the above. */
  nsPerTick: number;
}

/** A profile row set against the adapter's rates. */
export interface KernelFloorRow extends KernelProfileRow {
  /** bytes / time, GB/s (null for an unknown kernel). */
  gbs: number | null;
  /** flops / time, GFLOP/s. */
  gflops: number | null;
  /** max(bytes / compute-read bandwidth, flops / arithmetic rate), ms. */
  floorMs: number | null;
  /** Which term sets the floor. */
  boundBy: "bytes" | "flops" | null;
  /** floorMs / ms: the fraction of the adapter's measured rate this kernel achieves. */
  fraction: number | null;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Times every dispatch of one pass of T tokens over `seq`, each in its own timestamped
 * compute pass, `reps` times (one submit each; the sequence state is reset to `cacheLen`
 * before every repetition, so the KV cache contents are whatever the buffers hold - timing
 * does not depend on them). Resets `timer`. Returns one row per kernel name in plan order.
 */
export async function profileKernels(
  seq: Sequence,
  T: number,
  timer: GpuTimer,
  nsPerTick: number,
  o: ProfileKernelOptions = {},
): Promise<KernelProfileRow[]> {
  const gpu = seq.model.gpu;
  if (!gpu.hasTimestamps) {
    throw new NeoxError("per-kernel profiling needs the adapter's timestamp-query feature");
  }
  const passOptions = o.passOptions ??
    (T === 1
      ? { logits: "last", argmax: true, advance: true }
      : { logits: "all", argmax: false, advance: false });
  const pass = o.pass ?? (T === 1 ? "target" : "verify");
  const capacity = seq.opts.capacity;
  const cacheLen = o.cacheLen ?? Math.max(0, Math.min(capacity >> 1, capacity - T));
  if (cacheLen + T > capacity || cacheLen + T + 1 > seq.opts.maxTokens) {
    throw new NeoxError(
      `profileKernels: cache length ${cacheLen} + ${T} tokens exceed the sequence's capacity ${capacity}`,
    );
  }
  // The keys a one-token pass attends: it runs what plain decoding runs at that length.
  const plan = seq.plan(T, { ...passOptions, cacheLen: cacheLen + T });
  if (plan.length > timer.capacity) {
    throw new NeoxError(`profileKernels: ${plan.length} dispatches exceed the timer's capacity`);
  }
  const reps = Math.max(1, o.reps ?? 5);
  const times: number[][] = plan.map(() => []);
  for (let r = 0; r < reps; r++) {
    timer.reset();
    seq.setState(cacheLen, cacheLen);
    const enc = gpu.device.createCommandEncoder();
    for (const d of plan) {
      const p = enc.beginComputePass(timer.pass(pass));
      encodeDispatches(p, [d]);
      p.end();
    }
    gpu.device.queue.submit([enc.finish()]);
    await timer.resolve();
    const spans = timer.spans();
    if (spans.length !== plan.length) {
      throw new NeoxError(
        `profileKernels: ${spans.length} of ${plan.length} kernel timestamps were valid`,
      );
    }
    spans.forEach((s, i) => times[i].push((s.end - s.begin) * nsPerTick / 1e6));
  }
  timer.reset();
  const rows = new Map<string, KernelProfileRow>();
  plan.forEach((d, i) => {
    const ms = median(times[i]);
    const c = dispatchCost(d, cacheLen);
    const row = rows.get(d.label);
    if (row) {
      row.ms += ms;
      row.count++;
      row.bytes = (row.bytes ?? 0) + c.bytes;
      row.flops = (row.flops ?? 0) + c.flops;
    } else {
      rows.set(d.label, {
        name: d.label,
        kernel: d.meta.kernel,
        pass,
        shape: d.meta.op === "attention"
          ? `${T}q x ${cacheLen + T}k, ${d.meta.shape}`
          : d.meta.shape,
        count: 1,
        ms,
        bytes: c.bytes,
        flops: c.flops,
      });
    }
  });
  return [...rows.values()];
}

/**
 * Median GPU time, ms, of one whole pass of T tokens (every dispatch in one compute pass, as the
 * generation loops encode it), under the same settings as {@link profileKernels}: `reps`
 * passes timed back to back in one submit after one untimed pass, as a decode loop runs them
 * (the first pass of a submit on an idle adapter pays its wake-up: 1.1-1.9x the steady time
 * on lavapipe, PERF.md). Passes that advance start before `cacheLen` so the last one ends on it.
 */
export async function timePass(
  seq: Sequence,
  T: number,
  timer: GpuTimer,
  nsPerTick: number,
  o: ProfileKernelOptions = {},
): Promise<number> {
  const gpu = seq.model.gpu;
  const passOptions = o.passOptions ??
    (T === 1
      ? { logits: "last", argmax: true, advance: true }
      : { logits: "all", argmax: false, advance: false });
  const capacity = seq.opts.capacity;
  const reps = Math.max(1, o.reps ?? 5);
  const cacheLen = o.cacheLen ?? Math.max(0, Math.min(capacity >> 1, capacity - T));
  const start = passOptions.advance ? Math.max(0, cacheLen - reps) : cacheLen;
  const plan = seq.plan(T, { ...passOptions, cacheLen: cacheLen + T });
  timer.reset();
  seq.setState(start, start);
  const enc = gpu.device.createCommandEncoder();
  for (let r = 0; r <= reps; r++) {
    const p = enc.beginComputePass(
      r === 0 ? { label: "warm-up" } : timer.pass(o.pass ?? (T === 1 ? "target" : "verify")),
    );
    encodeDispatches(p, plan);
    p.end();
  }
  gpu.device.queue.submit([enc.finish()]);
  await timer.resolve();
  const times = timer.spans().map((s) => (s.end - s.begin) * nsPerTick / 1e6);
  timer.reset();
  if (times.length === 0) throw new NeoxError("timePass: no valid timestamps");
  return median(times);
}

/**
 * Bytes and FLOPs of one dispatch from its metadata (engine/ops.ts): the minimum traffic of
 * the operation, not what the kernel happens to re-read; attention's grow with the entries
 * cached before the pass.
 */
export function dispatchCost(d: Dispatch, cacheLen: number): { bytes: number; flops: number } {
  const m = d.meta;
  return {
    bytes: m.bytes + cacheLen * (m.perCachedEntry?.bytes ?? 0),
    flops: m.flops + cacheLen * (m.perCachedEntry?.flops ?? 0),
  };
}

/** Adds achieved rates, the floor and the fraction of the adapter's measured rate. */
export function withFloors(rows: KernelProfileRow[], a: AdapterRates): KernelFloorRow[] {
  return rows.map((r) => {
    if (r.bytes === null || r.flops === null || !(r.ms > 0)) {
      return { ...r, gbs: null, gflops: null, floorMs: null, boundBy: null, fraction: null };
    }
    const byteMs = r.bytes / (a.computeReadGBs * 1e6);
    const flopMs = r.flops / (a.computeGflops * 1e6);
    const floorMs = Math.max(byteMs, flopMs);
    return {
      ...r,
      gbs: r.bytes / (r.ms * 1e6),
      gflops: r.flops / (r.ms * 1e6),
      floorMs,
      boundBy: flopMs > byteMs ? "flops" : "bytes",
      fraction: floorMs / r.ms,
    };
  });
}

/** Target decode, draft decode and verify (K + 1 tokens) rows of one model pair. */
export async function profilePasses(
  target: NeoxModel,
  draft: NeoxModel | null,
  o: {
    k: number;
    cacheLen: number;
    timer: GpuTimer;
    nsPerTick: number;
    reps?: number;
    /** Appended to the pass names (e.g. " int8"). */
    suffix?: string;
  },
): Promise<KernelProfileRow[]> {
  const capacity = o.cacheLen + o.k + 2;
  const rows: KernelProfileRow[] = [];
  const suffix = o.suffix ?? "";
  const run = async (m: NeoxModel, T: number, pass: PassName) => {
    const seq = m.newSequence({
      capacity,
      maxTokens: capacity + 1,
      maxT: T,
      logitsRows: T,
    });
    try {
      const r = await profileKernels(seq, T, o.timer, o.nsPerTick, {
        pass,
        cacheLen: o.cacheLen,
        reps: o.reps,
      });
      rows.push(...r.map((x) => ({ ...x, pass: x.pass + suffix })));
    } finally {
      seq.destroy();
    }
  };
  await run(target, 1, "target");
  if (draft) await run(draft, 1, "draft");
  await run(target, o.k + 1, "verify");
  return rows;
}

/** Median GPU time, ms, of `encode` bracketed by two timestamped empty passes. */
async function timeBracketed(
  gpu: Gpu,
  timer: GpuTimer,
  nsPerTick: number,
  reps: number,
  encode: (enc: GPUCommandEncoder) => void,
): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    timer.reset();
    const enc = gpu.device.createCommandEncoder();
    enc.beginComputePass(timer.pass("target")).end();
    encode(enc);
    enc.beginComputePass(timer.pass("target")).end();
    gpu.device.queue.submit([enc.finish()]);
    await timer.resolve();
    const s = timer.spans();
    if (s.length === 2 && s[1].end > s[0].begin) {
      out.push((s[1].end - s[0].begin) * nsPerTick / 1e6);
    }
  }
  timer.reset();
  if (out.length === 0) throw new NeoxError("adapter probe: no valid timestamps");
  return out;
}

/** The stream_read probe over `src` (first `bytes`), `workgroups` wide. */
function streamDispatch(
  lib: KernelLibrary,
  gpu: Gpu,
  src: GPUBuffer,
  bytes: number,
  workgroups: number,
  fma: number,
  layout: 0 | 1,
  scratch: GPUBuffer[],
): Dispatch {
  const out = storageBuffer(gpu, workgroups * 64 * 16, "stream_read out");
  scratch.push(out);
  return streamRead(lib, { src, out, bytes, workgroups, fma, layout });
}

/**
 * Calibrates nanoseconds per timestamp tick against the wall clock with stream_read work
 * sized so that each timed submit lasts several milliseconds on any adapter.
 */
export async function calibrateTicksWithProbe(
  gpu: Gpu,
): Promise<{ nsPerTick: number; r2: number }> {
  const lib = new KernelLibrary(gpu.device);
  const bytes = 16 << 20;
  const src = storageBuffer(gpu, bytes, "probe src");
  const scratch: GPUBuffer[] = [src];
  try {
    const d = streamDispatch(lib, gpu, src, bytes, 1024, 0, 0, scratch);
    // Size the work: one dispatch's wall time from a submit of 16 (the wait's cost included).
    const t0 = performance.now();
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < 16; i++) encodeDispatches(pass, [d]);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    await gpuIdle(gpu);
    const perMs = Math.max(1e-4, (performance.now() - t0) / 16);
    const m = Math.max(1, Math.min(20000, Math.round(4 / perMs)));
    return await calibrateNsPerTick(gpu, (p, reps) => {
      for (let i = 0; i < reps * m; i++) encodeDispatches(p, [d]);
    });
  } finally {
    for (const b of scratch) b.destroy();
  }
}

/** Dispatch counts of the two passes whose difference gives {@link dispatchCostMs}. */
export const DISPATCH_PROBE = [20, 200] as const;

/**
 * What one dispatch costs beyond its work, ms: a no-op `advance` (one invocation) 20 and 200
 * times in one compute pass, each count's fastest of `reps`, the difference over 180 (the
 * pass's own begin and end cancel). On lavapipe this is handing the dispatch to its worker
 * threads and waiting for them (PERF.md, session 16): a pass costs at least its dispatches
 * times this. The adapter probe (`bench`) and `calibrate`'s device profile both use it.
 */
export async function dispatchCostMs(
  gpu: Gpu,
  timer: GpuTimer,
  nsPerTick: number,
  reps = 3,
): Promise<number> {
  const state = storageBuffer(gpu, 64, "dispatch probe state");
  try {
    const tiny = advance(new KernelLibrary(gpu.device), { state, T: 0 });
    const passMs = async (n: number) =>
      Math.min(
        ...await timeBracketed(gpu, timer, nsPerTick, reps, (enc) => {
          const p = enc.beginComputePass();
          for (let i = 0; i < n; i++) encodeDispatches(p, [tiny]);
          p.end();
        }),
      );
    const a = await passMs(DISPATCH_PROBE[0]);
    const b = await passMs(DISPATCH_PROBE[1]);
    return Math.max(0, (b - a) / (DISPATCH_PROBE[1] - DISPATCH_PROBE[0]));
  } finally {
    state.destroy();
  }
}

/**
 * Measures the adapter's copy bandwidth (copyBufferToBuffer of 64 MiB, read + write),
 * streaming-read bandwidth of a compute kernel and f32 FMA rate (best of a few launch
 * shapes and repetitions: the adapter's attainable rate), and what a dispatch costs.
 */
export async function measureAdapter(
  gpu: Gpu,
  timer: GpuTimer,
  nsPerTick: number,
  o: { bytes?: number; reps?: number } = {},
): Promise<AdapterRates> {
  const bytes = Math.min(o.bytes ?? 64 << 20, Math.floor(gpu.maxBindingBytes / 16) * 16);
  const reps = o.reps ?? 3;
  const lib = new KernelLibrary(gpu.device);
  const src = storageBuffer(gpu, bytes, "probe src");
  const dst = storageBuffer(gpu, bytes, "probe dst");
  const scratch: GPUBuffer[] = [src, dst];
  try {
    const copies = 4;
    const copyMs = Math.min(
      ...await timeBracketed(gpu, timer, nsPerTick, reps, (enc) => {
        for (let i = 0; i < copies; i++) enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
      }),
    );
    const copyGBs = (2 * bytes * copies) / (copyMs * 1e6);

    const best = async (ds: Dispatch[]): Promise<[number, number]> => {
      let ms = Infinity;
      let at = 0;
      for (const [i, d] of ds.entries()) {
        const t = Math.min(
          ...await timeBracketed(gpu, timer, nsPerTick, reps, (enc) => {
            const p = enc.beginComputePass();
            encodeDispatches(p, [d]);
            p.end();
          }),
        );
        if (t < ms) [ms, at] = [t, i];
      }
      return [ms, at];
    };
    const shapes = [256, 1024, 4096].filter((w) => w * 64 * 16 <= bytes);
    const readDs: Dispatch[] = [];
    const launches: string[] = [];
    for (const layout of [0, 1] as const) {
      for (const w of shapes) {
        readDs.push(streamDispatch(lib, gpu, src, bytes, w, 0, layout, scratch));
        launches.push(`${w} workgroups of 64, ${layout ? "contiguous" : "grid-strided"}`);
      }
    }
    const [readMs, readAt] = await best(readDs);
    const computeReadGBs = bytes / (readMs * 1e6);

    // Arithmetic rate: a 1 MiB (cache-resident) buffer, 64 FMA rounds per element read.
    const small = Math.min(bytes, 1 << 20);
    const rounds = 64;
    const fmaDs = [64, 256, 1024].map((w) =>
      streamDispatch(lib, gpu, src, small, w, rounds, 0, scratch)
    );
    const [fmaMs] = await best(fmaDs);
    const computeGflops = (small / 16) * rounds * 32 / (fmaMs * 1e6);

    const dispatchUs = 1e3 * await dispatchCostMs(gpu, timer, nsPerTick, reps);
    return {
      copyGBs,
      copyBytes: bytes,
      computeReadGBs,
      readBytes: bytes,
      readLaunch: launches[readAt],
      computeGflops,
      dispatchUs,
      nsPerTick,
    };
  } finally {
    for (const b of scratch) b.destroy();
  }
}
