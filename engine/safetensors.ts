/**
 * Safetensors reading: header parsing with strict validation, single-tensor reads
 * (seek + read, never the whole file), and exact float16 / bfloat16 conversion.
 *
 * File layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`),
 * then the data section; offsets are relative to the start of the data section.
 */

import { NeoxError } from "./errors.ts";

/** Element types this tool reads. Other safetensors dtypes are rejected as unsupported. */
export type DType = "F32" | "F16" | "BF16";

/** One tensor entry of a safetensors header, validated. */
export interface TensorInfo {
  /** Tensor name as written in the header (HF names, e.g. `embed_out.weight`). */
  name: string;
  /** Element type. */
  dtype: DType;
  /** Dimensions, outermost first; `[]` is a scalar. */
  shape: number[];
  /** byte offsets relative to the start of the data section */
  begin: number;
  /** End byte offset (exclusive) relative to the start of the data section. */
  end: number;
}

/** A parsed, validated safetensors header plus where its data lies in the file. */
export interface SafetensorsFile {
  /** Path the file was opened from (used in every error message). */
  path: string;
  /** Total file size in bytes. */
  fileBytes: number;
  /** absolute file offset of the data section = 8 + header length */
  dataOffset: number;
  /** Tensors by name. */
  tensors: Map<string, TensorInfo>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** Largest header accepted (the reference safetensors implementation uses the same limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of each supported dtype. */
export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

/** Real safetensors dtypes this tool recognises but cannot use. */
const OTHER_DTYPES = new Set([
  "F64",
  "I64",
  "I32",
  "I16",
  "I8",
  "U64",
  "U32",
  "U16",
  "U8",
  "BOOL",
  "F8_E4M3",
  "F8_E5M2",
  "F8_E8M0",
  "F6_E2M3",
  "F6_E3M2",
  "F4",
  "C64",
]);

/** Short, printable rendering of an arbitrary JSON value for error messages. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/** A name or text safe for a one-line message: quoted as JSON when it has control characters. */
function oneLine(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2028 || c === 0x2029) return JSON.stringify(s);
  }
  return s;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates a safetensors header from the file's first bytes.
 *
 * @param head the first bytes of the file: at least the 8-byte little-endian u64 length
 *   and the whole JSON header after it (more bytes are ignored)
 * @param fileBytes total size of the file in bytes (bounds the data section)
 * @param path the file's path, named in every error message
 * @throws NeoxError with a one-line message naming `path` and the problem
 */
export function parseSafetensorsHeader(
  head: Uint8Array,
  fileBytes: number,
  path: string,
): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new NeoxError(`${path}: ${msg}`);
  };
  if (!isNonNegInt(fileBytes)) fail(`invalid file size ${fileBytes}`);
  if (fileBytes < 8) fail(`file is ${fileBytes} bytes, too short for a safetensors header`);
  if (head.length < 8) fail(`only ${head.length} header bytes given, need at least 8`);

  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 === 0n) fail("header length is 0");
  if (n64 > BigInt(fileBytes - 8)) {
    fail(`header length ${n64} exceeds file size ${fileBytes}`);
  }
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(n64);
  if (head.length < 8 + n) {
    fail(`header truncated: length field says ${n} bytes, only ${head.length - 8} available`);
  }
  const dataOffset = 8 + n;
  const dataBytes = fileBytes - dataOffset;

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(8, 8 + n));
  } catch {
    return fail("header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return fail(`header is not valid JSON (${oneLine(why)})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    fail(`header JSON is not an object (got ${show(json)})`);
  }

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [key, entry] of Object.entries(json as Record<string, unknown>)) {
    const name = oneLine(key); // as shown in messages
    if (key === "__metadata__") {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        fail(`__metadata__ is not an object of strings (got ${show(entry)})`);
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") {
          fail(`__metadata__.${oneLine(k)} is not a string (got ${show(v)})`);
        }
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      fail(`tensor ${name}: entry is not an object (got ${show(entry)})`);
    }
    const e = entry as Record<string, unknown>;
    const dtype = e.dtype;
    if (typeof dtype !== "string") {
      fail(`tensor ${name}: dtype is not a string (got ${show(dtype)})`);
    }
    if (!(dtype === "F32" || dtype === "F16" || dtype === "BF16")) {
      const kind = OTHER_DTYPES.has(dtype as string) ? "unsupported" : "unknown";
      fail(`tensor ${name}: ${kind} dtype ${show(dtype)} (supported: F32, F16, BF16)`);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      fail(`tensor ${name}: shape ${show(shape)} is not an array of non-negative integers`);
    }
    const offs = e.data_offsets;
    if (
      !Array.isArray(offs) || offs.length !== 2 || !isNonNegInt(offs[0]) || !isNonNegInt(offs[1])
    ) {
      fail(`tensor ${name}: data_offsets ${show(offs)} is not two non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) fail(`tensor ${name}: data_offsets [${begin},${end}] has begin > end`);
    const itemBytes = DTYPE_BYTES[dtype as DType];
    let want = itemBytes;
    for (const s of shape as number[]) {
      want *= s;
      if (want > Number.MAX_SAFE_INTEGER) fail(`tensor ${name}: shape ${show(shape)} is too large`);
    }
    if (end - begin !== want) {
      fail(
        `tensor ${name}: data_offsets [${begin},${end}] hold ${end - begin} bytes, ` +
          `but ${dtype} shape ${show(shape)} needs ${want}`,
      );
    }
    if (end > dataBytes) {
      fail(
        `tensor ${name}: data_offsets [${begin},${end}] lie outside the ${dataBytes}-byte data section`,
      );
    }
    tensors.set(key, {
      name: key,
      dtype: dtype as DType,
      shape: [...(shape as number[])],
      begin,
      end,
    });
  }

  // Overlaps: sort by begin and compare each tensor with the furthest end seen so far.
  // Gaps between tensors are allowed; empty tensors cannot overlap anything.
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin)
    .sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: TensorInfo | null = null;
  for (const t of sorted) {
    if (prev !== null && t.begin < prev.end) {
      fail(
        `tensors ${oneLine(prev.name)} [${prev.begin},${prev.end}] and ` +
          `${oneLine(t.name)} [${t.begin},${t.end}] overlap`,
      );
    }
    if (prev === null || t.end > prev.end) prev = t;
  }
  return { path, fileBytes, dataOffset, tensors, metadata };
}

/** Stats `path`, turning a missing file or a folder into a one-line NeoxError. */
async function statFile(path: string): Promise<Deno.FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new NeoxError(`${path}: file not found`);
    throw new NeoxError(`${path}: cannot open (${e instanceof Error ? e.message : e})`);
  }
  if (info.isDirectory) throw new NeoxError(`${path}: is a folder, expected a .safetensors file`);
  return info;
}

/** Reads exactly `buf.length` bytes at the file's current position, or throws on early EOF. */
async function readFull(f: Deno.FsFile, buf: Uint8Array, path: string, what: string) {
  let got = 0;
  while (got < buf.length) {
    const r = await f.read(buf.subarray(got));
    if (r === null) {
      throw new NeoxError(`${path}: file ended after ${got} of ${buf.length} bytes of ${what}`);
    }
    got += r;
  }
}

/**
 * Opens a safetensors file and reads and validates only its header. The header length
 * is checked against the file size and {@link MAX_HEADER_BYTES} before any allocation.
 *
 * @throws NeoxError naming the path: missing file, folder, or any header problem
 */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  const info = await statFile(path);
  const fileBytes = info.size;
  if (fileBytes < 8) {
    throw new NeoxError(`${path}: file is ${fileBytes} bytes, too short for a safetensors header`);
  }
  const f = await Deno.open(path, { read: true });
  try {
    const len = new Uint8Array(8);
    await readFull(f, len, path, "the header length");
    const n64 = new DataView(len.buffer).getBigUint64(0, true);
    if (n64 === 0n || n64 > BigInt(fileBytes - 8) || n64 > BigInt(MAX_HEADER_BYTES)) {
      return parseSafetensorsHeader(len, fileBytes, path); // throws the precise message
    }
    const head = new Uint8Array(8 + Number(n64));
    head.set(len);
    await readFull(f, head.subarray(8), path, "the header");
    return parseSafetensorsHeader(head, fileBytes, path);
  } finally {
    f.close();
  }
}

/**
 * Reads one tensor's raw little-endian bytes with a seek and a full read of just
 * its byte range.
 *
 * @throws NeoxError when the tensor is absent or the file is shorter than its header says
 */
export async function readTensorBytes(file: SafetensorsFile, name: string): Promise<Uint8Array> {
  const t = file.tensors.get(name);
  if (t === undefined) throw new NeoxError(`${file.path}: no tensor named ${name}`);
  const out = new Uint8Array(t.end - t.begin);
  const f = await Deno.open(file.path, { read: true });
  try {
    await f.seek(file.dataOffset + t.begin, Deno.SeekMode.Start);
    await readFull(f, out, file.path, `tensor ${name}`);
  } finally {
    f.close();
  }
  return out;
}

/** float16 bits -> float32 value for all 65536 bit patterns (built on first use). */
let f16Table: Float32Array | null = null;

function getF16Table(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/**
 * Decodes raw little-endian bytes of `dtype` to float32. Exact for F16 and BF16
 * (every value of both is representable in float32).
 *
 * @throws NeoxError when the byte count is not a multiple of the element size
 */
export function toFloat32(dtype: DType, bytes: Uint8Array): Float32Array {
  const isz = DTYPE_BYTES[dtype];
  if (isz === undefined) throw new NeoxError(`unsupported dtype ${dtype}`);
  if (bytes.length % isz !== 0) {
    throw new NeoxError(`${dtype} data of ${bytes.length} bytes is not a multiple of ${isz}`);
  }
  const n = bytes.length / isz;
  const out = new Float32Array(n); // [n]
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  } else if (dtype === "F16") {
    const tab = getF16Table();
    for (let i = 0; i < n; i++) out[i] = tab[dv.getUint16(2 * i, true)];
  } else {
    // bfloat16 is the high half of a float32
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
  }
  return out;
}

/**
 * IEEE 754 half-precision bits -> value, exactly (subnormals, signed zeros, infinities;
 * every NaN pattern gives NaN).
 */
export function f16BitsToF32(h: number): number {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24; // zero or subnormal
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1024 + m) * 2 ** (e - 25);
}

/**
 * Value -> IEEE 754 half-precision bits with round-to-nearest-even (the rounding of
 * `Math.f16round` and of float32 -> float16 casts). Overflow gives infinity, NaN gives
 * the quiet NaN 0x7e00, and the sign of zero is kept.
 */
export function f32ToF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65520 is halfway to 2^16: ties to even -> inf
  if (a < 2 ** -14) {
    // subnormal range: units of 2^-24; m == 1024 rounds up into the smallest normal
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven(a * 2 ** (10 - e)); // in [1024, 2048]
  if (m === 2048) {
    m = 1024;
    e++;
  }
  if (e + 15 >= 31) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/** Rounds a non-negative value to the nearest integer, ties to even (exact for q < 2^52). */
function roundHalfEven(q: number): number {
  const r = Math.floor(q);
  const f = q - r;
  return f > 0.5 || (f === 0.5 && (r & 1) === 1) ? r + 1 : r;
}
