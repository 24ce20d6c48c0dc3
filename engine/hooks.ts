/**
 * The narrow hook through which the profiler observes the engine: every forward pass the
 * engine encodes asks the hook for its compute-pass descriptor (the profiler adds
 * timestamp writes) under a name: "prefill", "target", "draft" or "verify".
 */

/** Names of the passes the engine encodes. */
export type PassName = "prefill" | "target" | "draft" | "verify";

/** Observer of encoded passes. */
export interface PassHook {
  /** Descriptor for a compute pass about to be encoded (may carry timestampWrites). */
  pass(name: PassName): GPUComputePassDescriptor;
}

/** Begins a compute pass named for the hook (a plain pass when there is none). */
export function beginPass(
  enc: GPUCommandEncoder,
  hook: PassHook | undefined,
  name: PassName,
): GPUComputePassEncoder {
  return enc.beginComputePass(hook ? hook.pass(name) : { label: name });
}
