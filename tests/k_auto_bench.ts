/**
 * `--k auto` on the embedded pair (pydoc-neox-20m target, pydoc-neox-2.5m draft), greedy,
 * 48 new tokens: fixed K = 3 and 5 against the "optimal" policy (Leviathan's expected
 * speedup for the running acceptance estimate, c = parameter ratio) and transformers'
 * heuristic (K + 2 / K - 1, one GPU wait per round), and the optimal policy with the
 * refined cost model (measured c and T_verify(K+1) / T_target(1), linear in K), which matters
 * on compute-bound adapters such as lavapipe where a verify pass costs about K+1 steps.
 * The plain target is the baseline. Before the benches, one run of each prints its K
 * schedule, tokens per round and time.
 * Run: deno bench -A tests/k_auto_bench.ts
 */
import { getGpu } from "../engine/device_deno.ts";
import { loadModel } from "../engine/load.ts";
import { greedyGenerate } from "../engine/generate.ts";
import { speculativeGenerate, type SpeculativeOptions } from "../engine/speculative.ts";
import { loadTokenizer } from "../engine/tokenizer.ts";
import { GpuTimer } from "../profiler/gpu_timer.ts";
import { modelsDir } from "./goldens.ts";

const N = 48;
const gpu = await getGpu();
const target = await loadModel(gpu, `${modelsDir}pydoc-neox-20m`);
const draft = await loadModel(gpu, `${modelsDir}pydoc-neox-2.5m`);
const codec = await loadTokenizer(`${modelsDir}pydoc-neox-20m`);
const ids = codec!.encode('def read_config(path):\n    """Read a JSON configuration file');

/** Mean GPU ticks of the passes named `name` in a run hooked to a fresh timer. */
async function ticks(name: "target" | "draft" | "verify", run: (t: GpuTimer) => Promise<unknown>) {
  const timer = new GpuTimer(gpu, 256);
  await run(timer);
  await timer.resolve();
  const t = timer.ticks(name).slice(1);
  timer.destroy();
  return t.reduce((a, b) => a + b, 0) / t.length;
}
const tTarget = await ticks("target", (hook) => greedyGenerate(target, ids, 8, { hook }));
const tDraft = await ticks("target", (hook) => greedyGenerate(draft, ids, 8, { hook }));
const tVerify4 = await ticks(
  "verify",
  (hook) => speculativeGenerate(target, draft, ids, { k: 3, maxNewTokens: 16, hook }),
);
const c = tDraft / tTarget;
const slope = (tVerify4 / tTarget - 1) / 3;
console.log(
  `measured c ${c.toFixed(3)}, T_verify(4) / T_target(1) ${(tVerify4 / tTarget).toFixed(2)}`,
);

const configs: Record<string, Omit<SpeculativeOptions, "maxNewTokens">> = {
  "fixed K=3": { k: 3 },
  "fixed K=5": { k: 5 },
  "auto optimal": { k: 5, kAuto: { policy: "optimal" } },
  "auto refined": {
    k: 5,
    kAuto: { policy: "optimal", c, verifyCostRatio: (k) => Math.max(1, 1 + slope * k) },
  },
  "auto heuristic": { k: 5, kAuto: { policy: "heuristic" } },
};

const reference = (await greedyGenerate(target, ids, N)).tokens;
for (const [name, o] of Object.entries(configs)) {
  const t0 = performance.now();
  const r = await speculativeGenerate(target, draft, ids, { ...o, maxNewTokens: N });
  const ms = performance.now() - t0;
  const tau = r.rounds.reduce((s, a) => s + a + 1, 0) / r.rounds.length;
  const meanK = r.kPerRound.reduce((s, k) => s + k, 0) / r.kPerRound.length;
  const same = r.tokens.every((t, i) => t === reference[i]) ? "greedy-identical" : "MISMATCH";
  console.log(
    `${name.padEnd(15)} ${r.rounds.length} rounds, tau ${tau.toFixed(2)}, mean K ` +
      `${meanK.toFixed(2)}, ${r.gpuWaits} waits, ${ms.toFixed(0)} ms, ${same}; K ${
        r.kPerRound.join(",")
      }`,
  );
}

Deno.bench({ name: "target alone", group: "k", baseline: true, n: 2, warmup: 1 }, async () => {
  await greedyGenerate(target, ids, N);
});
for (const [name, o] of Object.entries(configs)) {
  Deno.bench({ name, group: "k", n: 2, warmup: 1 }, async () => {
    await speculativeGenerate(target, draft, ids, { ...o, maxNewTokens: N });
  });
}
