import assert from "node:assert/strict";
import { refinedSpeedup } from "../profiler/analytic.ts";
import {
  type DeviceProfile,
  dispatchesPerPass,
  fitSimulator,
  type ModelShape,
  nonNegativeLeastSquares,
  passTimeMs,
  PYTHIA_SHAPES,
  simulate,
  weightParamsPerPass,
} from "../profiler/simulator.ts";

const close = (actual: number, expected: number, tol = 1e-9) =>
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${actual} != ${expected}`,
  );

// A toy device with round numbers.
const device: DeviceProfile = {
  description: "toy",
  gemvGBs: { f16: 100, f32: 200, int8: 50 },
  gemmGflops: { f16: 1000, f32: 500, int8: 2000 },
  dispatchMs: 0.01,
  waitMs: 0.5,
  attnMsPerKey: 0.0001,
};
// d 100, 2 layers, ff 400, vocab 1000: params 2*(4e4 + 8e4) + 1e5 = 340_000.
const tiny: ModelShape = {
  name: "tiny",
  hidden: 100,
  layers: 2,
  heads: 2,
  ff: 400,
  vocab: 1000,
  bytesPerWeight: 2,
};

Deno.test("Pythia shapes", () => {
  const p = PYTHIA_SHAPES["pythia-70m"];
  assert.deepEqual(
    [p.hidden, p.layers, p.heads, p.ff, p.vocab, p.bytesPerWeight],
    [512, 6, 8, 2048, 50304, 2],
  );
  assert.equal(PYTHIA_SHAPES["pythia-2.8b"].ff, 10240);
  assert.equal(PYTHIA_SHAPES["pythia-1b"].heads, 8);
  // 2.8B: matrices + embed_in (V d) ~ 2.78e9 parameters.
  const big = PYTHIA_SHAPES["pythia-2.8b"];
  const total = weightParamsPerPass(big) + big.vocab * big.hidden;
  assert.ok(total > 2.7e9 && total < 2.8e9, `${total}`);
});

Deno.test("passTimeMs on a hand-computed profile", () => {
  assert.equal(weightParamsPerPass(tiny), 340_000);
  // The engine's plan without repacked weights: 7 per layer + 4; a loaded model's own count.
  assert.equal(dispatchesPerPass(tiny), 18);
  assert.equal(dispatchesPerPass({ ...tiny, dispatches: 25 }), 25);
  // 1 token, 10 cached: dispatch 0.18 ms; bytes 680_000 / 100 GB/s = 0.0068 ms;
  // flops 680_000 / 1000 GFLOP/s = 0.00068 ms; attention 1e-4 * 2 * 11 = 0.0022 ms.
  close(passTimeMs(device, tiny, 1, 10), 0.18 + 0.0068 + 0.0022);
  // 50 tokens: flops 34e6 / 1e12/s = 0.034 ms beats bytes; attention 1e-4 * 2 * 60.
  close(passTimeMs(device, tiny, 50, 10), 0.18 + 0.034 + 0.012);
  // int8 reads at 50 GB/s: 340_000 B -> 0.0068 ms.
  close(passTimeMs(device, { ...tiny, bytesPerWeight: 1 }, 1, 0), 0.18 + 0.0068 + 0.0002);
  assert.throws(() => passTimeMs(device, { ...tiny, bytesPerWeight: 3 }, 1, 0), RangeError);
});

Deno.test("simulate: hand-computed round", () => {
  const draft: ModelShape = { ...tiny, name: "tiny-draft", layers: 1 };
  const [r] = simulate(device, {
    target: tiny,
    draft,
    alpha: 0.8,
    kValues: [4],
    newTokens: 20,
    promptTokens: 0,
  });
  // Cache length 0 + 20 / 2 = 10.
  // Draft: params 1.2e5 + 1e5 = 220_000; 11 dispatches -> 0.11 + 0.0044 + 1e-4 * 11.
  close(r.tDraftMs, 0.11 + 0.0044 + 0.0011);
  close(r.tTargetMs, 0.189);
  // Verify of 5 tokens: bytes 0.0068 vs flops 0.0034 -> 0.18 + 0.0068 + 1e-4 * 2 * 15.
  close(r.tVerifyMs, 0.18 + 0.0068 + 0.003);
  close(r.c, r.tDraftMs / 0.189);
  close(r.expectedTokensPerRound, 3.3616);
  close(r.baselineTokS, 1000 / (0.189 + 0.5));
  close(r.speculativeTokS, (1000 * 3.3616) / (4 * r.tDraftMs + r.tVerifyMs + 5 * 0.5));
  close(r.speedup, r.speculativeTokS / r.baselineTokS);
});

Deno.test("simulate: without waits the speedup is the refined model", () => {
  const free = { ...device, waitMs: 0 };
  const out = simulate(free, {
    target: PYTHIA_SHAPES["pythia-2.8b"],
    draft: PYTHIA_SHAPES["pythia-70m"],
    alpha: 0.7,
    kValues: [3, 5, 7, 9],
    newTokens: 128,
  });
  assert.deepEqual(out.map((r) => r.k), [3, 5, 7, 9]);
  for (const r of out) {
    close(r.speedup, refinedSpeedup(r.k, 0.7, r.c, r.tVerifyMs / r.tTargetMs));
    assert.ok(r.c > 0 && r.c < 1);
  }
});

Deno.test("fitted pass form: exact coefficients back from exact data; none negative", () => {
  const truth = { msPerDispatch: 0.05, msPerWeightByte: 2e-7, msPerFlop: 1e-7, msPerKeyPair: 3e-4 };
  const shapes = ["pythia-14m", "pythia-70m", "pythia-160m"].map((n) => PYTHIA_SHAPES[n]);
  const points = shapes.flatMap((shape) =>
    [1, 4, 8].flatMap((T) =>
      [16, 64].map((L) => {
        const fitted = { ...device, passFit: fitOf(truth) };
        return { shape, T, L, ms: passTimeMs(fitted, shape, T, L) };
      })
    )
  );
  const c = fitSimulator(points);
  for (const k of Object.keys(truth) as (keyof typeof truth)[]) {
    close(c[k], truth[k], 1e-6);
  }
  // y = 2 x1 - 1 x2 has a negative coefficient: x2 is held at 0 and x1 refitted alone.
  const x = [[1, 1], [2, 1], [3, 2]];
  const sol = nonNegativeLeastSquares(x, x.map(([a, b]) => 2 * a - b));
  assert.equal(sol[1], 0);
  // x1 alone: sum(x1 y) / sum(x1^2) = (1 + 6 + 12) / 14.
  close(sol[0], 19 / 14);
});

function fitOf(c: {
  msPerDispatch: number;
  msPerWeightByte: number;
  msPerFlop: number;
  msPerKeyPair: number;
}) {
  return {
    form: "test",
    byDtype: { f16: c },
    calibratedOn: [],
    fitError: { meanRelPct: 0, maxRelPct: 0, points: 0 },
  };
}
