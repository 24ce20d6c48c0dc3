/**
 * The device for Deno entry points: the environment read here, so that engine/device.ts
 * stays free of `Deno` (it also runs in a browser). XDG_RUNTIME_DIR defaults to /tmp (the
 * Vulkan loader wants one); NEOX_NO_F16=1 keeps f16 weights as f32.
 */
import { getGpu as getDeviceGpu, type Gpu } from "./device.ts";

/** The process-wide GPU device, with options from the environment. */
export function getGpu(): Promise<Gpu> {
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  return getDeviceGpu({ noF16: Boolean(Deno.env.get("NEOX_NO_F16")) });
}
