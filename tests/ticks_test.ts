import assert from "node:assert/strict";
import {
  calibrateTicks,
  decodeTimestampPairs,
  deltasFromReadings,
  ticksToMs,
} from "../profiler/ticks.ts";

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("calibrateTicks: exact data", () => {
  const samples = [1000, 5000, 20000].map((t) => ({ ticks: BigInt(t), wallNs: t * 41.667 }));
  const c = calibrateTicks(samples);
  assert.ok(Math.abs(c.nsPerTick - 41.667) < 1e-9);
  assert.ok(Math.abs(c.r2 - 1) < 1e-12);
  assert.equal(c.used, 3);
  assert.equal(c.rejected, 0);
});

Deno.test("calibrateTicks: noise and scheduling outliers", () => {
  const random = rng(7);
  const nsPerTick = 10.4;
  const samples = [];
  for (let i = 0; i < 200; i++) {
    const ticks = 50_000 + Math.floor(random() * 1_000_000);
    let wallNs = ticks * nsPerTick * (1 + (random() - 0.5) * 0.002) + (random() - 0.5) * 2000;
    if (i % 20 === 3) wallNs += 2_000_000 + random() * 5_000_000; // preempted
    samples.push({ ticks: BigInt(ticks), wallNs });
  }
  samples.push({ ticks: 0n, wallNs: 1000 }); // unusable
  const c = calibrateTicks(samples);
  assert.ok(Math.abs(c.nsPerTick - nsPerTick) / nsPerTick < 1e-3, `${c.nsPerTick}`);
  assert.ok(c.r2 > 0.999, `${c.r2}`);
  assert.ok(c.rejected >= 11, `${c.rejected}`);
  assert.ok(c.rmsResidualNs < 20_000, `${c.rmsResidualNs}`);
  assert.throws(() => calibrateTicks([{ ticks: 0, wallNs: 5 }]), RangeError);
});

Deno.test("deltasFromReadings keeps 64-bit precision", () => {
  const base = 2n ** 60n;
  const d = deltasFromReadings([
    { ticks: base, wallNs: 100 },
    { ticks: base + 3n, wallNs: 130 },
    { ticks: base + 10n, wallNs: 200 },
  ]);
  assert.deepEqual(d, [{ ticks: 3n, wallNs: 30 }, { ticks: 7n, wallNs: 70 }]);
  assert.equal(calibrateTicks(d).nsPerTick, 10);
});

Deno.test("ticksToMs and decodeTimestampPairs", () => {
  assert.equal(ticksToMs(2_000_000n, 1), 2);
  assert.equal(ticksToMs(1000, 2.5), 0.0025);
  const base = 2n ** 62n;
  const buf = new BigUint64Array([base, base + 1_000_000n, 5n, 3_000_005n, 0n, 0n, 9n, 4n]);
  const ms = decodeTimestampPairs(buf, 1);
  assert.equal(ms.length, 4);
  assert.equal(ms[0], 1);
  assert.equal(ms[1], 3);
  assert.ok(Number.isNaN(ms[2]));
  assert.ok(Number.isNaN(ms[3]));
  assert.throws(() => decodeTimestampPairs(new BigUint64Array(3), 1), RangeError);
});
