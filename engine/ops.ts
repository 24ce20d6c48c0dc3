/**
 * Typed operations: one function per WGSL kernel (web-rwkv's `TensorOp` constructors are the
 * model). Each owns its kernel's contract - uniform layout, binding order, variant choice,
 * shape checks and dispatch size - and returns dispatches that carry their metadata
 * (`DispatchMeta`: op, layer, shape, bytes, FLOPs), so the model, the tests, the benches and
 * the profiler cannot disagree about a kernel. All activations are f32; shapes are row-major.
 * The ops live in engine/ops/ by family; this module is their one import path.
 */
export * from "./ops/common.ts";
export * from "./ops/linear.ts";
export * from "./ops/attention.ts";
export * from "./ops/decode.ts";
export * from "./ops/tree.ts";
export * from "./ops/layer.ts";
