/**
 * Tests for engine/safetensors.ts: the real checkpoints, dtype conversion, and a table
 * of malformed files that must each fail with a one-line NeoxError naming the problem.
 */

import assert from "node:assert/strict";
import { NeoxError } from "../engine/errors.ts";
import {
  f16BitsToF32,
  f32ToF16Bits,
  openSafetensors,
  parseSafetensorsHeader,
  readTensorBytes,
  toFloat32,
} from "../engine/safetensors.ts";
import { goldensDir, modelsDir } from "./goldens.ts";

const enc = new TextEncoder();

/** Builds a safetensors file: u64 LE header length, header text, then `dataBytes` bytes. */
function buildFile(header: unknown, dataBytes: number, lenOverride?: bigint): Uint8Array {
  const h = enc.encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  for (let i = 0; i < dataBytes; i++) out[8 + h.length + i] = (i * 37) & 0xff;
  return out;
}

Deno.test("real checkpoint: pydoc-neox-20m header, offsets and a tensor read", async () => {
  const path = `${modelsDir}pydoc-neox-20m/model.safetensors`;
  const f = await openSafetensors(path);
  assert.equal(f.path, path);
  assert.equal(f.tensors.size, 100);
  assert.equal(f.dataOffset, 8 + 11216);
  assert.equal(f.fileBytes, (await Deno.stat(path)).size);
  assert.deepEqual(f.metadata, { format: "pt" });
  const emb = f.tensors.get("gpt_neox.embed_in.weight")!;
  assert.equal(emb.dtype, "F16");
  assert.deepEqual(emb.shape, [8192, 384]);
  assert.equal(emb.end - emb.begin, 8192 * 384 * 2);
  let maxEnd = 0;
  for (const t of f.tensors.values()) maxEnd = Math.max(maxEnd, t.end);
  assert.equal(f.dataOffset + maxEnd, f.fileBytes);

  // readTensorBytes agrees with slicing the whole file
  const whole = await Deno.readFile(path);
  const ln = f.tensors.get("gpt_neox.final_layer_norm.weight")!;
  const bytes = await readTensorBytes(f, ln.name);
  assert.deepEqual(bytes, whole.subarray(f.dataOffset + ln.begin, f.dataOffset + ln.end));
  const vals = toFloat32("F16", bytes);
  assert.equal(vals.length, 384);
  assert.ok(vals.every(Number.isFinite));
  await assert.rejects(() => readTensorBytes(f, "nope.weight"), (e: unknown) => {
    assert.ok(e instanceof NeoxError);
    assert.match(e.message, /no tensor named nope\.weight/);
    return true;
  });
});

Deno.test("real checkpoint: oddball-b (F32) header and a tensor read", async () => {
  const path = `${goldensDir}oddball-b/model.safetensors`;
  const f = await openSafetensors(path);
  assert.equal(f.tensors.size, 28);
  assert.equal(f.dataOffset, 8 + 3024);
  const t = f.tensors.get("embed_out.weight")!;
  assert.equal(t.dtype, "F32");
  assert.deepEqual(t.shape, [512, 128]);
  const whole = await Deno.readFile(path);
  const got = toFloat32("F32", await readTensorBytes(f, t.name));
  const dv = new DataView(whole.buffer, f.dataOffset + t.begin);
  for (const i of [0, 1, 777, 512 * 128 - 1]) assert.equal(got[i], dv.getFloat32(4 * i, true));
});

Deno.test("f16: every bit pattern round-trips and matches Float16Array", () => {
  const F16 = (globalThis as Record<string, unknown>).Float16Array as
    | (new (b: ArrayBuffer) => ArrayLike<number>)
    | undefined;
  const u16 = new Uint16Array(1);
  const native = F16 ? new F16(u16.buffer) : null;
  for (let h = 0; h < 65536; h++) {
    const v = f16BitsToF32(h);
    const e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e === 31 && m !== 0) {
      assert.ok(Number.isNaN(v));
      assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(v))));
      continue;
    }
    assert.equal(Math.fround(v), v, `f16 ${h} exact in f32`);
    assert.equal(f32ToF16Bits(v), h, `round trip of bits ${h.toString(16)}`);
    if (native) {
      u16[0] = h;
      assert.ok(Object.is(native[0], v), `bits ${h.toString(16)}: ${native[0]} vs ${v}`);
    }
  }
});

Deno.test("f16: edge cases and round-to-nearest-even", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // max finite
    [65519.99, 0x7bff], // below the halfway point
    [65520, 0x7c00], // halfway to 2^16: ties to even -> inf
    [1e9, 0x7c00],
    [-Infinity, 0xfc00],
    [Infinity, 0x7c00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and 2^-24 -> even (0)
    [2 ** -25 * 1.0001, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units -> even (2)
    [2 ** -14 - 2 ** -25, 0x0400], // tie at the top of the subnormals -> smallest normal
    [1 + 2 ** -11, 0x3c00], // tie -> even mantissa 0
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even mantissa 2
    [1 + 2 ** -11 + 2 ** -30, 0x3c01],
    [2047, 0x67ff], // largest value with exponent 10 (ulp 1)
    [2047.5, 0x6800], // tie between 2047 (odd) and 2048 -> carries into the next exponent
    [0.1, 0x2e66],
  ];
  for (const [x, h] of cases) {
    assert.equal(f32ToF16Bits(x), h, `f32ToF16Bits(${x})`);
  }
  assert.equal(f32ToF16Bits(NaN), 0x7e00);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  assert.equal(f16BitsToF32(0x7c00), Infinity);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  assert.equal(f16BitsToF32(0x03ff), 1023 * 2 ** -24); // largest subnormal
});

Deno.test("f16: f32ToF16Bits matches Math.f16round on random float32 values", () => {
  const f16round = (Math as unknown as Record<string, unknown>).f16round as
    | ((x: number) => number)
    | undefined;
  if (!f16round) return; // runtime without Math.f16round: covered by the round trips above
  let s = 12345;
  const u32 = new Uint32Array(1), f32 = new Float32Array(u32.buffer);
  for (let i = 0; i < 200_000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // bias exponents towards the f16 range: keep sign, random exponent 100..160
    u32[0] = (s & 0x807fffff) | (((s >>> 23) % 61 + 100) << 23);
    const x = f32[0];
    const want = f16round(x);
    const got = f16BitsToF32(f32ToF16Bits(x));
    assert.ok(Object.is(got, want), `x=${x}: got ${got}, Math.f16round ${want}`);
  }
});

Deno.test("toFloat32: F32, F16 and BF16 decoding (unaligned input too)", () => {
  const raw = new Uint8Array(1 + 12);
  const dv = new DataView(raw.buffer, 1);
  dv.setFloat32(0, 1.5, true);
  dv.setFloat32(4, -3.25e-20, true);
  dv.setFloat32(8, Infinity, true);
  assert.deepEqual(Array.from(toFloat32("F32", raw.subarray(1))), [
    1.5,
    Math.fround(-3.25e-20),
    Infinity,
  ]);

  const h = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]);
  assert.deepEqual(Array.from(toFloat32("F16", h)), [1, -2, 2 ** -24, Infinity]);

  // bf16 bits are the high half of a float32
  const b = new Uint8Array([0x80, 0x3f, 0x00, 0xc0, 0x01, 0x00, 0x80, 0x7f, 0xc9, 0x40]);
  const bv = toFloat32("BF16", b);
  assert.deepEqual(Array.from(bv.subarray(0, 4)), [1, -2, 2 ** -133, Infinity]);
  assert.equal(bv[4], 6.28125); // 0x40c9 -> 0x40c90000
  assert.throws(() => toFloat32("F16", new Uint8Array(3)), NeoxError);
});

/** A malformed-file case: file bytes (or a raw head + claimed size) and the expected message. */
interface BadCase {
  what: string;
  bytes?: Uint8Array;
  /** for parseSafetensorsHeader only: pretend the file has this size */
  fileBytes?: number;
  want: RegExp;
}

const okTensor = { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] };
const bad: BadCase[] = [
  { what: "empty file", bytes: new Uint8Array(0), want: /0 bytes, too short/ },
  { what: "truncated length field", bytes: new Uint8Array(5), want: /5 bytes, too short/ },
  {
    what: "header length 2^62",
    bytes: buildFile({ a: okTensor }, 16, 2n ** 62n),
    want: /header length 4611686018427387904 exceeds file size \d+/,
  },
  {
    what: "header length 2^64-1",
    bytes: buildFile({ a: okTensor }, 16, 2n ** 64n - 1n),
    want: /header length 18446744073709551615 exceeds file size/,
  },
  { what: "header length 0", bytes: buildFile({}, 16, 0n), want: /header length is 0/ },
  {
    what: "header longer than the file",
    bytes: buildFile({ a: okTensor }, 0).subarray(0, 30),
    want: /header length \d+ exceeds file size 30/,
  },
  {
    what: "header over the 100 MB limit",
    bytes: buildFile({}, 0, 150_000_000n).subarray(0, 8),
    fileBytes: 200_000_000,
    want: /header length 150000000 exceeds the 100000000-byte limit/,
  },
  { what: "non-JSON header", bytes: buildFile("{not json", 16), want: /header is not valid JSON/ },
  {
    what: "invalid UTF-8",
    bytes: (() => {
      const f = buildFile('{"a":1}', 0);
      f[9] = 0xff;
      return f;
    })(),
    want: /header is not valid UTF-8/,
  },
  { what: "JSON array header", bytes: buildFile([1, 2], 0), want: /header JSON is not an object/ },
  {
    what: "__metadata__ not a string map",
    bytes: buildFile({ __metadata__: { format: 3 } }, 0),
    want: /__metadata__\.format is not a string/,
  },
  {
    what: "unknown dtype",
    bytes: buildFile({ w: { ...okTensor, dtype: "F99" } }, 16),
    want: /tensor w: unknown dtype "F99"/,
  },
  {
    what: "unsupported real dtype",
    bytes: buildFile({ ids: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, 16),
    want: /tensor ids: unsupported dtype "I64"/,
  },
  {
    what: "negative shape",
    bytes: buildFile({ w: { ...okTensor, shape: [-2, 2] } }, 16),
    want: /tensor w: shape \[-2,2\] is not an array of non-negative integers/,
  },
  {
    what: "fractional shape",
    bytes: buildFile({ w: { ...okTensor, shape: [2.5] } }, 16),
    want: /tensor w: shape \[2.5\]/,
  },
  {
    what: "data_offsets not a pair",
    bytes: buildFile({ w: { ...okTensor, data_offsets: [0] } }, 16),
    want: /tensor w: data_offsets \[0\] is not two non-negative integers/,
  },
  {
    what: "begin > end",
    bytes: buildFile({ w: { dtype: "F32", shape: [0], data_offsets: [8, 4] } }, 16),
    want: /tensor w: data_offsets \[8,4\] has begin > end/,
  },
  {
    what: "size mismatch",
    bytes: buildFile({ w: { ...okTensor, shape: [2, 3] } }, 16),
    want: /tensor w: data_offsets \[0,16\] hold 16 bytes, but F32 shape \[2,3\] needs 24/,
  },
  {
    what: "offsets out of range",
    bytes: buildFile({ w: { ...okTensor, data_offsets: [8, 24] } }, 16),
    want: /tensor w: data_offsets \[8,24\] lie outside the 16-byte data section/,
  },
  {
    what: "overlapping tensors",
    bytes: buildFile({
      a: okTensor,
      b: { dtype: "F16", shape: [4], data_offsets: [12, 20] },
    }, 32),
    want: /tensors a \[0,16\] and b \[12,20\] overlap/,
  },
  {
    what: "tensor nested inside another",
    bytes: buildFile({
      big: { dtype: "F32", shape: [8], data_offsets: [0, 32] },
      mid: { dtype: "F16", shape: [2], data_offsets: [20, 24] },
      end: { dtype: "F16", shape: [2], data_offsets: [24, 28] },
    }, 32),
    want: /tensors big \[0,32\] and mid \[20,24\] overlap/,
  },
  {
    what: "entry not an object",
    bytes: buildFile({ w: [1, 2] }, 0),
    want: /tensor w: entry is not an object/,
  },
];

Deno.test("malformed files: each throws a one-line NeoxError naming the problem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "neox-st-" });
  try {
    for (const [i, c] of bad.entries()) {
      const path = `${dir}/bad${i}.safetensors`;
      const check = (e: unknown) => {
        assert.ok(e instanceof NeoxError, `${c.what}: not a NeoxError: ${e}`);
        assert.equal(e.exitCode, 1);
        assert.ok(e.message.startsWith(`${path}: `), `${c.what}: ${e.message}`);
        assert.match(e.message, c.want, c.what);
        assert.ok(!e.message.includes("\n"), `${c.what}: multi-line message`);
        return true;
      };
      assert.throws(
        () => parseSafetensorsHeader(c.bytes!, c.fileBytes ?? c.bytes!.length, path),
        check,
      );
      if (c.fileBytes === undefined) {
        await Deno.writeFile(path, c.bytes!);
        await assert.rejects(() => openSafetensors(path), check, c.what);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("valid edge files: gaps, empty tensors, scalars, metadata, padding", () => {
  const header = {
    __metadata__: { format: "pt", note: "x" },
    s: { dtype: "BF16", shape: [], data_offsets: [0, 2] },
    gap: { dtype: "F16", shape: [3], data_offsets: [4, 10] }, // bytes 2..4 unused
    e1: { dtype: "F32", shape: [0, 5], data_offsets: [10, 10] },
    e2: { dtype: "F32", shape: [0], data_offsets: [6, 6] }, // empty, inside gap's range
  };
  const text = JSON.stringify(header) + "    "; // trailing spaces are allowed padding
  const f = parseSafetensorsHeader(buildFile(text, 12), 8 + enc.encode(text).length + 12, "x");
  assert.equal(f.tensors.size, 4);
  assert.deepEqual(f.metadata, { format: "pt", note: "x" });
  assert.deepEqual(f.tensors.get("s")!.shape, []);
  assert.equal(f.tensors.get("gap")!.begin, 4);
});

Deno.test("missing file and folder: one line naming the path", async () => {
  const missing = `${modelsDir}does-not-exist/model.safetensors`;
  await assert.rejects(() => openSafetensors(missing), (e: unknown) => {
    assert.ok(e instanceof NeoxError);
    assert.equal(e.message, `${missing}: file not found`);
    return true;
  });
  await assert.rejects(() => openSafetensors(modelsDir), (e: unknown) => {
    assert.ok(e instanceof NeoxError);
    assert.match(e.message, /is a folder/);
    assert.ok(e.message.startsWith(modelsDir));
    return true;
  });
});

Deno.test("readTensorBytes: file shortened after opening reports the truncation", async () => {
  const dir = await Deno.makeTempDir({ prefix: "neox-st-" });
  try {
    const path = `${dir}/t.safetensors`;
    await Deno.writeFile(path, buildFile({ w: okTensor }, 16));
    const f = await openSafetensors(path);
    assert.equal((await readTensorBytes(f, "w")).length, 16);
    const full = await Deno.readFile(path);
    await Deno.writeFile(path, full.subarray(0, full.length - 4));
    await assert.rejects(() => readTensorBytes(f, "w"), (e: unknown) => {
      assert.ok(e instanceof NeoxError);
      assert.match(e.message, /file ended after 12 of 16 bytes of tensor w/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
