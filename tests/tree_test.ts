/**
 * Token-tree speculation: the tree-mask attention kernel (tree_rotary + kv_append +
 * tree_attention) against the float64 reference on a tree of random shape; lossless greedy
 * output for several static shapes and prompts with the full and the sink cache; 1,1,1
 * reproducing the chain K=3 round by round; the rollback invariant on cache lengths; and
 * the CLI's refusal of sampling with --tree.
 */
import assert from "node:assert/strict";
import { getGpu } from "../engine/device_deno.ts";
import { readBuffer, storageBuffer } from "../engine/device.ts";
import { loadModel } from "../engine/load.ts";
import { type PassOptions, rotaryTable, Sequence } from "../engine/model.ts";
import type { NeoxConfig } from "../engine/config.ts";
import {
  kvAppend,
  treeAttention,
  treeAttentionMaxKeys,
  treeRotary,
  treeSelect,
  treeTopK,
} from "../engine/ops.ts";
import { encodeDispatches } from "../kernels/kernel.ts";
import { greedyGenerate } from "../engine/generate.ts";
import { speculativeGenerate } from "../engine/speculative.ts";
import { FULL_CACHE, sinkWindowCache } from "../engine/cache_policy.ts";
import { measureAcceptance } from "../profiler/acceptance.ts";
import {
  dynamicTree,
  parseTreeSpec,
  staticTree,
  type TokenTree,
  treeGenerate,
  treeMetrics,
  treeName,
  treeWords,
} from "../engine/tree_speculative.ts";
import { refAttention, refRotary } from "./reference.ts";
import { seededRandom } from "./seeded_random.ts";
import { configId } from "../profiler/prompts.ts";
import { expectedTreeTokens, treeRoundsFromRanks } from "../profiler/tree_predict.ts";
import { modelsDir, readGolden } from "./goldens.ts";

const gpu = await getGpu();

/** A tree of N nodes where each node's parent is a random earlier node. */
function randomTree(N: number, seed: number): TokenTree {
  const rnd = seededRandom(seed);
  const parent = [0];
  const depth = [0];
  for (let u = 1; u < N; u++) {
    const p = rnd.int(u);
    parent.push(p);
    depth.push(depth[p] + 1);
  }
  return { widths: [], parent, depth, levels: [] };
}

Deno.test("tree attention = float64 reference on random trees (committed prefix + ancestors)", async () => {
  const lib = (await loadModel(gpu, `${modelsDir}pydoc-neox-2.5m`)).lib;
  // [P committed entries, nodes, H, hd, rot, first node of the pass]
  const shapes: [number, number, number, number, number, number][] = [
    [0, 5, 1, 8, 8, 0],
    [7, 21, 2, 64, 16, 0],
    [33, 64, 3, 32, 32, 0],
    [12, 40, 2, 64, 16, 9], // a draft-side pass over nodes [9, 40)
  ];
  // maxKeys 2048: the kernel as WebGPU's default 16 KiB of workgroup memory compiles it.
  assert.equal(treeAttentionMaxKeys(16384), 2048);
  assert.equal(treeAttentionMaxKeys(32768), 4096);
  const rows = shapes.flatMap((s) => [{ s, maxKeys: undefined }, { s, maxKeys: 2048 }]);
  for (const { s: [P, N, H, hd, rot, first], maxKeys } of rows) {
    const rnd = seededRandom(P * 131 + N);
    const tree = randomTree(N, P + N);
    const T = N - first;
    const entry = H * hd;
    const C = P + N + 3;
    const base = 10000;
    const k = rnd.normals((P + N) * entry); // keys before rotary: committed, then node u at P+u
    const v = rnd.normals((P + N) * entry);
    const qRaw = rnd.normals(T * entry);
    const qkv = new Float32Array(T * 3 * entry);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const e = (P + first + t) * entry + h * hd, dst = (t * H + h) * 3 * hd;
        qkv.set(qRaw.subarray((t * H + h) * hd, (t * H + h + 1) * hd), dst);
        qkv.set(k.subarray(e, e + hd), dst + hd);
        qkv.set(v.subarray(e, e + hd), dst + 2 * hd);
      }
    }
    // Nodes before `first` are cached already (a draft pass at a later depth).
    const kInit = new Float32Array(C * entry).fill(NaN);
    const vInit = new Float32Array(C * entry).fill(NaN);
    kInit.set(k.subarray(0, (P + first) * entry));
    vInit.set(v.subarray(0, (P + first) * entry));
    const words = new Uint32Array(16);
    words.set([P + first, 100 + first, first]);
    const buf = (data: Float32Array | Uint32Array) => storageBuffer(gpu, 0, "test", data);
    const state = buf(words);
    const kCache = buf(kInit), vCache = buf(vInit);
    const q = buf(new Float32Array(T * entry).fill(NaN));
    const out = buf(new Float32Array(T * entry).fill(NaN));
    const cfg = { rotaryDims: rot, rotaryBase: base, headDim: hd } as NeoxConfig;
    const cosSin = buf(rotaryTable(cfg, C));
    const treeBuf = buf(treeWords(tree));
    const heads = { T, H, hd, rot, state };
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, [
      treeRotary(lib, { ...heads, qkv: buf(qkv), cosSin, q, tree: treeBuf }),
      kvAppend(lib, { state, qkv: buf(qkv), kCache, vCache, T, H, hd, C }),
      treeAttention(lib, { ...heads, q, kCache, vCache, cosSin, out, C, tree: treeBuf, maxKeys }),
    ]);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const got = new Float32Array(await readBuffer(gpu, out, 0, T * entry * 4));
    let maxDiff = 0;
    for (let t = 0; t < T; t++) {
      const u = first + t;
      const anc: number[] = [];
      for (let a = u;; a = tree.parent[a]) {
        anc.unshift(a);
        if (a === 0) break;
      }
      const rows = [...Array.from({ length: P }, (_, j) => j), ...anc.map((a) => P + a)];
      const S = rows.length;
      const kRows = new Float64Array(S * entry), vRows = new Float64Array(S * entry);
      rows.forEach((r, j) => {
        kRows.set(k.subarray(r * entry, (r + 1) * entry), j * entry);
        vRows.set(v.subarray(r * entry, (r + 1) * entry), j * entry);
      });
      const kRot = refRotary(kRows, rows.map((_, j) => j), H, hd, rot, base);
      const qt = refRotary(
        Float64Array.from(qRaw.subarray(t * entry, (t + 1) * entry)),
        [P + tree.depth[u]],
        H,
        hd,
        rot,
        base,
      );
      const want = refAttention(qt, kRot, vRows, 1, S, H, hd);
      for (let i = 0; i < entry; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got[t * entry + i] - want[i]));
      }
    }
    console.log(
      `tree_attention P=${P} N=${N} first=${first} H=${H} hd=${hd} maxKeys ${
        maxKeys ?? "device"
      }: max|diff| ${maxDiff}`,
    );
    assert.ok(maxDiff < 1e-5, `P=${P} N=${N}: max|diff| ${maxDiff}`);
  }
});

Deno.test("tree_topk + tree_select = float64 top-k by cumulative log-probability", async () => {
  const lib = (await loadModel(gpu, `${modelsDir}pydoc-neox-2.5m`)).lib;
  // [parent rows, candidates per row K, nodes kept, vocabulary]
  for (const [rows, K, count, V] of [[1, 4, 4, 1000], [4, 4, 4, 3000], [3, 5, 7, 777]]) {
    const rnd = seededRandom(rows * 100 + K * 10 + count);
    const logits = Float32Array.from(rnd.normals(rows * V), (x) => 3 * x);
    const parentStart = 1, childStart = parentStart + rows, N = childStart + count;
    const tree = dynamicTree(N - 1); // placeholder words for the parents' masks
    const words = treeWords(tree);
    const cum = new Float32Array(64);
    for (let r = 0; r < rows; r++) cum[parentStart + r] = -rnd.int(400) / 100;
    const base = 50;
    const state = new Uint32Array(16);
    state.set([200, base, 0]);
    const buf = (data: Float32Array | Uint32Array) => storageBuffer(gpu, 0, "test", data);
    const [tokens, treeBuf, cumBuf] = [buf(new Uint32Array(128)), buf(words), buf(cum)];
    const cand = buf(new Uint32Array(512));
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, [
      treeTopK(lib, { logits: buf(logits), cum: cumBuf, cand, V, rows, K, parentStart }),
      treeSelect(lib, {
        state: buf(state),
        cand,
        tokens,
        tree: treeBuf,
        cum: cumBuf,
        K,
        rows,
        count,
        childStart,
        parentStart,
        depth: 2,
        N,
      }),
    ]);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    // float64: each row's top K, scored, the best `count` kept in (row, rank) order.
    const cands: { row: number; rank: number; token: number; score: number }[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(logits.subarray(r * V, (r + 1) * V));
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
      const order = row.map((x, i) => [x, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      for (let j = 0; j < K; j++) {
        cands.push({
          row: r,
          rank: j,
          token: order[j][1],
          score: cum[parentStart + r] + order[j][0] - lse,
        });
      }
    }
    const best = new Set(
      cands.map((c, i) => [c.score, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, count)
        .map((x) => x[1]),
    );
    const kept = cands.filter((_, i) => best.has(i));
    const gotTokens = new Uint32Array(await readBuffer(gpu, tokens, 0, 128 * 4));
    const gotTree = new Uint32Array(await readBuffer(gpu, treeBuf, 0, words.length * 4));
    const gotCum = new Float32Array(await readBuffer(gpu, cumBuf, 0, 64 * 4));
    kept.forEach((c, i) => {
      const u = childStart + i, parent = parentStart + c.row;
      const what = `rows ${rows} K ${K} keep ${count}: node ${u}`;
      assert.equal(gotTokens[base + u], c.token, `${what} token`);
      assert.deepEqual(Array.from(gotTree.subarray(u * 4, u * 4 + 2)), [2, parent], what);
      const mask = BigInt(gotTree[parent * 4 + 2]) | (BigInt(gotTree[parent * 4 + 3]) << 32n) |
        (1n << BigInt(u));
      assert.equal(gotTree[u * 4 + 2], Number(mask & 0xffffffffn), `${what} mask`);
      assert.equal(gotTree[N * 4 + u], c.rank, `${what} rank`);
      assert.ok(Math.abs(gotCum[u] - c.score) < 1e-4, `${what} score ${gotCum[u]} vs ${c.score}`);
    });
  }
});

interface TargetGolden {
  prompts: { name: string; ids: number[] }[];
  entries: { prompt: string; greedy_128: number[] }[];
}
const target = await loadModel(gpu, `${modelsDir}pydoc-neox-20m`);
const draft = await loadModel(gpu, `${modelsDir}pydoc-neox-2.5m`);
const golden = await readGolden<TargetGolden>("target.json");
const n = 40;

Deno.test("greedy tree output = target greedy, every shape, full and sink cache; lengths roll back; rounds as predicted from ranks", async () => {
  const shapes = [[2, 2, 1], [4, 2, 1, 1], [1, 1, 1], [3], [2, 1, 2, 1, 1]];
  const prompts = golden.prompts.filter((p) => p.name !== "medium-1");
  for (const cache of [undefined, sinkWindowCache(40)]) {
    // Acceptance measured without speculation (target alone + one teacher-forced draft pass):
    // the draft's rank of each target token gives every static tree's rounds.
    const acc = await measureAcceptance(gpu, null, {
      target,
      draft,
      prompts: prompts.map((p) => ({ name: p.name, kind: "golden", ids: p.ids })),
      maxNewTokens: n,
      cache: cache ?? FULL_CACHE,
      kValues: [1],
      depthMax: Math.max(...shapes.map((w) => w.length)),
      quant: "fp16",
    });
    for (const [pi, p] of prompts.entries()) {
      const want = cache
        ? (await greedyGenerate(target, p.ids, n, { cache })).tokens
        : golden.entries.find((e) => e.prompt === p.name)!.greedy_128.slice(0, n);
      for (const widths of shapes) {
        const tree = staticTree(widths);
        const r = await treeGenerate(target, draft, p.ids, {
          tree,
          maxNewTokens: n,
          cache,
          readState: true,
        });
        const what = `${p.name} tree ${widths} ${cache ? "sink 40" : "full"}`;
        assert.deepEqual(r.tokens, want, what);
        assert.ok(r.rounds.every((a) => a >= 0 && a <= widths.length), `${what}: rounds`);
        // The target caches every committed token but the last; the draft one fewer.
        const committed = p.ids.length + r.rounds.reduce((s, a) => s + a + 1, 0);
        assert.deepEqual(r.state!.target, [committed - 1, committed - 1], `${what}: target`);
        assert.deepEqual(r.state!.draft, [committed - 2, committed - 2], `${what}: draft`);
        assert.deepEqual(r.paths.map((x) => x.length), r.rounds, `${what}: paths`);
        // A static tree's sibling ranks follow from the layout: row r's j-th child is r*W + j.
        const layoutRanks = r.paths.map((path) =>
          path.map((u, i) => (u - tree.levels[i + 1].start) % widths[i])
        );
        assert.deepEqual(r.ranks, layoutRanks, `${what}: ranks`);
        const m = treeMetrics(tree, r.rounds, r.ranks);
        assert.equal(m.acceptedDepthHistogram.reduce((a, b) => a + b, 0), r.rounds.length);
        const ranks = acc.prompts[pi].ranks!.slice(0, n + widths.length - 1);
        assert.deepEqual(treeRoundsFromRanks(widths, ranks, n), r.rounds, `${what}: predicted`);
      }
    }
  }
});

Deno.test("greedy dynamic tree (auto, budgets 8 and 16) = target greedy, full and sink cache", async () => {
  const prompts = golden.prompts.filter((p) => p.name !== "medium-1");
  for (const cache of [undefined, sinkWindowCache(40)]) {
    for (const p of prompts) {
      const want = cache
        ? (await greedyGenerate(target, p.ids, n, { cache })).tokens
        : golden.entries.find((e) => e.prompt === p.name)!.greedy_128.slice(0, n);
      for (const budget of [8, 16]) {
        const tree = dynamicTree(budget);
        const D = tree.widths.length;
        const r = await treeGenerate(target, draft, p.ids, {
          tree,
          maxNewTokens: n,
          cache,
          readState: true,
        });
        const what = `${p.name} auto ${budget} ${cache ? "sink 40" : "full"}`;
        assert.deepEqual(r.tokens, want, what);
        assert.ok(r.rounds.every((a) => a >= 0 && a <= D), `${what}: rounds`);
        const committed = p.ids.length + r.rounds.reduce((s, a) => s + a + 1, 0);
        assert.deepEqual(r.state!.target, [committed - 1, committed - 1], `${what}: target`);
        assert.deepEqual(r.state!.draft, [committed - 2, committed - 2], `${what}: draft`);
        // Accepted nodes lie in their depth's level, ranked below that depth's candidate count.
        r.paths.forEach((path, k) =>
          path.forEach((u, i) => {
            const { start, count } = tree.levels[i + 1];
            assert.ok(u >= start && u < start + count, `${what}: round ${k} node ${u}`);
            assert.ok(r.ranks[k][i] < tree.widths[i], `${what}: round ${k} rank`);
          })
        );
        const m = treeMetrics(tree, r.rounds, r.ranks);
        assert.equal(m.nodesPerVerify, budget);
        assert.equal(
          m.acceptedRankByDepth.flat().reduce((a, b) => a + b, 0),
          committed - p.ids.length - r.rounds.length,
        );
      }
    }
  }
});

Deno.test("dynamicTree: round(sqrt N) depths, N split evenly, shallow depths first", () => {
  assert.deepEqual(dynamicTree(16).levels.map((l) => l.count), [1, 4, 4, 4, 4]);
  assert.deepEqual(dynamicTree(8).levels.map((l) => l.count), [1, 3, 3, 2]);
  assert.deepEqual(dynamicTree(8).widths, [3, 3, 2]);
  assert.equal(dynamicTree(63).parent.length, 64);
  assert.deepEqual(dynamicTree(1).levels.map((l) => l.count), [1, 1]);
  assert.throws(() => dynamicTree(64), /tree-budget/);
});

Deno.test("tree 1,1,1 is the chain K=3: same rounds, same tokens", async () => {
  for (const p of golden.prompts.slice(0, 2)) {
    for (const cache of [undefined, sinkWindowCache(40)]) {
      const chain = await speculativeGenerate(target, draft, p.ids, {
        k: 3,
        maxNewTokens: n,
        cache,
      });
      const tree = await treeGenerate(target, draft, p.ids, {
        tree: staticTree([1, 1, 1]),
        maxNewTokens: n,
        cache,
      });
      assert.deepEqual(tree.rounds, chain.rounds, `${p.name}: rounds`);
      assert.deepEqual(tree.tokens, chain.tokens, `${p.name}: tokens`);
    }
  }
});

Deno.test("tree rounds tell the draft's root pass about the keys it attends", async () => {
  // Its attention kernel is chosen per cache length (engine/autotune.ts tunedAttention), as in
  // the chain's rounds: the prompt, what was produced before the batch and the batch's rounds
  // before it, plus the pass's two tokens (the first round's one-token root: the prompt).
  const ids = golden.prompts[0].ids;
  const told: { T: number; cacheLen?: number }[] = [];
  const plan = Sequence.prototype.plan;
  Sequence.prototype.plan = function (this: Sequence, T: number, o: PassOptions) {
    if (!o.tree && this.model === draft) told.push({ T, cacheLen: o.cacheLen });
    return plan.call(this, T, o);
  };
  try {
    const r = await treeGenerate(target, draft, ids, {
      tree: staticTree([2, 1]),
      maxNewTokens: 160,
    });
    assert.equal(r.tokens.length, 160);
  } finally {
    Sequence.prototype.plan = plan;
  }
  const roots = told.filter((t) => t.T <= 2 && t.cacheLen !== undefined);
  assert.deepEqual(roots[0], { T: 1, cacheLen: ids.length }, "the first round's root");
  const later = roots.slice(1).map((t) => t.cacheLen!);
  assert(later.length >= 160 / 3, `${later.length} later roots told`);
  // Round r (from 1) has at least r tokens before it (a round yields one or more), and no
  // estimate passes the goal (a batch is as many rounds as cannot pass it at D + 1 a round).
  assert(later.every((c, i) => c >= ids.length + i + 1 + 2), `at least a token a round: ${later}`);
  assert(later.every((c) => c <= ids.length + 160 + 2), `within the goal: ${later}`);
  assert(later.some((c) => c > 128), "a run of 160 tokens crosses to the 256-key kernels");
});

Deno.test("staticTree: node counts, breadth-first parents, the 63-node limit", () => {
  const t = staticTree([4, 2, 1]);
  assert.equal(t.parent.length - 1, 4 + 8 + 8);
  assert.deepEqual(t.levels.map((l) => l.count), [1, 4, 8, 8]);
  assert.ok(t.parent.every((p, u) => u === 0 || p < u));
  assert.throws(() => staticTree([8, 8]), /at most 63/);
  assert.throws(() => staticTree([0]), /widths/);
});

Deno.test("generate refuses --temperature > 0 with --tree in one error line, exit 2", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}mod.ts`,
      "generate",
      "--model",
      `${root}models/pydoc-neox-20m`,
      "--draft",
      `${root}models/pydoc-neox-2.5m`,
      "--ids",
      "1,2,3",
      "--tree",
      "2,2,1",
      "--temperature",
      "0.7",
    ],
    env: { DENO_WEBGPU_BACKEND: "none", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim().split("\n");
  assert.equal(out.code, 2);
  assert.equal(err.length, 1);
  assert.match(err[0], /^error: generate: --tree .*--temperature/);
});

Deno.test("generate --tree --json: target's greedy tokens and the tree metrics", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const run = async (extra: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}mod.ts`,
        "generate",
        "--model",
        `${root}models/pydoc-neox-20m`,
        "--prompt",
        "def parse(argv):",
        "--max-new-tokens",
        "12",
        "--json",
        ...extra,
      ],
      env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  };
  const plain = await run([]);
  const tree = await run(["--draft", `${root}models/pydoc-neox-2.5m`, "--tree", "2,1"]);
  assert.deepEqual(tree.tokens, plain.tokens);
  const m = tree.metrics;
  assert.deepEqual(tree.rounds, m.rounds);
  assert.ok(tree.rounds.every((a: number) => a >= 0 && a <= 2));
  assert.equal(m.nodesPerVerify, 2 + 2);
  const hist: number[] = m.acceptedDepthHistogram;
  assert.equal(hist.reduce((s, x) => s + x, 0), tree.rounds.length);
  assert.equal(m.perDepthAcceptance.length, 2);
  const auto = await run([
    "--draft",
    `${root}models/pydoc-neox-2.5m`,
    "--tree",
    "auto",
    "--tree-budget",
    "6",
  ]);
  assert.deepEqual(auto.tokens, plain.tokens);
  assert.equal(auto.metrics.tree, "auto:6");
  assert.equal(auto.metrics.nodesPerVerify, 6);
  assert.equal(auto.metrics.perDepthAcceptance.length, 2);
});

Deno.test("tree specs of profile --trees: widths or auto:N, named in configuration ids", () => {
  assert.equal(treeName(parseTreeSpec("4,2,1")), "4x2x1");
  assert.equal(treeName(parseTreeSpec("auto:16")), "auto16");
  assert.equal(parseTreeSpec("auto:16").parent.length - 1, 16);
  assert.throws(() => parseTreeSpec("auto"), /widths like/);
  const id = configId({
    k: 3,
    treeName: "4x2x1",
    maxNewTokens: 48,
    cacheSize: null,
    quant: "fp16",
    promptType: "medium",
  });
  assert.equal(id, "tree-4x2x1-n48-full-fp16-medium");
});

Deno.test("expected tree tokens from positional acceptance: hand-computed values", () => {
  const p = [[0.5, 0.2, 0.1, 0.05], [0.6, 0.2], [0.7]];
  // Chain 1,1,1: 1 + .5 + .5*.6 + .5*.6*.7 = 2.01.
  assert.ok(Math.abs(expectedTreeTokens(staticTree([1, 1, 1]), p) - 2.01) < 1e-12);
  // 2,1: 1 + (.5 + .2) + (.5 + .2) * .6 = 2.12.
  assert.ok(Math.abs(expectedTreeTokens(staticTree([2, 1]), p) - 2.12) < 1e-12);
  // 2,2: 1 + .7 + .7 * (.6 + .2) = 2.26.
  assert.ok(Math.abs(expectedTreeTokens(staticTree([2, 2]), p) - 2.26) < 1e-12);
  // Ranks 0 1 3 0 0 -1 0 with widths 2,1: from position 0, rank 0 < 2 then rank 1 >= 1:
  // a=1 (the correction is position 1); from 2, rank 3 >= 2: a=0; from 3, ranks 0, 0: a=2;
  // from 6, rank 0 and the end: a=1.
  assert.deepEqual(treeRoundsFromRanks([2, 1], [0, 1, 3, 0, 0, -1, 0], 7), [1, 0, 2, 1]);
});
