/** What every op shares: where a dispatch sits in the model, its metadata, shape checks. */
import { type DispatchMeta } from "../../kernels/kernel.ts";

/** Where a dispatch sits in the model (for the profiler) and its dispatch label. */
export interface OpPlace {
  /** Dispatch label (default: the op name), e.g. "query_key_value". */
  label?: string;
  /** Transformer layer, -1 (default) outside the layers. */
  layer?: number;
}

export const F32 = 4;

/** The metadata of one dispatch. */
export function meta(
  op: string,
  kernel: string,
  place: OpPlace,
  m: Omit<DispatchMeta, "op" | "kernel" | "layer">,
): DispatchMeta {
  return { op, kernel, layer: place.layer ?? -1, ...m };
}

/** Throws when a shape or option is outside the kernel's contract. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`ops: ${what}`);
}

// ---- linear (matmul) --------------------------------------------------------------------
