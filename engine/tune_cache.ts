/**
 * The device profile's measured kernel choices (engine/autotune.ts), kept between processes:
 * tuning a model at load compiles and times every candidate kernel of its shapes, 8-10 s for
 * the embedded target and about as much for its draft on lavapipe (2 cores; PERF.md), and
 * every command and test process paid it again. Loads now read the choices last measured for
 * the same adapter, core count, Deno and kernel sources from one JSON file, measure only the
 * shapes it lacks and add them. A choice changes speed only: every candidate agrees with the
 * float64 reference (tests/kernels_test.ts).
 *
 * Where: `$NEOX_TUNE_CACHE` (a file path; "off" neither reads nor writes), else
 * `$XDG_CACHE_HOME/neox-spec/tuning.json` or `~/.cache/neox-spec/tuning.json`. `calibrate`
 * measures afresh and replaces what it measured ({@link refreshTuning}). A file that cannot be
 * read or parsed is ignored (and replaced at the next write); one that cannot be written
 * leaves the process's choices as measured.
 */
import {
  type DeviceProfile,
  deviceProfile,
  PROFILE_MAPS,
  TUNE_BUCKETS,
  TUNED_MATMUL_VARIANTS,
  WIDE_REDUCTION_WG,
} from "./autotune.ts";
import type { Gpu } from "./device.ts";
import { lavapipeThreads } from "./device_deno.ts";
import { ARGMAX_WG, NORM_WG, TILE_LANES, WIDE_LANES } from "./ops.ts";
import { writeFileAtomic } from "./output.ts";
import { WGSL } from "../kernels/wgsl.ts";

/** Bumped when the file's layout or the meaning of an entry changes. */
export const TUNE_CACHE_FORMAT = 1;

/** Device entries kept in the file (the most recently measured), so old ones do not pile up. */
export const TUNE_CACHE_DEVICES = 8;

/**
 * One device's measured choices, as stored: each of the profile's maps as an object, and the
 * ISO time of the latest measurement merged into it.
 */
export type TuneCacheEntry =
  & { measuredAt: string }
  & { [K in (typeof PROFILE_MAPS)[number]]: Record<string, unknown> };

/** The file: entries by {@link tuneIdentity}. */
export interface TuneCacheFile {
  format: number;
  devices: Record<string, TuneCacheEntry>;
}

/** The cache file's path, or null when caching is off (or there is no home directory). */
export function tuneCachePath(): string | null {
  const set = Deno.env.get("NEOX_TUNE_CACHE");
  if (set !== undefined && set !== "") return set === "off" ? null : set;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME");
  const dir = xdg ? xdg : home ? `${home}/.cache` : null;
  return dir ? `${dir}/neox-spec/tuning.json` : null;
}

let sourcesHash: string | null = null;

/** FNV-1a (32 bits) of every kernel source, by name: a changed kernel invalidates its choices. */
export function kernelSourcesHash(): string {
  if (sourcesHash) return sourcesHash;
  let h = 0x811c9dc5;
  for (const name of Object.keys(WGSL).sort()) {
    const s = `${name}\n${WGSL[name]}\n`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return sourcesHash = h.toString(16).padStart(8, "0");
}

/**
 * What a measured choice holds for: the adapter (its description names the driver, e.g.
 * "llvmpipe (LLVM 15.0.6, 256 bits)"), the CPU threads a software adapter runs on, Deno's
 * version (its WebGPU) and the kernel sources.
 */
export function tuneIdentity(gpu: Gpu): string {
  const threads = lavapipeThreads() ?? navigator.hardwareConcurrency;
  return `${deviceProfile(gpu).adapter} | ${threads} threads | deno ${Deno.version.deno} | ` +
    `kernels ${kernelSourcesHash()}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const isTicks = (v: unknown) =>
  isRecord(v) && Object.values(v).every((t) => typeof t === "number" && Number.isFinite(t));

function validMatmul(v: unknown): boolean {
  if (!isRecord(v) || !isTicks(v.ticks)) return false;
  if (!(TUNED_MATMUL_VARIANTS as readonly unknown[]).includes(v.variant)) return false;
  if (v.xRegs !== undefined && typeof v.xRegs !== "boolean") return false;
  // Lanes set a workgroup size: only the two the kernels are tested at.
  if (v.lanes !== undefined && v.lanes !== TILE_LANES && v.lanes !== WIDE_LANES) return false;
  return v.rpt === undefined || (Number.isInteger(v.rpt) && (v.rpt as number) >= 1);
}

function validAttention(v: unknown): boolean {
  if (!isRecord(v) || !isTicks(v.ticks) || !isRecord(v.variant)) return false;
  const a = v.variant;
  const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 1;
  return a.variant === "full" || a.variant === "rows" ||
    (a.variant === "tiled" && count(a.tile)) || (a.variant === "split" && count(a.lanes)) ||
    (a.variant === "multi" && count(a.lanes) && count(a.tq));
}

const validFlag = (flag: "rows" | "fused") => (v: unknown) =>
  isRecord(v) && isTicks(v.ticks) && typeof v[flag] === "boolean";

/** A row reduction by its key: the workgroup sizes each kernel is tested at (argmax: no rows). */
function validNorm(key: string, v: unknown): boolean {
  if (!validFlag("rows")(v) || !isRecord(v)) return false;
  const argmax = key.startsWith("argmax");
  const sizes = [argmax ? ARGMAX_WG : NORM_WG, WIDE_REDUCTION_WG];
  return !(argmax && v.rows) && (v.wg === undefined || sizes.includes(v.wg as number));
}

const validFused = (v: unknown) =>
  validFlag("fused")(v) && isRecord(v) &&
  (v.groups === undefined || (Number.isInteger(v.groups) && (v.groups as number) >= 1)) &&
  (v.matmulT === undefined || (TUNE_BUCKETS as readonly unknown[]).includes(v.matmulT));

/** Whether `e` is a well-formed entry (every choice one the engine can run). */
function validEntry(e: unknown): e is TuneCacheEntry {
  if (!isRecord(e) || typeof e.measuredAt !== "string") return false;
  const all = (m: unknown, ok: (v: unknown) => boolean) =>
    isRecord(m) && Object.values(m).every(ok);
  return all(e.matmul, validMatmul) && all(e.attention, validAttention) &&
    isRecord(e.norm) && Object.entries(e.norm).every(([k, v]) => validNorm(k, v)) &&
    all(e.fused, validFused);
}

/**
 * The file at `path`, or an empty one when it is absent, unreadable, of another format or not
 * JSON; entries that are not well formed are left out.
 */
export async function readTuneCache(path: string): Promise<TuneCacheFile> {
  const empty: TuneCacheFile = { format: TUNE_CACHE_FORMAT, devices: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return empty;
  }
  if (!isRecord(parsed) || parsed.format !== TUNE_CACHE_FORMAT || !isRecord(parsed.devices)) {
    return empty;
  }
  const devices = Object.entries(parsed.devices).filter(([, e]) => validEntry(e));
  return {
    format: TUNE_CACHE_FORMAT,
    devices: Object.fromEntries(devices) as TuneCacheFile["devices"],
  };
}

/** Entries of a profile's four maps. */
export function profileEntries(p: DeviceProfile): number {
  return PROFILE_MAPS.reduce((n, k) => n + p[k].size, 0);
}

/** Copies an entry's choices into `p` where `p` has none of its own (measured ones win). */
export function mergeIntoProfile(p: DeviceProfile, e: TuneCacheEntry): void {
  for (const k of PROFILE_MAPS) {
    const dst = p[k] as Map<string, unknown>;
    for (const [key, v] of Object.entries(e[k])) if (!dst.has(key)) dst.set(key, v);
  }
}

/** `p`'s choices as an entry measured at `measuredAt`. */
export function entryOfProfile(p: DeviceProfile, measuredAt: string): TuneCacheEntry {
  const maps = PROFILE_MAPS.map((k) => [k, Object.fromEntries(p[k] as Map<string, unknown>)]);
  return { measuredAt, ...Object.fromEntries(maps) } as TuneCacheEntry;
}

/** Per process: identities already read (or skipped by refreshTuning) and entries written. */
const restored = new Set<string>();
const saved = new Map<string, number>();

/**
 * Ignore the file's choices for this process (`calibrate`: measure every shape afresh); what
 * is measured still replaces them in the file.
 */
export function refreshTuning(gpu: Gpu): void {
  restored.add(tuneIdentity(gpu));
}

/**
 * Merges the file's choices for this adapter into its process-wide profile, once per
 * process, and records where they came from (`DeviceProfile.restored`).
 */
export async function restoreTuning(gpu: Gpu, path: string | null): Promise<void> {
  const id = tuneIdentity(gpu);
  if (!path || restored.has(id)) return;
  restored.add(id);
  const e = (await readTuneCache(path)).devices[id];
  if (!e) return;
  const p = deviceProfile(gpu);
  mergeIntoProfile(p, e);
  const entries = profileEntries(p);
  saved.set(id, entries);
  p.restored = { path, measuredAt: e.measuredAt, entries };
}

/**
 * Writes this adapter's profile into the file when it holds choices the file lacks (read,
 * merged - the file's choices of shapes this process did not time join the profile -, written
 * atomically; the newest TUNE_CACHE_DEVICES entries kept). A file that cannot be written is
 * left as it was.
 */
export async function persistTuning(gpu: Gpu, path: string | null): Promise<void> {
  const id = tuneIdentity(gpu);
  const p = deviceProfile(gpu);
  const entries = profileEntries(p);
  if (!path || entries === 0 || entries === saved.get(id)) return;
  const file = await readTuneCache(path);
  const old = file.devices[id];
  // The file keeps what this process did not measure, merged into a copy: merged into the
  // process's profile, the old choices of a model loaded later would stand (calibrate loads the
  // draft, writes, then loads the target, whose old choices then came back untimed).
  const merged: DeviceProfile = {
    ...p,
    matmul: new Map(p.matmul),
    attention: new Map(p.attention),
    norm: new Map(p.norm),
    fused: new Map(p.fused),
  };
  if (old) mergeIntoProfile(merged, old);
  file.devices[id] = entryOfProfile(merged, new Date().toISOString());
  const keep = Object.entries(file.devices)
    .sort((a, b) => b[1].measuredAt.localeCompare(a[1].measuredAt))
    .slice(0, TUNE_CACHE_DEVICES);
  file.devices = Object.fromEntries(keep);
  try {
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(path, JSON.stringify(file, null, 1) + "\n");
  } catch {
    return;
  }
  saved.set(id, profileEntries(p));
}
