/**
 * The one description of the machine a measurement ran on: the WebGPU adapter (name, vendor,
 * architecture, fallback or not, features) and, where the process can see it, the CPU model
 * and core count. Software adapters (lavapipe, SwiftShader) run on that CPU, so every figure
 * they produce is a CPU figure and must name it.
 */
import type { Gpu } from "../engine/device.ts";

/** What results, benches and device profiles record about the machine. */
export interface MachineDescription {
  description: string;
  vendor: string;
  architecture: string;
  isFallbackAdapter: boolean;
  features: string[];
  /** CPU model ("model name" of /proc/cpuinfo), null where unreadable (e.g. in a browser). */
  cpuModel?: string | null;
  /** Logical CPUs the process sees. */
  cpuCores?: number;
}

/** The adapter's description plus the CPU's. */
export function describeMachine(gpu: Gpu): MachineDescription {
  const info = gpu.adapterInfo;
  return {
    description: info.description || info.device || "unknown",
    vendor: info.vendor,
    architecture: info.architecture,
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    features: [...gpu.device.features].map(String).sort(),
    cpuModel: cpuModel(),
    cpuCores: navigator.hardwareConcurrency,
  };
}

/** The CPU model from /proc/cpuinfo (Linux, Deno), or null. */
export function cpuModel(): string | null {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!deno) return null;
  try {
    const text = deno.readTextFileSync("/proc/cpuinfo");
    const m = text.match(/^model name\s*:\s*(.+)$/m);
    return m ? m[1].trim() : null;
  } catch {
    return null;
  }
}
