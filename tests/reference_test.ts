/**
 * Tests for the float64 reference (tests/reference.ts): building blocks against
 * closed forms and high-precision values, and the whole forward against the goldens
 * from transformers (target, draft, oddball-b).
 */

import assert from "node:assert/strict";
import {
  loadReferenceModel,
  refAttention,
  referenceForward,
  type ReferenceModel,
  refErf,
  refErfc,
  refGelu,
  refGeluTanh,
  refLayerNorm,
  refLinear,
  refRotary,
} from "./reference.ts";
import { decodeF32Base64, goldensDir, modelsDir, readGolden } from "./goldens.ts";

/** Tolerance against the float32 transformers goldens. */
const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

Deno.test("refErf / refErfc match 40-digit values", () => {
  // [x, erf(x), erfc(x)] from mpmath at 40 digits
  const table: [number, number, number][] = [
    [0, 0, 1],
    [1e-8, 1.1283791670955125599e-8, 0.99999998871620832904],
    [0.1, 0.1124629160182848984, 0.8875370839817151016],
    [0.5, 0.52049987781304653768, 0.47950012218695346232],
    [1, 0.84270079294971486934, 0.15729920705028513066],
    [1.5, 0.96610514647531072707, 0.033894853524689272933],
    [2, 0.99532226501895273416, 0.0046777349810472658379],
    [2.5, 0.99959304798255504106, 0.00040695201744495893956],
    [2.9999, 0.99997789557351783909, 0.000022104426482160909043],
    [3, 0.99997790950300141456, 0.000022090496998585441373],
    [3.5, 0.99999925690162765859, 7.4309837234141274552e-7],
    [4, 0.99999998458274209972, 1.5417257900280018852e-8],
    [5, 0.99999999999846254021, 1.5374597944280348502e-12],
    [6, 0.99999999999999997848, 2.1519736712498913117e-17],
    [-0.7, -0.67780119383741844228, 1.6778011938374184423],
    [-2.2, -0.99813715370201811014, 1.9981371537020181101],
    [-3.3, -0.99999694229020356183, 1.9999969422902035618],
  ];
  for (const [x, erf, erfc] of table) {
    assert.ok(Math.abs(refErf(x) - erf) < 1e-15, `erf(${x}) = ${refErf(x)}, want ${erf}`);
    // erfc: absolute 1e-15, and relative 1e-12 in the tail
    const e = Math.abs(refErfc(x) - erfc);
    assert.ok(e < 1e-15 && e <= 1e-13 * erfc, `erfc(${x}) = ${refErfc(x)}, want ${erfc}`);
  }
  assert.equal(refErf(40), 1);
  assert.equal(refErf(-40), -1);
  assert.ok(Number.isNaN(refErf(NaN)));
});

Deno.test("refGelu / refGeluTanh", () => {
  // x * Phi(x) from mpmath
  const table: [number, number][] = [
    [-8, -4.9767684594174272988e-15],
    [-5, -1.4332578593959695584e-6],
    [-3, -0.00404969409489028358],
    [-1, -0.15865525393145705141],
    [-0.5, -0.15426876936299344818],
    [0, 0],
    [0.5, 0.34573123063700655182],
    [1, 0.84134474606854294859],
    [3, 2.9959503059051097164],
    [10, 10],
  ];
  for (const [x, g] of table) {
    assert.ok(Math.abs(refGelu(x) - g) < 1e-15, `gelu(${x}) = ${refGelu(x)}, want ${g}`);
  }
  assert.equal(refGeluTanh(0), 0);
  const c = Math.sqrt(2 / Math.PI);
  assert.equal(refGeluTanh(1), 0.5 * (1 + Math.tanh(c * 1.044715)));
  for (const x of [-3, -1, 0.5, 2]) assert.ok(Math.abs(refGeluTanh(x) - refGelu(x)) < 1e-3);
});

Deno.test("refLayerNorm and refLinear on small inputs", () => {
  const x = Float64Array.from([1, 2, 3, 4, -1, 1, -1, 1]); // [2,4]
  const y = refLayerNorm(
    x,
    Float64Array.from([1, 1, 2, 1]),
    Float64Array.from([0, 0, 0, 1]),
    2,
    4,
    0,
  );
  const s = 1 / Math.sqrt(1.25); // mean 2.5, var 1.25
  const want = [-1.5 * s, -0.5 * s, 2 * 0.5 * s, 1.5 * s + 1, -1, 1, -2, 2]; // row 2: mean 0, var 1
  assert.ok(maxAbsDiff(y, want) < 1e-15);

  const a = Float64Array.from([1, 2, 3, 4, 5, 6]); // [2,3]
  const W = Float64Array.from([1, 0, 0, 0, 1, 1]); // [2,3]
  assert.deepEqual(Array.from(refLinear(a, W, Float64Array.from([10, 20]), 2, 3, 2)), [
    11,
    25,
    14,
    31,
  ]);
  assert.deepEqual(Array.from(refLinear(a, W, null, 2, 3, 2)), [1, 5, 4, 11]);
});

Deno.test("refRotary: rotate_half convention, pass-through dims, norms", () => {
  const H = 2, hd = 6, rot = 4, base = 100;
  const T = 3;
  const x = new Float64Array(T * H * hd).map((_, i) => Math.sin(i + 1)); // [T,H,hd]
  const pos = [0, 5, 11];
  const y = refRotary(x, pos, H, hd, rot, base); // [T,H,hd]
  assert.deepEqual(Array.from(y.subarray(0, H * hd)), Array.from(x.subarray(0, H * hd))); // pos 0
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const o = (t * H + h) * hd;
      for (let i = 0; i < 2; i++) {
        const f = pos[t] * base ** (-(2 * i) / rot);
        // x*cos + rotate_half(x)*sin, rotate_half(x) = cat(-x2, x1), cos/sin over cat(f,f)
        assert.ok(
          Math.abs(y[o + i] - (x[o + i] * Math.cos(f) - x[o + i + 2] * Math.sin(f))) < 1e-15,
        );
        assert.ok(
          Math.abs(y[o + i + 2] - (x[o + i + 2] * Math.cos(f) + x[o + i] * Math.sin(f))) < 1e-15,
        );
        const n0 = x[o + i] ** 2 + x[o + i + 2] ** 2, n1 = y[o + i] ** 2 + y[o + i + 2] ** 2;
        assert.ok(Math.abs(n0 - n1) < 1e-15);
      }
      assert.equal(y[o + 4], x[o + 4]);
      assert.equal(y[o + 5], x[o + 5]);
    }
  }
});

Deno.test("refAttention: single key, causal prefix equals cached decode", () => {
  const H = 2, hd = 3, T = 5;
  const q = new Float64Array(T * H * hd).map((_, i) => Math.cos(i)); // [T,H,hd]
  const k = new Float64Array(T * H * hd).map((_, i) => Math.sin(2 * i)); // [T,H,hd]
  const v = new Float64Array(T * H * hd).map((_, i) => i / 7); // [T,H,hd]
  // first query sees only the first key: output is v[0]
  const full = refAttention(q, k, v, T, T, H, hd); // [T,H,hd]
  assert.deepEqual(Array.from(full.subarray(0, H * hd)), Array.from(v.subarray(0, H * hd)));
  // decode step t over a cache of t+1 entries equals row t of the prefill
  for (let t = 0; t < T; t++) {
    const n = (t + 1) * H * hd;
    const one = refAttention(
      q.subarray(t * H * hd, n),
      k.subarray(0, n),
      v.subarray(0, n),
      1,
      t + 1,
      H,
      hd,
    );
    assert.ok(maxAbsDiff(one, full.subarray(t * H * hd, n)) < 1e-15);
  }
  // explicit qIdx: every query sees the whole cache (a non-causal check of the weights)
  const all = refAttention(q.subarray(0, H * hd), k, v, 1, T, H, hd, [T - 1]);
  const last = refAttention(q.subarray(0, H * hd), k, v, 1, T, H, hd);
  assert.deepEqual(all, last);
  // uniform scores: equal keys give the mean of the values
  const kz = new Float64Array(T * H * hd); // [T,H,hd] zeros
  const mean = refAttention(q.subarray(0, H * hd), kz, v, 1, T, H, hd);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < hd; i++) {
      let s = 0;
      for (let j = 0; j < T; j++) s += v[(j * H + h) * hd + i];
      assert.ok(Math.abs(mean[h * hd + i] - s / T) < 1e-15);
    }
  }
});

interface GoldenEntry {
  prompt: string;
  ids: number[];
  last_logits_b64: string;
  greedy_128: number[];
  all_logits_b64?: string;
}

async function checkModelGolden(model: ReferenceModel, file: string) {
  const g = await readGolden<{ entries: GoldenEntry[] }>(file);
  assert.ok(g.entries.length >= 1);
  const V = model.cfg.vocabSize;
  for (const e of g.entries) {
    const rows = referenceForward(model, e.ids); // T x [V]
    assert.equal(rows.length, e.ids.length);
    const last = decodeF32Base64(e.last_logits_b64); // [V]
    const dLast = maxAbsDiff(rows[rows.length - 1], last);
    console.log(
      `${file} ${e.prompt} (T=${e.ids.length}): last-position max abs diff ${
        dLast.toExponential(3)
      }`,
    );
    assert.ok(dLast <= TOL, `${file} ${e.prompt}: last logits differ by ${dLast}`);
    assert.equal(
      argmax(rows[rows.length - 1]),
      e.greedy_128[0],
      `${file} ${e.prompt}: greedy token`,
    );
    if (e.all_logits_b64 !== undefined) {
      const all = decodeF32Base64(e.all_logits_b64); // [T,V]
      assert.equal(all.length, e.ids.length * V);
      let dAll = 0;
      rows.forEach((
        r,
        t,
      ) => (dAll = Math.max(dAll, maxAbsDiff(r, all.subarray(t * V, (t + 1) * V)))));
      console.log(`${file} ${e.prompt}: all-positions max abs diff ${dAll.toExponential(3)}`);
      assert.ok(dAll <= TOL, `${file} ${e.prompt}: all logits differ by ${dAll}`);
    }
  }
}

Deno.test("referenceForward matches target goldens (pydoc-neox-20m)", async () => {
  await checkModelGolden(await loadReferenceModel(`${modelsDir}pydoc-neox-20m`), "target.json");
});

Deno.test("referenceForward matches draft goldens (pydoc-neox-2.5m)", async () => {
  await checkModelGolden(await loadReferenceModel(`${modelsDir}pydoc-neox-2.5m`), "draft.json");
});

Deno.test("referenceForward matches oddball-b (rotary_pct 1.0, base 500, F32)", async () => {
  const m = await loadReferenceModel(`${goldensDir}oddball-b`);
  const g = await readGolden<{ ids: number[]; all_logits_b64: string; greedy_40: number[] }>(
    "oddball-b/expected.json",
  );
  const V = m.cfg.vocabSize;
  const rows = referenceForward(m, g.ids); // T x [V]
  const all = decodeF32Base64(g.all_logits_b64); // [T,V]
  assert.equal(all.length, g.ids.length * V);
  let d = 0;
  rows.forEach((r, t) => (d = Math.max(d, maxAbsDiff(r, all.subarray(t * V, (t + 1) * V)))));
  console.log(`oddball-b (T=${g.ids.length}): all-positions max abs diff ${d.toExponential(3)}`);
  assert.ok(d <= TOL, `oddball-b logits differ by ${d}`);
  assert.equal(argmax(rows[rows.length - 1]), g.greedy_40[0]);
});

Deno.test("referenceForward: sequential residual and tanh GELU change the output", async () => {
  // Not covered by goldens; checks the switches are wired (a prefix of 3 tokens).
  const m = await loadReferenceModel(`${modelsDir}pydoc-neox-2.5m`);
  const ids = [5, 17, 300];
  const base = referenceForward(m, ids);
  const seq = referenceForward({ ...m, cfg: { ...m.cfg, parallelResidual: false } }, ids);
  const tanh = referenceForward({ ...m, cfg: { ...m.cfg, activation: "gelu_tanh" } }, ids);
  assert.ok(maxAbsDiff(base[2], seq[2]) > 1e-3);
  const dt = maxAbsDiff(base[2], tanh[2]);
  assert.ok(dt > 0 && dt < 0.5, `tanh GELU diff ${dt}`);
  // causality: logits at position t do not depend on later tokens
  const pre = referenceForward(m, ids.slice(0, 2));
  assert.ok(maxAbsDiff(pre[1], base[1]) < 1e-12);
  assert.throws(() => referenceForward(m, [8192]), RangeError);
});
