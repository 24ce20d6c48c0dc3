/**
 * Builds compute pipelines from the WGSL files beside this module. A kernel's source is
 * plain WGSL; this module only prepends the per-pipeline header (`enable f16;`,
 * `alias WT = ...;`, `const NAME = ...;`) and resolves `#include "file.wgsl"` lines.
 */
import type { Gpu } from "../engine/device.ts";

/**
 * Storage type of a weight tensor on the GPU. "int8": four int8 per u32 with f32 scales
 * beside them (engine/quantize.ts); its kernels ignore `WT`.
 */
export type WeightType = "f16" | "f32" | "int8";

/** One bound dispatch, recorded once and replayed every step. */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

const sourceCache = new Map<string, string>();

function readSource(name: string): string {
  let src = sourceCache.get(name);
  if (src === undefined) {
    src = Deno.readTextFileSync(new URL(`./${name}.wgsl`, import.meta.url));
    src = src.replace(/^#include "([a-z_0-9]+)\.wgsl"$/gm, (_m, inc: string) => readSource(inc));
    sourceCache.set(name, src);
  }
  return src;
}

/** Pipelines and uniform buffers for one device, built once and reused. */
export class KernelLibrary {
  readonly gpu: Gpu;
  #pipelines = new Map<string, GPUComputePipeline>();
  #uniforms = new Map<string, GPUBuffer>();

  constructor(gpu: Gpu) {
    this.gpu = gpu;
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
      const module = this.gpu.device.createShaderModule({
        label: name,
        code: header + readSource(name),
      });
      pl = this.gpu.device.createComputePipeline({
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
      buf = this.gpu.device.createBuffer({
        size: n * 4,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.gpu.device.queue.writeBuffer(buf, 0, data);
      this.#uniforms.set(key, buf);
    }
    return buf;
  }

  /** Binds `buffers` to bindings 0..n-1 of group 0 and records the dispatch. */
  dispatch(
    label: string,
    pipeline: GPUComputePipeline,
    buffers: GPUBuffer[],
    workgroups: [number, number?, number?],
  ): Dispatch {
    const bindGroup = this.gpu.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return {
      label,
      pipeline,
      bindGroup,
      workgroups: [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1],
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
