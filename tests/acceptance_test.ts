/**
 * Acceptance measured apart from speculation (profiler/acceptance.ts): the round chain
 * against hand-derived cases, the rounds predicted from one target-only run + one
 * teacher-forced draft pass against real speculative runs and the goldens, Leviathan's beta
 * against a CPU computation from the goldens' logits, and the `acceptance` command.
 */
import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import { allLogits, greedyGenerate } from "../engine/generate.ts";
import { FULL_CACHE, sinkWindowCache } from "../engine/cache_policy.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import {
  ACCEPTANCE_SCHEMA,
  type AcceptanceFile,
  acceptanceForK,
  greedyRoundsFromAgreement,
  iidCheck,
  measureAcceptance,
} from "../profiler/acceptance.ts";
import { decodeF32Base64, modelsDir, readGolden, repoDir } from "./goldens.ts";

Deno.test("greedy rounds from agreement: hand-derived chains", () => {
  // p=0: 1,1 then 0 -> 2, p=3: 0 -> 0, p=4: 1,1,1 (K cap) -> 3, p=8 >= 8.
  assert.deepEqual(greedyRoundsFromAgreement([1, 1, 0, 0, 1, 1, 1, 1], 3, 8), [2, 0, 3]);
  // K = 1: p=0 accepts 1 (skips the 0 at 1), p=2 accepts 1 (skips 3), p=4 accepts 0.
  assert.deepEqual(greedyRoundsFromAgreement([1, 0, 1, 1, 0], 1, 5), [1, 1, 0]);
  assert.deepEqual(greedyRoundsFromAgreement([0, 0, 0], 4, 3), [0, 0, 0]);
  // The last round reads past n (p=3: agreement[3..5]); its extra tokens are dropped.
  assert.deepEqual(greedyRoundsFromAgreement([1, 1, 0, 1, 1, 1], 3, 4), [2, 3]);
  // ...and stops where the measurement stops.
  assert.deepEqual(greedyRoundsFromAgreement([1, 1, 0, 1], 3, 4), [2, 1]);
  assert.throws(() => greedyRoundsFromAgreement([1], 3, 2), RangeError);
  assert.throws(() => greedyRoundsFromAgreement([1, 1], 0, 2), RangeError);
});

Deno.test("greedy rounds from agreement: invariants on random agreement", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rand() * 60);
    const k = 1 + Math.floor(rand() * 9);
    const a = Array.from({ length: n + k - 1 }, () => (rand() < 0.7 ? 1 : 0));
    const rounds = greedyRoundsFromAgreement(a, k, n);
    const emitted = rounds.reduce((s, x) => s + x + 1, 0);
    assert.ok(emitted >= n, "rounds reach n tokens");
    assert.ok(emitted - rounds.at(-1)! - 1 < n, "no round after n tokens exist");
    assert.ok(rounds.every((x) => x >= 0 && x <= k), "each round accepts 0..K");
    // Shorter runs read a prefix of the same chain: truncation to n is what a run of n sees.
    const m = Math.max(1, n - 5);
    const cut = acceptanceForK([{ agreement: a }], k, m).rounds;
    assert.deepEqual(cut, greedyRoundsFromAgreement(a.slice(0, m + k - 1), k, m));
  }
});

Deno.test("i.i.d. check: runs test and autocorrelation on hand-made sequences", () => {
  // Alternating: as many runs as positions, strongly negative autocorrelation, z > 0.
  const alt = iidCheck([[1, 0, 1, 0, 1, 0, 1, 0, 1, 0]], 10);
  assert.ok(alt.lag1Autocorrelation < -0.8 && alt.runsTestZ > 2, JSON.stringify(alt));
  // Two blocks: 2 runs of 10 positions, positive autocorrelation, z < 0.
  const blocks = iidCheck([[1, 1, 1, 1, 1, 0, 0, 0, 0, 0]], 10);
  assert.ok(blocks.lag1Autocorrelation > 0.5 && blocks.runsTestZ < -2, JSON.stringify(blocks));
  // n1 = n0 = 5, n = 10: E[R] = 6, Var = 2*25*(50-10)/(100*9) = 20/9.
  assert.ok(Math.abs(blocks.runsTestZ - (2 - 6) / Math.sqrt(20 / 9)) < 1e-12);
  // 5 positions, one disagreement and a trailing run: 2 segments; alpha = 0.8 -> 5.
  const r = iidCheck([[1, 1, 0, 1, 1]], 5);
  assert.equal(r.meanRunLength, 2.5);
  assert.ok(Math.abs(r.expectedRunLength - 5) < 1e-12);
});

interface TargetGolden {
  prompts: { name: string; ids: number[] }[];
  entries: { prompt: string; last_logits_b64: string }[];
}
interface SpecRun {
  prompt: string;
  K: number;
  n_new: number;
  accepted_per_round: number[];
}

const gpu = await getGpu();
const targetDir = `${modelsDir}pydoc-neox-20m`;
const draftDir = `${modelsDir}pydoc-neox-2.5m`;
const target = await loadModel(gpu, targetDir);
const draft = await loadModel(gpu, draftDir);
const golden = await readGolden<TargetGolden>("target.json");
const draftGolden = await readGolden<TargetGolden>("draft.json");
const spec = await readGolden<{ runs: SpecRun[] }>("speculative.json");
const goldenPrompts = golden.prompts.map((p) => ({ name: p.name, kind: "golden", ids: p.ids }));

Deno.test("predicted rounds equal the goldens' and real speculative runs' (full cache)", async () => {
  const kMax = Math.max(...spec.runs.map((r) => r.K));
  const n = Math.max(...spec.runs.map((r) => r.n_new));
  const acc = await measureAcceptance(gpu, null, {
    target,
    draft,
    prompts: goldenPrompts,
    maxNewTokens: n,
    cache: FULL_CACHE,
    kValues: [1, kMax],
    quant: "fp16",
  });
  const agreementOf = (name: string) => acc.prompts.find((p) => p.name === name)!.agreement;
  for (const run of spec.runs) {
    assert.deepEqual(
      greedyRoundsFromAgreement(agreementOf(run.prompt), run.K, run.n_new),
      run.accepted_per_round,
      `${run.prompt} K=${run.K}: golden accepted_per_round`,
    );
  }
  // Shorter runs than measured, K not in the goldens: real engine runs.
  for (const p of goldenPrompts) {
    for (const k of [1, 3, 5]) {
      const r = await speculativeGenerate(target, draft, p.ids, { k, maxNewTokens: 48 });
      assert.deepEqual(
        acceptanceForK([{ agreement: agreementOf(p.name) }], k, 48).rounds,
        r.rounds,
        `${p.name} K=${k} N=48`,
      );
    }
  }
});

Deno.test("predicted rounds equal real speculative runs with a sink cache (C=40, S=4)", async () => {
  const cache = sinkWindowCache(40, 4);
  const n = 48;
  const acc = await measureAcceptance(gpu, null, {
    target,
    draft,
    prompts: goldenPrompts,
    maxNewTokens: n,
    cache,
    kValues: [3, 5],
    quant: "fp16",
  });
  for (const [i, p] of goldenPrompts.entries()) {
    for (const k of [3, 5]) {
      const r = await speculativeGenerate(target, draft, p.ids, { k, maxNewTokens: n, cache });
      assert.deepEqual(
        greedyRoundsFromAgreement(acc.prompts[i].agreement, k, n),
        r.rounds,
        `${p.name} K=${k} sink`,
      );
    }
  }
  const kind = acc.byKind.golden;
  assert.deepEqual(
    kind.perK["3"].rounds,
    acc.prompts.flatMap((p) => greedyRoundsFromAgreement(p.agreement, 3, n)),
  );
});

/** sum_x min(softmax(p/T), softmax(q/T)), written out in float64 apart from the library. */
function betaOnCpu(p: ArrayLike<number>, q: ArrayLike<number>, t: number): number {
  const soft = (l: ArrayLike<number>) => {
    const xs = Array.from(l, (x) => x / t);
    const m = Math.max(...xs);
    const e = xs.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / z);
  };
  const a = soft(p);
  const b = soft(q);
  return a.reduce((s, x, i) => s + Math.min(x, b[i]), 0);
}

Deno.test("sampling: beta matches a CPU computation from both models' logits", async () => {
  const temperature = 0.8;
  const n = 12;
  const acc = await measureAcceptance(gpu, null, {
    target,
    draft,
    prompts: goldenPrompts.slice(0, 2),
    maxNewTokens: n,
    cache: FULL_CACHE,
    kValues: [3],
    temperature,
    seed: 7,
    quant: "fp16",
  });
  assert.equal(acc.temperature, temperature);
  for (const [i, p] of acc.prompts.entries()) {
    const beta = p.beta!;
    assert.equal(beta.length, n + 2);
    assert.ok(beta.every((b) => b >= 0 && b <= 1), "beta in [0, 1]");
    // Position 0 is predicted from the prompt alone: the goldens' (transformers') logits.
    const tl = decodeF32Base64(golden.entries.find((e) => e.prompt === p.name)!.last_logits_b64);
    const dl = decodeF32Base64(
      draftGolden.entries.find((e) => e.prompt === p.name)!.last_logits_b64,
    );
    assert.ok(Math.abs(beta[0] - betaOnCpu(tl, dl, temperature)) < 2e-3, `${p.name} beta[0]`);
    // Later positions depend on the sampled tokens: logits of a separate full pass each.
    const ids = goldenPrompts[i].ids;
    const V = target.cfg.vocabSize;
    // Rebuild the sampled sequence: the draft pass sees it, so agreement has its length.
    assert.equal(p.agreement.length, n + 2);
    const sampled = await sampledTokens(ids, n + 2, temperature, 7);
    const seq = [...ids, ...sampled];
    const tAll = await allLogits(target, seq);
    const dAll = await allLogits(draft, seq);
    for (const j of [3, n - 1]) {
      const row = ids.length - 1 + j;
      const want = betaOnCpu(
        tAll.subarray(row * V, (row + 1) * V),
        dAll.subarray(row * V, (row + 1) * V),
        temperature,
      );
      assert.ok(Math.abs(beta[j] - want) < 1e-4, `${p.name} beta[${j}] ${beta[j]} vs ${want}`);
    }
  }
  const kind = acc.byKind.golden;
  const mean = acc.prompts.flatMap((p) => p.beta!.slice(0, n));
  assert.ok(Math.abs(kind.alpha - mean.reduce((a, b) => a + b, 0) / mean.length) < 1e-12);
});

/** The target's own sampled continuation (same seed and positions as measureAcceptance). */
async function sampledTokens(ids: number[], n: number, temperature: number, seed: number) {
  return (await greedyGenerate(target, ids, n, { sampling: { temperature, seed } })).tokens;
}

async function cli(args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repoDir}mod.ts`, "acceptance", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("acceptance CLI: writes the file; bad input is one error line and no file", async () => {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/acc.json`;
  const ok = await cli([
    "--model",
    targetDir,
    "--draft",
    draftDir,
    "--prompt-types",
    "medium",
    "--max-new-tokens",
    "8",
    "--k-values",
    "1",
    "3",
    "-o",
    out,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const file = JSON.parse(await Deno.readTextFile(out)) as AcceptanceFile;
  assert.equal(file.schema, ACCEPTANCE_SCHEMA);
  assert.equal(file.target, "pydoc-neox-20m");
  assert.equal(file.draft, "pydoc-neox-2.5m");
  assert.equal(file.quant, "fp16");
  assert.deepEqual(file.cache, { kind: "full" });
  assert.equal(file.temperature, 0);
  assert.equal(file.maxNewTokens, 8);
  assert.deepEqual(file.prompts.map((p) => p.kind), ["medium", "medium"]);
  assert.ok(file.prompts.every((p) => p.agreement.length === 8 + 3 - 1 && p.promptTokens > 0));
  const kind = file.byKind.medium;
  assert.equal(kind.positions, 16);
  assert.deepEqual(Object.keys(kind.perK), ["1", "3"]);
  assert.equal(kind.perPositionAcceptance.length, 3);
  for (const f of ["meanRunLength", "expectedRunLength", "lag1Autocorrelation", "runsTestZ"]) {
    assert.equal(typeof (kind.iid as unknown as Record<string, unknown>)[f], "number", f);
  }

  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /acceptance --model/);

  const bad = `${dir}/bad.json`;
  for (
    const args of [
      ["--model", targetDir, "--draft", draftDir, "--max-new-tokens", "8", "--bogus", "-o", bad],
      ["--model", targetDir, "--draft", draftDir, "--max-new-tokens", "x", "-o", bad],
      ["--model", targetDir, "--max-new-tokens", "8", "-o", bad],
      ["--model", targetDir, "--draft", draftDir, "--prompt-types", "short", "-o", bad],
    ]
  ) {
    const r = await cli(args);
    assert.notEqual(r.code, 0, args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^error: /);
  }
  await assert.rejects(Deno.stat(bad));
  await Deno.remove(dir, { recursive: true });
});
