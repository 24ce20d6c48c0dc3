/**
 * WebGPU device acquisition: the adapter's real limits requested explicitly (large
 * models need big bindings), shader-f16 and timestamp-query when offered.
 */
import { NeoxError } from "./errors.ts";

/** A device with the facts the engine plans around. */
export interface Gpu {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** True when f16 weights can stay f16 on the GPU. */
  hasF16: boolean;
  hasTimestamps: boolean;
  maxBindingBytes: number;
  maxBufferBytes: number;
  /** Counts every CPU wait on the GPU (onSubmittedWorkDone or mapAsync). */
  waits: { count: number };
  /** Set when the device is lost or reports an error mid-run; checked at every wait. */
  lost: { reason: string | null };
}

/** How to acquire the device (entry points fill it from flags or the environment). */
export interface GpuOptions {
  /** Keep f16 weights as f32 even when the adapter offers shader-f16. */
  noF16?: boolean;
}

let cached: Promise<Gpu> | null = null;

/**
 * Returns the process-wide GPU device, creating it on first use (later calls get the same
 * device whatever their options). Deno entry points use engine/device_deno.ts instead.
 */
export function getGpu(o: GpuOptions = {}): Promise<Gpu> {
  if (!cached) cached = createGpu(o);
  return cached;
}

/** The one-line message when no WebGPU adapter is available. */
export const NO_ADAPTER_MESSAGE =
  "no WebGPU adapter found: install a GPU driver with Vulkan support, or the software adapter (Debian: apt-get install mesa-vulkan-drivers)";

async function createGpu(o: GpuOptions): Promise<Gpu> {
  if (!("gpu" in navigator) || !navigator.gpu) throw new NeoxError(NO_ADAPTER_MESSAGE);
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NeoxError(NO_ADAPTER_MESSAGE);
  const want: GPUFeatureName[] = ["shader-f16", "timestamp-query"];
  const features = want.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    },
  });
  const lost = { reason: null as string | null };
  device.lost.then((info) => {
    lost.reason = info.message || info.reason || "unknown";
  });
  // A validation error would otherwise only show as silently wrong results.
  device.addEventListener("uncapturederror", (ev) => {
    const msg = (ev as GPUUncapturedErrorEvent).error.message.split("\n")[0];
    lost.reason ??= `GPU error: ${msg}`;
  });
  return {
    device,
    adapterInfo: adapter.info,
    hasF16: features.includes("shader-f16") && !o.noF16,
    hasTimestamps: features.includes("timestamp-query"),
    maxBindingBytes: Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize),
    maxBufferBytes: l.maxBufferSize,
    waits: { count: 0 },
    lost,
  };
}

/** Waits for all submitted work; counted in `gpu.waits`. */
export async function gpuIdle(gpu: Gpu): Promise<void> {
  gpu.waits.count++;
  try {
    await gpu.device.queue.onSubmittedWorkDone();
  } catch (e) {
    throw await gpuFailure(gpu, e);
  }
  if (gpu.lost.reason) throw new NeoxError(`GPU failure: ${gpu.lost.reason}`);
}

/**
 * After a GPU call failed: waits briefly for a device loss to be reported (a lost device
 * fails pending work before its `lost` promise settles) and returns its reason, or null.
 */
export async function settleDeviceLoss(gpu: Gpu): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    gpu.device.lost,
    new Promise((resolve) => timer = setTimeout(resolve, 100)),
  ]);
  clearTimeout(timer);
  await Promise.resolve();
  return gpu.lost.reason;
}

/** A GPU call failed: the one-line error, naming the loss reason when the device is gone. */
async function gpuFailure(gpu: Gpu, e: unknown): Promise<NeoxError> {
  const why = String((e as Error)?.message ?? e).split("\n")[0];
  return new NeoxError(`GPU failure: ${(await settleDeviceLoss(gpu)) ?? why}`);
}

/** Copies `bytes` from `src` at `offset` to the CPU (one counted wait). */
export async function readBuffer(
  gpu: Gpu,
  src: GPUBuffer,
  offset = 0,
  bytes = src.size - offset,
): Promise<ArrayBuffer> {
  return (await readBuffers(gpu, [{ src, offset, bytes }]))[0];
}

const readbackMs = new WeakMap<Gpu, number>();

/**
 * What one readback wait costs on this device and runtime beyond the GPU's work (ms): the
 * median of three reads of 4 bytes from an idle GPU, measured once per device (three counted
 * waits). Deno polls for completion every 10 ms (~11 ms here, on lavapipe and an H200 alike);
 * a browser answers in about a millisecond.
 */
export async function readbackCost(gpu: Gpu): Promise<number> {
  let ms = readbackMs.get(gpu);
  if (ms === undefined) {
    const probe = storageBuffer(gpu, 4, "readback probe");
    const t: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await readBuffer(gpu, probe);
        t.push(performance.now() - t0);
      }
    } finally {
      probe.destroy();
    }
    ms = t.sort((a, b) => a - b)[1];
    readbackMs.set(gpu, ms);
  }
  return ms;
}

/** Copies several buffer ranges (offsets multiples of 4) to the CPU in one counted wait. */
export async function readBuffers(
  gpu: Gpu,
  ranges: { src: GPUBuffer; offset: number; bytes: number }[],
): Promise<ArrayBuffer[]> {
  const { device } = gpu;
  const sizes = ranges.map((r) => Math.ceil(r.bytes / 4) * 4);
  const staging = device.createBuffer({
    size: Math.max(4, sizes.reduce((a, b) => a + b, 0)),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  let at = 0;
  ranges.forEach((r, i) => {
    enc.copyBufferToBuffer(r.src, r.offset, staging, at, sizes[i]);
    at += sizes[i];
  });
  device.queue.submit([enc.finish()]);
  gpu.waits.count++;
  try {
    await staging.mapAsync(GPUMapMode.READ);
  } catch (e) {
    staging.destroy();
    throw await gpuFailure(gpu, e);
  }
  const mapped = staging.getMappedRange();
  at = 0;
  const out = ranges.map((r, i) => {
    const b = mapped.slice(at, at + r.bytes);
    at += sizes[i];
    return b;
  });
  staging.unmap();
  staging.destroy();
  if (gpu.lost.reason) throw new NeoxError(`GPU failure: ${gpu.lost.reason}`);
  return out;
}

/** Creates a storage buffer (rounded up to 4 bytes), optionally filled from `data`. */
export function storageBuffer(
  gpu: Gpu,
  bytes: number,
  label: string,
  data?: ArrayBufferView,
): GPUBuffer {
  if (gpu.lost.reason) throw new NeoxError(`GPU failure: ${gpu.lost.reason}`);
  const size = Math.max(4, Math.ceil(Math.max(bytes, data?.byteLength ?? 0) / 4) * 4);
  if (size > gpu.maxBufferBytes) {
    throw new NeoxError(
      `${label} needs ${size} bytes but the adapter allows at most ${gpu.maxBufferBytes} per buffer (try --quant int8)`,
    );
  }
  try {
    const buf = gpu.device.createBuffer({
      label,
      size,
      // UNIFORM too: matmul_rows_ubo binds its activations as a uniform range.
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC |
        GPUBufferUsage.COPY_DST,
      mappedAtCreation: data !== undefined,
    });
    if (data) {
      new Uint8Array(buf.getMappedRange()).set(
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
      buf.unmap();
    }
    return buf;
  } catch (e) {
    const why = String((e as Error)?.message ?? e).split("\n")[0];
    throw new NeoxError(
      `GPU failure: ${gpu.lost.reason ?? `cannot create ${label} (${size} bytes): ${why}`}`,
    );
  }
}
