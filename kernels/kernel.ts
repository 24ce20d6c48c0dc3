/**
 * Builds compute pipelines from the WGSL sources of this folder. A kernel's source is plain
 * WGSL; this module only prepends the per-pipeline header (`enable f16;`, `alias WT = ...;`,
 * `const NAME = ...;`), resolves `#include "file.wgsl"` lines and expands `#unroll` blocks
 * (`expandUnroll`).
 *
 * Sources come from kernels/wgsl.ts, generated from the .wgsl files by kernels/build_wgsl.ts
 * (`deno task wgsl`; tests/wgsl_sources_test.ts fails when it is stale): string constants, so
 * this module reads no files, runs in a browser and a bundler carries the kernels along.
 * Every .wgsl file with a `main` entry point is one operation, reached through one function
 * of engine/ops.ts; the include-only files (accept_commit, activation, argmax_row,
 * inverse_cdf, matmul_tile, rng, rotate_half, row_stats, row_topk,
 * sink_window, tree, workgroup_reduce) are pieces shared by them.
 */
import { WGSL } from "./wgsl.ts";

/**
 * Storage type of a weight tensor on the GPU. "int8": four int8 per u32 with f32 scales
 * beside them (engine/quantize.ts); its kernels ignore `WT`.
 */
export type WeightType = "f16" | "f32" | "int8";

/**
 * What a dispatch computes, for the profiler: the operation and kernel variant, the layer
 * (-1 outside layers), a readable shape, and the bytes it must read and write at minimum and
 * its FLOPs (multiply-adds x2). Attention grows with the cache: `perCachedEntry` adds that
 * many bytes and FLOPs per entry already cached before the pass.
 */
export interface DispatchMeta {
  op: string;
  /** The WGSL source it runs, e.g. "matmul_vec4". */
  kernel: string;
  layer: number;
  shape: string;
  bytes: number;
  flops: number;
  perCachedEntry?: { bytes: number; flops: number };
}

/** One bound dispatch, recorded once and replayed every step. */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  meta: DispatchMeta;
}

/** The source of `name.wgsl` with its `#include` lines resolved. */
export function wgslSource(name: string): string {
  const src = WGSL[name];
  if (src === undefined) throw new Error(`no kernel ${name}.wgsl (run \`deno task wgsl\`)`);
  return src.replace(/^#include "([a-z_0-9]+)\.wgsl"$/gm, (_m, inc: string) => wgslSource(inc));
}

/**
 * Expands `#unroll X C [MAX]` ... `#end` blocks (nestable; C and MAX literals or names in
 * `consts`) into C copies of the block, each in its own `{ }` scope with the identifier X
 * replaced by the literal `iu`; when C > MAX the block becomes `for (var X = 0u; X < C; X++)`.
 * A software adapter (lavapipe) keeps a private array in registers only when every index is
 * constant, and its shader compiler leaves most loops rolled: unrolled, matmul_rows' best
 * candidates ran up to 1.3x faster there at 1-4 tokens (one shape 8% slower), and its token
 * loop 2-14% slower at 16 tokens (PERF.md); the tiled kernels' row and token loops unrolled ran
 * 0.70-0.91x their time. Nor can a GPU's compiler be counted on to unroll them: on an H200 the
 * rolled tiled kernels' time grew as T x N x K at about 1.9 TFLOP/s (PERF.md).
 */
export function expandUnroll(src: string, consts: Record<string, number> = {}): string {
  const lines = src.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*#unroll\s+([A-Za-z_]\w*)\s+(\w+)(?:\s+(\w+))?\s*$/.exec(lines[i]);
    if (!m) {
      if (/^\s*#end\s*$/.test(lines[i])) throw new Error(`#end without #unroll at line ${i + 1}`);
      out.push(lines[i]);
      continue;
    }
    let depth = 1;
    let j = i + 1;
    for (; j < lines.length; j++) {
      if (/^\s*#unroll\s/.test(lines[j])) depth++;
      else if (/^\s*#end\s*$/.test(lines[j]) && --depth === 0) break;
    }
    if (depth !== 0) throw new Error(`#unroll ${m[1]} at line ${i + 1} has no #end`);
    const value = (v: string) => {
      const n = /^\d+$/.test(v) ? Number(v) : consts[v];
      if (!Number.isInteger(n) || n < 0) {
        throw new Error(`#unroll ${m[1]}: ${v} is not a literal or a known constant`);
      }
      return n;
    };
    const n = value(m[2]);
    const body = expandUnroll(lines.slice(i + 1, j).join("\n"), consts);
    if (m[3] !== undefined && n > value(m[3])) {
      out.push(`for (var ${m[1]} = 0u; ${m[1]} < ${n}u; ${m[1]}++) {\n${body}\n}`);
    } else {
      const ident = new RegExp(`\\b${m[1]}\\b`, "g");
      for (let c = 0; c < n; c++) out.push(`{\n${body.replace(ident, `${c}u`)}\n}`);
    }
    i = j;
  }
  return out.join("\n");
}

/** Pipelines and uniform buffers for one device, built once and reused. */
export class KernelLibrary {
  readonly device: GPUDevice;
  #pipelines = new Map<string, GPUComputePipeline>();
  #uniforms = new Map<string, GPUBuffer>();
  #zero: GPUBuffer | null = null;

  constructor(device: GPUDevice) {
    this.device = device;
  }

  /** The pipeline of `name.wgsl` with weight type `wt` and extra constants. */
  pipeline(
    name: string,
    wt: WeightType = "f32",
    consts: Record<string, number> = {},
  ): GPUComputePipeline {
    const key = `${name}|${wt}|${JSON.stringify(consts)}`;
    let pl = this.#pipelines.get(key);
    if (!pl) {
      let header = wt === "f16" ? "enable f16;\nalias WT = f16;\n" : "alias WT = f32;\n";
      for (const [k, v] of Object.entries(consts)) header += `const ${k} = ${v}u;\n`;
      const module = this.device.createShaderModule({
        label: name,
        code: header + expandUnroll(wgslSource(name), consts),
      });
      pl = this.device.createComputePipeline({
        label: key,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.#pipelines.set(key, pl);
    }
    return pl;
  }

  /** A uniform buffer holding `fields` (u32 unless listed in `floats`), shared by content. */
  uniform(fields: number[], floats: number[] = []): GPUBuffer {
    const n = Math.ceil(fields.length / 4) * 4;
    const data = new ArrayBuffer(n * 4);
    const u = new Uint32Array(data);
    const f = new Float32Array(data);
    fields.forEach((v, i) => {
      if (floats.includes(i)) f[i] = v;
      else u[i] = v;
    });
    const key = Array.from(u).join(",");
    let buf = this.#uniforms.get(key);
    if (!buf) {
      buf = this.device.createBuffer({
        size: n * 4,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.device.queue.writeBuffer(buf, 0, data);
      this.#uniforms.set(key, buf);
    }
    return buf;
  }

  /** A 16-byte zero storage buffer, bound where a kernel's optional input is absent. */
  zero(): GPUBuffer {
    this.#zero ??= this.device.createBuffer({
      label: "zero",
      size: 16,
      usage: GPUBufferUsage.STORAGE,
    });
    return this.#zero;
  }

  /**
   * Binds `resources` (buffers, ranges of buffers, or textures' default views) to bindings
   * 0..n-1 of group 0 and records the dispatch.
   */
  dispatch(
    label: string,
    pipeline: GPUComputePipeline,
    resources: (GPUBuffer | GPUTexture | GPUBufferBinding)[],
    workgroups: [number, number?, number?],
    meta: DispatchMeta,
  ): Dispatch {
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: resources.map((r, binding) => ({
        binding,
        resource: "createView" in r ? r.createView() : "buffer" in r ? r : { buffer: r },
      })),
    });
    return {
      label,
      pipeline,
      bindGroup,
      workgroups: [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1],
      meta,
    };
  }
}

/** Records `dispatches` into an open compute pass. */
export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: Dispatch[]): void {
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}
