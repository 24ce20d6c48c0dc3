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

let cached: Promise<Gpu> | null = null;

/** Returns the process-wide GPU device, creating it on first use. */
export function getGpu(): Promise<Gpu> {
  if (!cached) cached = createGpu();
  return cached;
}

async function createGpu(): Promise<Gpu> {
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  const noAdapter =
    "no WebGPU adapter found: install a GPU driver with Vulkan support, or the software adapter (Debian: apt-get install mesa-vulkan-drivers)";
  if (!("gpu" in navigator) || !navigator.gpu) throw new NeoxError(noAdapter);
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NeoxError(noAdapter);
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
    hasF16: features.includes("shader-f16") && !Deno.env.get("NEOX_NO_F16"),
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
  await gpu.device.queue.onSubmittedWorkDone();
  if (gpu.lost.reason) throw new NeoxError(`GPU failure: ${gpu.lost.reason}`);
}

/** Copies `bytes` from `src` at `offset` to the CPU (one counted wait). */
export async function readBuffer(
  gpu: Gpu,
  src: GPUBuffer,
  offset = 0,
  bytes = src.size - offset,
): Promise<ArrayBuffer> {
  const { device } = gpu;
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, offset, staging, 0, size);
  device.queue.submit([enc.finish()]);
  gpu.waits.count++;
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0, bytes);
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
  const size = Math.max(4, Math.ceil(Math.max(bytes, data?.byteLength ?? 0) / 4) * 4);
  if (size > gpu.maxBufferBytes) {
    throw new NeoxError(
      `${label} needs ${size} bytes but the adapter allows at most ${gpu.maxBufferBytes} per buffer (try --quant int8)`,
    );
  }
  const buf = gpu.device.createBuffer({
    label,
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    mappedAtCreation: data !== undefined,
  });
  if (data) {
    new Uint8Array(buf.getMappedRange()).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    buf.unmap();
  }
  return buf;
}
