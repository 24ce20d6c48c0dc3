/**
 * The device for Deno entry points: the environment read here, so that engine/device.ts
 * stays free of `Deno` (it also runs in a browser). XDG_RUNTIME_DIR defaults to /tmp (the
 * Vulkan loader wants one); NEOX_NO_F16=1 keeps f16 weights as f32. On Linux
 * DENO_WEBGPU_BACKEND defaults to vulkan: with every backend enabled Deno's WebGPU also loads
 * libEGL for its OpenGL backend, whose destructor at process exit freed memory while other
 * threads were still exiting - glibc aborted ("double free or corruption", "malloc_consolidate():
 * unaligned fastbin chunk detected") after a successful run, in 3 of 13 runs of one test file
 * (a core dump: libEGL's fini in the main thread, a thread's tcache shutdown in the same arena).
 * Set DENO_WEBGPU_BACKEND yourself to choose another backend.
 */
import { getGpu as getDeviceGpu, type Gpu } from "./device.ts";

/**
 * LP_NUM_THREADS as lavapipe reads it (its worker threads; 0: none, the work runs inline), null
 * where unset or not a count (Mesa's default: one per CPU).
 */
export function lavapipeThreads(): number | null {
  const v = Deno.env.get("LP_NUM_THREADS");
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : null;
}

/** The process-wide GPU device, with options from the environment. */
export function getGpu(): Promise<Gpu> {
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  if (Deno.build.os === "linux" && !Deno.env.get("DENO_WEBGPU_BACKEND")) {
    Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
  }
  return getDeviceGpu({ noF16: Boolean(Deno.env.get("NEOX_NO_F16")) });
}
