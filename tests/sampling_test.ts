/**
 * Sampling on the GPU: plain sampling and speculative sampling reproduce the target's
 * distribution (chi-square over many seeds, with wrong accept rules shown to fail the same
 * test), seeds reproduce runs, and the cache rollback is right after full, zero and mixed
 * acceptance. Tiny random models (8-token vocabulary) written to a temporary folder keep
 * this fast; many seeds run concurrently so their GPU waits overlap.
 */

import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { readBuffer, storageBuffer } from "../engine/device.ts";
import { loadModel } from "../engine/load.ts";
import type { NeoxModel } from "../engine/model.ts";
import { allLogits, greedyGenerate } from "../engine/generate.ts";
import { speculativeGenerate, type SpeculativeResult } from "../engine/speculative.ts";
import { type SamplingOptions, samplingProbs } from "../engine/sampling.ts";
import { type RandomNeoxSpec, writeRandomNeox } from "./checkpoint_writer.ts";
import { encodeDispatches, KernelLibrary } from "../kernels/kernel.ts";
import { sample } from "../engine/ops.ts";
import { seededRandom } from "./seeded_random.ts";

const gpuTest = { sanitizeResources: false, sanitizeOps: false };

const V = 8;
const PROMPT = [1, 5, 2];
/** Seeds per distribution test. */
const SEEDS = 400;
/** A test fails when its chi-square statistic passes the 1e-4 upper quantile. */
const Z_1E4 = 3.719;

const TARGET_SPEC: RandomNeoxSpec = {
  hiddenSize: 32,
  numHeads: 2,
  numLayers: 2,
  intermediateSize: 64,
  vocabSize: V,
  rotaryPct: 0.25,
  rotaryBase: 10000,
  parallelResidual: true,
  attentionBias: true,
  hiddenAct: "gelu",
  configForm: "rope_parameters",
  dtype: "F32",
  seed: 11,
  weightStd: 0.4,
};
const DRAFT_SPEC: RandomNeoxSpec = {
  ...TARGET_SPEC,
  hiddenSize: 16,
  numHeads: 1,
  numLayers: 1,
  intermediateSize: 32,
  seed: 12,
};

interface Pair {
  target: NeoxModel;
  draft: NeoxModel;
  /** A draft whose logits never depend on its input (it always proposes one token). */
  constant: NeoxModel;
}

let pairPromise: Promise<Pair> | null = null;

/** The tiny models, written and loaded once. */
function models(): Promise<Pair> {
  pairPromise ??= (async () => {
    const gpu = await getGpu();
    const dir = await Deno.makeTempDir({ prefix: "neox-sampling-" });
    try {
      await writeRandomNeox(`${dir}/target`, TARGET_SPEC);
      await writeRandomNeox(`${dir}/draft`, DRAFT_SPEC);
      const target = await loadModel(gpu, `${dir}/target`);
      const draft = await loadModel(gpu, `${dir}/draft`);
      const constant = await loadModel(gpu, `${dir}/draft`);
      // Final layer norm weight 0: its output is the bias whatever the input, so are the logits.
      const { weight, bias } = constant.weights.finalLayerNorm;
      const d = constant.cfg.hiddenSize;
      gpu.device.queue.writeBuffer(weight, 0, new Float32Array(d));
      gpu.device.queue.writeBuffer(bias, 0, new Float32Array(seededRandom(5).normals(d, 3)));
      return { target, draft, constant };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return pairPromise;
}

/** Runs `run(seed)` for seeds 0..n-1, many at a time (their GPU waits overlap). */
async function overSeeds(n: number, run: (seed: number) => Promise<number[]>): Promise<number[][]> {
  const out: number[][] = [];
  for (let s = 0; s < n; s += 100) {
    const batch = Array.from({ length: Math.min(100, n - s) }, (_, i) => run(s + i));
    out.push(...await Promise.all(batch));
  }
  return out;
}

/**
 * The target's joint distribution of the first two new tokens under sampling settings s:
 * joint[t1 * V + t2] = P(t1 | prompt) P(t2 | prompt, t1), from allLogits rows.
 */
async function targetJoint(target: NeoxModel, s: SamplingOptions): Promise<number[]> {
  const n = PROMPT.length;
  const joint = new Array<number>(V * V).fill(0);
  for (let t1 = 0; t1 < V; t1++) {
    const logits = await allLogits(target, [...PROMPT, t1]);
    const p1 = samplingProbs(logits.subarray((n - 1) * V, n * V), s.temperature, s.topP);
    const p2 = samplingProbs(logits.subarray(n * V, (n + 1) * V), s.temperature, s.topP);
    for (let t2 = 0; t2 < V; t2++) joint[t1 * V + t2] = p1[t1] * p2[t2];
  }
  return joint;
}

interface ChiSquare {
  stat: number;
  df: number;
  critical: number;
  /** Samples that fell in cells of probability 0. */
  impossible: number;
}

/**
 * Pearson's chi-square of observed counts against probabilities. Cells expecting fewer than
 * 5 samples are pooled (with the smallest other cell if the pool still expects fewer than 5);
 * the critical value is the 1e-4 upper quantile (Wilson-Hilferty).
 */
function chiSquare(observed: number[], probs: number[]): ChiSquare {
  const n = observed.reduce((a, b) => a + b, 0);
  let impossible = 0;
  const cells: { o: number; e: number }[] = [];
  observed.forEach((o, i) => {
    if (probs[i] === 0) impossible += o;
    else cells.push({ o, e: n * probs[i] });
  });
  cells.sort((a, b) => a.e - b.e);
  const pool = { o: 0, e: 0 };
  while (cells.length > 0 && (cells[0].e < 5 || (pool.e > 0 && pool.e < 5))) {
    const c = cells.shift()!;
    pool.o += c.o;
    pool.e += c.e;
  }
  if (pool.e > 0) cells.push(pool);
  const stat = cells.reduce((s, c) => s + (c.o - c.e) ** 2 / c.e, 0);
  const df = cells.length - 1;
  const h = 2 / (9 * df);
  const critical = df * (1 - h + Z_1E4 * Math.sqrt(h)) ** 3;
  return { stat, df, critical, impossible };
}

/** Counts of the first two new tokens, as joint cells t1 * V + t2. */
function jointCounts(runs: number[][]): number[] {
  const counts = new Array<number>(V * V).fill(0);
  for (const [t1, t2] of runs) counts[t1 * V + t2]++;
  return counts;
}

function describe(what: string, c: ChiSquare): string {
  return `${what.padEnd(58)} chi2 ${c.stat.toFixed(1).padStart(7)} df ${c.df} ` +
    `(fails above ${c.critical.toFixed(1)})${c.impossible ? `, ${c.impossible} impossible` : ""}`;
}

function fits(c: ChiSquare): boolean {
  return c.impossible === 0 && c.stat <= c.critical;
}

Deno.test("sample.wgsl probabilities match the float64 reference", gpuTest, async () => {
  const gpu = await getGpu();
  const lib = new KernelLibrary(gpu.device);
  const rnd = seededRandom(77);
  let worst = 0;
  for (const V of [8, 1001, 50304]) {
    const rows = 3;
    const logits = new Float32Array(rnd.normals(rows * V, 3));
    logits[V + 5] = logits[V + 6] = 40; // a tie at the top of row 1
    const state = storageBuffer(gpu, 0, "state", new Uint32Array([0, 0, 0, 0]));
    const src = storageBuffer(gpu, 0, "logits", logits);
    const probs = storageBuffer(gpu, rows * V * 4, "probs");
    const tokens = storageBuffer(gpu, 16, "tokens");
    for (const [temperature, topP] of [[1, 1], [0.5, 0.9], [1.7, 0.3]]) {
      const d = sample(lib, {
        state,
        logits: src,
        probs,
        tokens,
        V,
        rows,
        srcRow: 0,
        dstRow: 0,
        temperature,
        topP,
        seed: 1,
        draw: null,
      });
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeDispatches(pass, [d]);
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      const got = new Float32Array(await readBuffer(gpu, probs));
      for (let r = 0; r < rows; r++) {
        const want = samplingProbs(logits.subarray(r * V, (r + 1) * V), temperature, topP);
        for (let v = 0; v < V; v++) {
          const diff = Math.abs(got[r * V + v] - want[v]);
          worst = Math.max(worst, diff);
          assert.ok(diff < 1e-5, `V=${V} T=${temperature} top-p=${topP} row ${r} token ${v}`);
          assert.equal(got[r * V + v] === 0, want[v] === 0, `nucleus membership of token ${v}`);
        }
      }
    }
    for (const b of [state, src, probs, tokens]) b.destroy();
  }
  console.log(`sample.wgsl probabilities: max|diff| ${worst.toExponential(2)} (tol 1e-5)`);
});

Deno.test(
  "plain sampling draws from softmax(logits / T) and its top-p nucleus",
  gpuTest,
  async () => {
    const { target } = await models();
    const settings: SamplingOptions[] = [{ temperature: 1 }, { temperature: 0.7, topP: 0.8 }];
    for (const s of settings) {
      const runs = await overSeeds(
        SEEDS,
        async (seed) =>
          (await greedyGenerate(target, PROMPT, 2, { sampling: { ...s, seed } })).tokens,
      );
      const c = chiSquare(jointCounts(runs), await targetJoint(target, s));
      console.log(describe(`plain T=${s.temperature} top-p=${s.topP ?? 1}, tokens 1-2`, c));
      assert.ok(fits(c), `plain sampling T=${s.temperature} top-p=${s.topP}: ${describe("", c)}`);
    }
  },
);

Deno.test("speculative sampling reproduces the target's distribution", gpuTest, async () => {
  const { target, draft } = await models();
  const cases: { k: number; s: SamplingOptions }[] = [
    { k: 1, s: { temperature: 1 } },
    { k: 2, s: { temperature: 1 } },
    { k: 3, s: { temperature: 0.8, topP: 0.8 } },
  ];
  for (const { k, s } of cases) {
    const runs = await overSeeds(
      SEEDS,
      async (seed) =>
        (await speculativeGenerate(target, draft, PROMPT, {
          k,
          maxNewTokens: 2,
          sampling: { ...s, seed },
        })).tokens,
    );
    const c = chiSquare(jointCounts(runs), await targetJoint(target, s));
    const label = `speculative K=${k} T=${s.temperature} top-p=${s.topP ?? 1}, tokens 1-2`;
    console.log(describe(label, c));
    assert.ok(fits(c), describe(label, c));
  }
});

Deno.test("the distribution test catches wrong accept rules", gpuTest, async () => {
  const { target, draft } = await models();
  const s: SamplingOptions = { temperature: 1 };
  const want = await targetJoint(target, s);
  for (const rule of ["always-accept", "resample-p"] as const) {
    const runs = await overSeeds(
      SEEDS,
      async (seed) =>
        (await speculativeGenerate(target, draft, PROMPT, {
          k: 2,
          maxNewTokens: 2,
          sampling: { ...s, seed, rule },
        })).tokens,
    );
    const c = chiSquare(jointCounts(runs), want);
    console.log(describe(`wrong rule "${rule}" K=2 T=1, tokens 1-2`, c));
    assert.ok(!fits(c), `rule ${rule} passed the distribution test: ${describe("", c)}`);
  }
});

Deno.test("a seed reproduces a run, another seed changes it", gpuTest, async () => {
  const { target, draft } = await models();
  const plain = async (seed: number, stepsPerSubmit?: number) =>
    (await greedyGenerate(target, PROMPT, 24, {
      sampling: { temperature: 1, seed },
      stepsPerSubmit,
    })).tokens;
  const a = await plain(7);
  assert.deepEqual(await plain(7), a, "plain: same seed, same tokens");
  assert.deepEqual(await plain(7, 1), a, "plain: one step per submit, same tokens");
  assert.deepEqual(await plain(7, 5), a, "plain: five steps per submit, same tokens");
  assert.notDeepEqual(await plain(8), a, "plain: another seed, other tokens");

  const spec = (seed: number) =>
    speculativeGenerate(target, draft, PROMPT, {
      k: 3,
      maxNewTokens: 24,
      sampling: { temperature: 1, topP: 0.9, seed },
    });
  const b = await spec(7);
  const again = await spec(7);
  assert.deepEqual(again.tokens, b.tokens, "speculative: same seed, same tokens");
  assert.deepEqual(again.rounds, b.rounds, "speculative: same seed, same rounds");
  assert.notDeepEqual((await spec(8)).tokens, b.tokens, "speculative: another seed, other tokens");

  // Temperature 0 is greedy, sampling options or not.
  const greedy = (await greedyGenerate(target, PROMPT, 16)).tokens;
  const zero = { temperature: 0, seed: 3 };
  assert.deepEqual((await greedyGenerate(target, PROMPT, 16, { sampling: zero })).tokens, greedy);
  const r = await speculativeGenerate(target, draft, PROMPT, {
    k: 3,
    maxNewTokens: 16,
    sampling: zero,
  });
  assert.deepEqual(r.tokens, greedy);
});

/** Both caches end where Σ(accepted + 1) committed tokens put them (full cache). */
function checkState(r: SpeculativeResult, what: string): void {
  const produced = r.rounds.reduce((s, a) => s + a + 1, 0);
  const n = PROMPT.length;
  // The target caches every committed token but the last; the draft one fewer.
  assert.deepEqual(r.state?.target, [n - 1 + produced, n - 1 + produced], `${what}: target state`);
  assert.deepEqual(r.state?.draft, [n - 2 + produced, n - 2 + produced], `${what}: draft state`);
  r.rounds.forEach((a, i) => assert.ok(a <= r.kPerRound[i], `${what}: round ${i} accepted > K`));
}

Deno.test("rollback after full acceptance (the draft is the target)", gpuTest, async () => {
  const { target } = await models();
  const greedy = (await greedyGenerate(target, PROMPT, 21)).tokens;
  for (const k of [1, 3, 6]) {
    const r = await speculativeGenerate(target, target, PROMPT, {
      k,
      maxNewTokens: 21,
      readState: true,
    });
    console.log(`full acceptance K=${k}: rounds ${r.rounds.join(",")}`);
    assert.deepEqual(r.tokens, greedy, `K=${k}: greedy output`);
    assert.ok(r.rounds.every((a) => a === k), `K=${k}: every draft token accepted`);
    checkState(r, `greedy K=${k}`);
  }
  // Sampling: p = q, so min(1, p/q) = 1 and every draft is accepted too.
  const s = await speculativeGenerate(target, target, PROMPT, {
    k: 4,
    maxNewTokens: 21,
    sampling: { temperature: 1, seed: 9 },
    readState: true,
  });
  console.log(`full acceptance, sampling K=4: rounds ${s.rounds.join(",")}`);
  assert.ok(s.rounds.every((a) => a === 4), "sampling: every draft token accepted");
  checkState(s, "sampling K=4");
});

Deno.test(
  "rollback after zero acceptance (a draft that always proposes one token)",
  gpuTest,
  async () => {
    const { target, constant } = await models();
    const greedy = (await greedyGenerate(target, PROMPT, 20)).tokens;
    const proposal = (await greedyGenerate(constant, PROMPT, 4)).tokens;
    assert.ok(proposal.every((t) => t === proposal[0]), "the constant draft is constant");
    assert.ok(!greedy.includes(proposal[0]), "the target never emits the constant draft's token");
    for (const k of [1, 4]) {
      const r = await speculativeGenerate(target, constant, PROMPT, {
        k,
        maxNewTokens: 20,
        readState: true,
      });
      assert.deepEqual(r.tokens, greedy, `K=${k}: greedy output`);
      assert.deepEqual(r.rounds, new Array(20).fill(0), `K=${k}: no draft token accepted`);
      checkState(r, `zero acceptance K=${k}`);
    }
  },
);

Deno.test(
  "rollback after mixed acceptance, greedy and sampling, fixed and auto K",
  gpuTest,
  async () => {
    const { target, draft } = await models();
    const greedy = (await greedyGenerate(target, PROMPT, 30)).tokens;
    for (const k of [2, 5]) {
      const r = await speculativeGenerate(target, draft, PROMPT, {
        k,
        maxNewTokens: 30,
        readState: true,
      });
      console.log(`greedy K=${k}: rounds ${r.rounds.join(",")}`);
      assert.deepEqual(r.tokens, greedy, `K=${k}: greedy output`);
      checkState(r, `greedy K=${k}`);
    }
    for (const policy of ["optimal", "heuristic"] as const) {
      const r = await speculativeGenerate(target, draft, PROMPT, {
        k: 3,
        maxNewTokens: 30,
        kAuto: { policy, roundsPerDecision: 2 },
        readState: true,
      });
      console.log(
        `greedy K auto ${policy}: K ${r.kPerRound.join(",")}, rounds ${r.rounds.join(",")}`,
      );
      assert.deepEqual(r.tokens, greedy, `auto ${policy}: greedy output`);
      assert.equal(r.kPerRound.length, r.rounds.length);
      checkState(r, `auto ${policy}`);
      if (policy === "heuristic") {
        for (let i = 1; i < r.rounds.length; i++) {
          const [k, a] = [r.kPerRound[i - 1], r.rounds[i - 1]];
          assert.equal(r.kPerRound[i], a === k ? Math.min(16, k + 2) : Math.max(1, k - 1));
        }
      }
    }
    const s = await speculativeGenerate(target, draft, PROMPT, {
      k: 3,
      maxNewTokens: 30,
      sampling: { temperature: 1, seed: 4 },
      kAuto: { policy: "optimal", roundsPerDecision: 2 },
      readState: true,
    });
    console.log(`sampling K auto: K ${s.kPerRound.join(",")}, rounds ${s.rounds.join(",")}`);
    checkState(s, "sampling, auto K");
  },
);
