/**
 * GPU pass timing through the engine's PassHook: every named pass gets timestampWrites
 * at its beginning and end. Deno returns raw ticks, so durations are converted with a
 * ns-per-tick factor calibrated against the wall clock (`calibrateNsPerTick`).
 *
 * The timer owns the tick -> ms rule: set `nsPerTick` (or call `calibrate`) once and read
 * durations with `ms(name)` / `spansMs()`; nothing else multiplies ticks by a factor.
 */
import type { PassHook, PassName } from "../engine/hooks.ts";
import { type Gpu, gpuIdle, readBuffer } from "../engine/device.ts";
import { calibrateTicks, ticksToMs } from "./ticks.ts";

/** Most passes one timer records: WebGPU allows 4096 queries (2048 begin/end pairs) per set. */
export const MAX_TIMED_PASSES = 2048;

/** How a ns-per-tick factor was obtained (written into results and device profiles). */
export interface TickCalibrationInfo {
  nsPerTick: number;
  /** r2 of the wall-against-ticks fit (0 on the fallback). */
  r2: number;
  /** Usable (tick delta, wall delta) pairs. */
  samples: number;
  /** True when fewer than 2 usable pairs left nsPerTick at the 1 ns/tick fallback. */
  fallback: boolean;
}

/** Records the GPU time of every pass encoded through it. */
export class GpuTimer implements PassHook {
  readonly gpu: Gpu;
  readonly capacity: number;
  #set: GPUQuerySet;
  #names: PassName[] = [];
  #resolved: BigUint64Array | null = null;
  /** Nanoseconds per tick used by `ms` and `spansMs` (1 until calibrated). */
  nsPerTick = 1;
  /** How nsPerTick was obtained (null: never calibrated, ticks taken as 1 ns). */
  calibration: TickCalibrationInfo | null = null;
  /**
   * Passes encoded untimed because the capacity was used up, since construction (not
   * cleared by `reset`): a results file reports it, so a silent stop shows.
   */
  overflowPasses = 0;

  constructor(gpu: Gpu, capacity = MAX_TIMED_PASSES) {
    this.gpu = gpu;
    // WebGPU allows at most 4096 queries per set.
    this.capacity = Math.min(capacity, MAX_TIMED_PASSES);
    this.#set = gpu.device.createQuerySet({ type: "timestamp", count: 2 * this.capacity });
  }

  /** A pass descriptor with timestamp writes (untimed once the capacity is used up). */
  pass(name: PassName): GPUComputePassDescriptor {
    const i = this.#names.length;
    if (i >= this.capacity) {
      this.overflowPasses++;
      return { label: name };
    }
    this.#names.push(name);
    this.#resolved = null;
    return {
      label: name,
      timestampWrites: {
        querySet: this.#set,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    };
  }

  /** Reads all recorded timestamps (one GPU wait). */
  async resolve(): Promise<void> {
    const n = this.#names.length;
    if (n === 0) {
      this.#resolved = new BigUint64Array(0);
      return;
    }
    const buf = this.gpu.device.createBuffer({
      size: 16 * n,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const enc = this.gpu.device.createCommandEncoder();
    enc.resolveQuerySet(this.#set, 0, 2 * n, buf, 0);
    this.gpu.device.queue.submit([enc.finish()]);
    this.#resolved = new BigUint64Array(await readBuffer(this.gpu, buf));
    buf.destroy();
  }

  /** Durations in ticks of every resolved pass with this name. */
  ticks(name: PassName): number[] {
    const r = this.#resolved;
    if (!r) throw new Error("GpuTimer.resolve() first");
    const out: number[] = [];
    this.#names.forEach((n, i) => {
      if (n === name && r[2 * i + 1] >= r[2 * i] && r[2 * i] > 0n) {
        out.push(Number(r[2 * i + 1] - r[2 * i]));
      }
    });
    return out;
  }

  /** Durations in ms of every resolved pass with this name (this timer's nsPerTick). */
  ms(name: PassName): number[] {
    return this.ticks(name).map((t) => ticksToMs(t, this.nsPerTick));
  }

  /** Every resolved pass in encode order, begin and duration in ms from the first begin. */
  spansMs(): { name: PassName; beginMs: number; durationMs: number }[] {
    const spans = this.spans();
    const t0 = spans.length ? spans[0].begin : 0;
    return spans.map((s) => ({
      name: s.name,
      beginMs: ticksToMs(s.begin - t0, this.nsPerTick),
      durationMs: ticksToMs(s.end - s.begin, this.nsPerTick),
    }));
  }

  /** Calibrates nsPerTick with {@link calibrateNsPerTick} and keeps how it went. */
  async calibrate(
    encodeWork: (pass: GPUComputePassEncoder, reps: number) => void,
  ): Promise<TickCalibrationInfo> {
    this.calibration = await calibrateNsPerTick(this.gpu, encodeWork);
    this.nsPerTick = this.calibration.nsPerTick;
    return this.calibration;
  }

  /** Every resolved pass in encode order: name and begin/end ticks. */
  spans(): { name: PassName; begin: number; end: number }[] {
    const r = this.#resolved;
    if (!r) throw new Error("GpuTimer.resolve() first");
    return this.#names.map((name, i) => ({
      name,
      begin: Number(r[2 * i]),
      end: Number(r[2 * i + 1]),
    }))
      .filter((s) => s.begin > 0 && s.end >= s.begin);
  }

  /** Number of passes recorded so far. */
  get count(): number {
    return this.#names.length;
  }

  /** Forgets recorded passes (the query set is reused). */
  reset(): void {
    this.#names = [];
    this.#resolved = null;
  }

  destroy(): void {
    this.#set.destroy();
  }
}

/**
 * Calibrates ticks to nanoseconds: runs passes of increasing length, each alone in a
 * submit, and fits wall-clock deltas against tick deltas (differences between runs cancel
 * the fixed cost of a submit and wait).
 */
export async function calibrateNsPerTick(
  gpu: Gpu,
  encodeWork: (pass: GPUComputePassEncoder, reps: number) => void,
): Promise<TickCalibrationInfo> {
  const timer = new GpuTimer(gpu, 16);
  const reps = [4, 8, 16, 32, 4, 8, 16, 32];
  const walls: number[] = [];
  for (const r of reps) {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass(timer.pass("target"));
    encodeWork(pass, r);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpuIdle(gpu);
    walls.push((performance.now() - t0) * 1e6);
  }
  await timer.resolve();
  const ticks = timer.ticks("target");
  timer.destroy();
  const samples = [];
  for (let i = 1; i < ticks.length; i++) {
    const dt = ticks[i] - ticks[0];
    const dw = walls[i] - walls[0];
    if (dt > 0 && dw > 0) samples.push({ ticks: dt, wallNs: dw });
  }
  if (samples.length < 2) return { nsPerTick: 1, r2: 0, samples: samples.length, fallback: true };
  const c = calibrateTicks(samples);
  return { nsPerTick: c.nsPerTick, r2: c.r2, samples: samples.length, fallback: false };
}
