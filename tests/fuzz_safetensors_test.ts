/**
 * Seeded fuzzing of parseSafetensorsHeader: mutated headers must either parse to a file
 * whose tensors all lie in bounds without overlaps, or throw a one-line NeoxError;
 * never any other exception.
 */

import assert from "node:assert/strict";
import { NeoxError } from "../engine/errors.ts";
import {
  DTYPE_BYTES,
  parseSafetensorsHeader,
  type SafetensorsFile,
} from "../engine/safetensors.ts";
import { modelsDir } from "./goldens.ts";

/** mulberry32: small deterministic PRNG returning floats in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A file as the parser sees it: its first bytes (length field + header) and its total
 * size; the data section is never materialised.
 */
interface Head {
  bytes: Uint8Array;
  fileBytes: number;
}

/** Builds the head of a file with `dataBytes` of data, with an optional forced length field. */
function build(headerText: string, dataBytes: number, len?: bigint): Head {
  const h = enc.encode(headerText);
  const bytes = new Uint8Array(8 + h.length);
  new DataView(bytes.buffer).setBigUint64(0, len ?? BigInt(h.length), true);
  bytes.set(h, 8);
  return { bytes, fileBytes: bytes.length + dataBytes };
}

/** A small valid file: all three dtypes, a scalar, an empty tensor, a gap, metadata. */
function syntheticHeader(): { text: string; dataBytes: number } {
  const h = {
    __metadata__: { format: "pt" },
    "a.weight": { dtype: "F16", shape: [4, 3], data_offsets: [0, 24] },
    "a.bias": { dtype: "F32", shape: [3], data_offsets: [24, 36] },
    "b.scale": { dtype: "BF16", shape: [], data_offsets: [40, 42] },
    "c.empty": { dtype: "F32", shape: [0, 7], data_offsets: [42, 42] },
    "d.weight": { dtype: "F32", shape: [2, 2, 2], data_offsets: [44, 76] },
  };
  return { text: JSON.stringify(h), dataBytes: 80 };
}

const VALUE_POOL: unknown[] = [
  0,
  1,
  2,
  -1,
  3.5,
  1e308,
  -0,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 31,
  "F32",
  "F16",
  "BF16",
  "I64",
  "F64",
  "",
  "x",
  null,
  true,
  [],
  [0],
  [0, 0],
  [1, 0],
  [0, 1e300],
  [0, 4, 8],
  [-4, 4],
  [2, 2],
  [0, "4"],
  {},
  { a: 1 },
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

/** A random value for a field: from the pool, or a random integer / small array. */
function randomValue(r: () => number): unknown {
  const k = r();
  if (k < 0.5) return pick(r, VALUE_POOL);
  if (k < 0.7) return Math.floor(r() * 200) - 20;
  const n = Math.floor(r() * 4);
  return Array.from({ length: n }, () => (r() < 0.8 ? Math.floor(r() * 100) : pick(r, VALUE_POOL)));
}

/** Edits the parsed header JSON (dtype / shape / offsets / entries) and rebuilds the file. */
function jsonEdit(r: () => number, text: string, dataBytes: number): Head {
  const h = JSON.parse(text) as Record<string, unknown>;
  const names = Object.keys(h);
  const edits = 1 + Math.floor(r() * 3);
  for (let i = 0; i < edits; i++) {
    const name = pick(r, names);
    const e = h[name];
    const k = r();
    if (typeof e === "object" && e !== null && !Array.isArray(e) && name !== "__metadata__") {
      const ent = e as Record<string, unknown>;
      if (k < 0.25) {
        ent.dtype = r() < 0.5
          ? pick(r, ["F32", "F16", "BF16", "I64", "U8", "f32"])
          : randomValue(r);
      } else if (k < 0.5) ent.shape = randomValue(r);
      else if (k < 0.8) {
        const offs = ent.data_offsets as number[];
        ent.data_offsets = r() < 0.6 && Array.isArray(offs)
          ? offs.map((o) => (r() < 0.5 ? o + Math.floor(r() * 17) - 8 : o))
          : randomValue(r);
      } else if (k < 0.85) delete ent[pick(r, ["dtype", "shape", "data_offsets"])];
      else if (k < 0.92) h[name] = randomValue(r); // entry replaced by a non-entry
      else h[name + pick(r, ["", ".copy", "\n", "\u0000"])] = { ...ent }; // duplicate entry
    } else if (k < 0.5) {
      h[name] = randomValue(r);
    } else {
      h.__metadata__ = r() < 0.5 ? { format: randomValue(r) } : randomValue(r);
    }
  }
  let out = JSON.stringify(r() < 0.02 ? pick(r, [[h], null, 3, "h"]) : h); // rarely: not an object
  if (r() < 0.2) out += " ".repeat(Math.floor(r() * 8)); // padding
  const extra = r() < 0.3 ? Math.floor(r() * 40) - 20 : 0;
  return build(out, Math.max(0, dataBytes + extra));
}

/** One random mutation of the valid file. */
function mutate(r: () => number, valid: Head, text: string, dataBytes: number): Head {
  const n = valid.fileBytes;
  const kind = Math.floor(r() * 5);
  if (kind === 0) {
    // byte flips / overwrites inside the length field and header
    const b = valid.bytes.slice();
    const flips = 1 + Math.floor(r() * 4);
    for (let i = 0; i < flips; i++) {
      const at = r() < 0.1 ? Math.floor(r() * 8) : 8 + Math.floor(r() * (b.length - 8));
      b[at] = r() < 0.5 ? b[at] ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
    }
    return { bytes: b, fileBytes: n };
  }
  if (kind === 1) {
    // truncation: mostly inside the header, sometimes inside the data section
    const len = r() < 0.7 ? Math.floor(r() * valid.bytes.length) : Math.floor(r() * n);
    return { bytes: valid.bytes.slice(0, len), fileBytes: len };
  }
  if (kind === 2) {
    // length field edits
    const b = valid.bytes.slice();
    const hl = BigInt(enc.encode(text).length);
    const choices: bigint[] = [
      0n,
      1n,
      hl - 1n,
      hl + 1n,
      hl + BigInt(Math.floor(r() * 100)),
      BigInt(n - 8),
      BigInt(n - 7),
      2n ** 62n,
      2n ** 64n - 1n,
      2n ** 32n + hl,
      BigInt(Math.floor(r() * 2 ** 32)),
      100_000_001n,
    ];
    new DataView(b.buffer).setBigUint64(0, pick(r, choices), true);
    // sometimes claim a 2 GiB file, so that only the 100 MB header limit can reject
    return { bytes: b, fileBytes: r() < 0.2 ? 2 ** 31 : n };
  }
  if (kind === 3) return jsonEdit(r, text, dataBytes);
  // the file is shorter or longer than the header expects
  const delta = Math.floor(r() * 2 * dataBytes) - dataBytes;
  return { bytes: valid.bytes, fileBytes: Math.max(0, n + delta) };
}

/** Invariants of a successfully parsed file. */
function checkValid(f: SafetensorsFile, fileBytes: number) {
  const dataBytes = fileBytes - f.dataOffset;
  assert.ok(f.dataOffset >= 9 && f.dataOffset <= fileBytes);
  const spans: [number, number][] = [];
  for (const t of f.tensors.values()) {
    assert.ok(["F32", "F16", "BF16"].includes(t.dtype));
    assert.ok(t.shape.every((s) => Number.isSafeInteger(s) && s >= 0));
    assert.ok(Number.isSafeInteger(t.begin) && Number.isSafeInteger(t.end));
    assert.ok(0 <= t.begin && t.begin <= t.end && t.end <= dataBytes, `${t.name} out of bounds`);
    assert.equal(t.end - t.begin, t.shape.reduce((a, b) => a * b, DTYPE_BYTES[t.dtype]));
    if (t.end > t.begin) spans.push([t.begin, t.end]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], "overlap");
  for (const v of Object.values(f.metadata)) assert.equal(typeof v, "string");
}

/** Which check rejected a file, from its message (to show the fuzzer reaches them all). */
const KINDS: [string, RegExp][] = [
  ["too short", /too short|only \d+ header bytes/],
  ["length 0", /header length is 0/],
  ["length > file", /exceeds file size/],
  ["length > limit", /byte limit/],
  ["header truncated", /header truncated/],
  ["utf-8", /not valid UTF-8/],
  ["json", /not valid JSON/],
  ["not object", /header JSON is not an object|entry is not an object/],
  ["metadata", /__metadata__/],
  ["dtype", /dtype/],
  ["shape", /shape .* is not an array|is too large/],
  ["offsets", /data_offsets .* is not two|begin > end/],
  ["size mismatch", /hold \d+ bytes/],
  ["out of range", /outside the/],
  ["overlap", /overlap/],
];

function fuzz(seed: number, iters: number, text: string, dataBytes: number, seen: Set<string>) {
  const r = prng(seed);
  const valid = build(text, dataBytes);
  checkValid(
    parseSafetensorsHeader(valid.bytes, valid.fileBytes, "fuzz.safetensors"),
    valid.fileBytes,
  );
  let ok = 0, rejected = 0;
  for (let i = 0; i < iters; i++) {
    const { bytes, fileBytes } = mutate(r, valid, text, dataBytes);
    let f: SafetensorsFile;
    try {
      f = parseSafetensorsHeader(bytes, fileBytes, "fuzz.safetensors");
    } catch (e) {
      if (!(e instanceof NeoxError)) {
        throw new Error(`seed ${seed} iteration ${i}: non-NeoxError ${e}`);
      }
      assert.ok(e.message.startsWith("fuzz.safetensors: "), e.message);
      assert.ok(!/[\n\r]/.test(e.message), `multi-line message: ${JSON.stringify(e.message)}`);
      const kind = KINDS.find(([, re]) => re.test(e.message));
      assert.ok(kind, `unclassified message: ${e.message}`);
      seen.add(kind[0]);
      rejected++;
      continue;
    }
    checkValid(f, fileBytes);
    ok++;
  }
  return { ok, rejected };
}

Deno.test("fuzz: 4 x 5000 mutations of a synthetic header", () => {
  const { text, dataBytes } = syntheticHeader();
  const seen = new Set<string>();
  for (const seed of [0xC0FFEE, 1, 2, 3]) {
    const { ok, rejected } = fuzz(seed, 5000, text, dataBytes, seen);
    console.log(`synthetic seed ${seed}: ${ok} parsed valid, ${rejected} rejected with NeoxError`);
    assert.ok(ok > 100 && rejected > 1000, `too one-sided: ${ok} ok, ${rejected} rejected`);
  }
  console.log(`rejection kinds reached: ${[...seen].join(", ")}`);
  assert.deepEqual(KINDS.map(([k]) => k).filter((k) => !seen.has(k)), []);
});

Deno.test("fuzz: 2000 mutations of the real pydoc-neox-2.5m header", async () => {
  // read only the header of the real file
  const path = `${modelsDir}pydoc-neox-2.5m/model.safetensors`;
  const f = await Deno.open(path);
  const head = new Uint8Array(8);
  await f.read(head);
  const n = Number(new DataView(head.buffer).getBigUint64(0, true));
  const hdr = new Uint8Array(n);
  let got = 0;
  while (got < n) got += (await f.read(hdr.subarray(got))) ?? n;
  f.close();
  const fileBytes = (await Deno.stat(path)).size;
  const text = dec.decode(hdr);
  const { ok, rejected } = fuzz(7, 2000, text, fileBytes - 8 - n, new Set());
  console.log(`pydoc-neox-2.5m: ${ok} parsed valid, ${rejected} rejected with NeoxError`);
  assert.ok(ok > 20 && rejected > 500, `too one-sided: ${ok} ok, ${rejected} rejected`);
});
