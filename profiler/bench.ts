/**
 * `mod.ts bench`: what decoding costs on this adapter and why. Measures plain greedy decode
 * and speculative decoding at each K (tokens/s after the first token, CPU waits on the GPU
 * per token), the adapter's copy and compute-read bandwidth and arithmetic rate, every
 * kernel of one target decode step, one draft step and one verify pass of K + 1 tokens set
 * against those rates (profiler/kernel_profile.ts), and a PyTorch eager CPU peer on the
 * same checkpoint and prompt (profiler/peer_torch.py), whose greedy tokens must equal ours.
 */
import type { NeoxModel } from "../engine/model.ts";
import type { TuneProvenance } from "../engine/autotune.ts";
import { FULL_CACHE } from "../engine/cache_policy.ts";
import { type GenerationRun, type RunConfig, runGeneration, warmUp } from "./measure.ts";
import { speculativeMetrics } from "./metrics.ts";
import { GpuTimer } from "./gpu_timer.ts";
import { median } from "./stats.ts";
import {
  type AdapterRates,
  calibrateTicksWithProbe,
  type KernelFloorRow,
  measureAdapter,
  profilePasses,
  withFloors,
} from "./kernel_profile.ts";
import {
  dispatchCount,
  type PassRounds,
  passRounds,
  type RoundAccount,
  roundAccounts,
  tunedLines,
} from "./bench_extra.ts";
import { describeMachine } from "./device_info.ts";
import { lavapipeThreads } from "../engine/device_deno.ts";

/** What to measure. */
export interface BenchOptions {
  ids: number[];
  /** The prompt text, when the ids came from one. */
  promptText: string | null;
  /** Name of the built-in prompt used, if any. */
  promptName: string | null;
  maxNewTokens: number;
  kValues: number[];
  /** Timed runs per configuration (after one untimed warm-up). */
  samples: number;
  /** Run the PyTorch peer. */
  peer: boolean;
  /** Python interpreter of the peer (default /usr/bin/python3). */
  peerPython?: string;
  /** Repetitions per kernel in the per-kernel profile. */
  kernelReps?: number;
  progress?: (line: string) => void;
  version: string;
}

/** One decoding configuration's timings (medians over samples). */
export interface BenchRun {
  /** New tokens after the first one / the time after the first one (median). */
  decodeTokS: number;
  /** Every sample's decode tokens/s. */
  decodeTokSSamples: number[];
  /** New tokens / (time to first token + decode time) (median). */
  throughputTokS: number;
  ttftMs: number;
  /** CPU waits on the GPU per new token. */
  gpuWaitsPerToken: number;
}

/** A speculative configuration. */
export interface SpeculativeRun extends BenchRun {
  k: number;
  draftAcceptanceRate: number;
  /** Emitted tokens / rounds. */
  meanTokensPerRound: number;
  rounds: number;
  /** Tokens emitted by the first round (the prefill's verify); decode counts the rest. */
  firstRoundTokens: number;
  /** Output identical to plain greedy decoding (it must be). */
  tokensMatchPlain: boolean;
}

/** The PyTorch peer's result (profiler/peer_torch.py). */
export interface PeerResult {
  name: string;
  torch: string;
  threads: number;
  dtype: string;
  decodeTokS: number;
  throughputTokS: number;
  ttftMs: number;
  samples: number;
  tokens: number[];
  /** The peer's greedy tokens equal ours. */
  tokensMatch: boolean;
  /** Index of the first differing token, or null. */
  firstMismatch: number | null;
}

/** One bench run, as `bench --json` prints it. */
export interface BenchResult {
  schema: "neox-spec/bench@1";
  tool: { name: "neox-spec"; version: string };
  createdAt: string;
  machine: {
    adapter: string;
    vendor: string;
    architecture: string;
    isFallbackAdapter: boolean;
    cpus: number;
    /**
     * A software adapter's worker threads as set by LP_NUM_THREADS, null for Mesa's default
     * (one per CPU) or a hardware adapter: the count changes its times (PERF.md, session 13).
     */
    workerThreads: number | null;
    /** 1-minute load average at the start and the end of the bench (null where unknown). */
    loadAvgStart: number | null;
    loadAvgEnd: number | null;
  };
  models: {
    target: { path: string; params: number; weightBytes: number; weightType: string };
    draft: { path: string; params: number; weightBytes: number; weightType: string };
  };
  prompt: { name: string | null; text: string | null; ids: number[] };
  maxNewTokens: number;
  samples: number;
  kValues: number[];
  /** Plain greedy decode tokens/s after the first token. */
  decodeTokS: number;
  plain: BenchRun;
  speculative: SpeculativeRun[];
  bestK: number;
  bestSpeculativeTokS: number;
  /** bestSpeculativeTokS / decodeTokS. */
  speculativeSpeedup: number;
  /**
   * The best K's decode tokens/s over plain decoding's in each round of samples (the
   * configurations run round-robin, so each pair ran seconds apart).
   */
  speculativeSpeedupRounds: number[];
  gpuWaitsPerToken: { plain: number; speculative: number };
  /** Measured rates (null without timestamp queries). */
  adapter: (AdapterRates & { tickCalibrationR2: number }) | null;
  /** Per kernel and pass: target decode step, draft step, verify of bestK + 1 tokens. */
  kernels: KernelFloorRow[];
  /** Per pass: sum of kernel times and floors, with the cache length profiled at. */
  kernelPasses: {
    pass: string;
    tokens: number;
    cacheLen: number;
    /** Sum of the kernels' times, each dispatch in its own compute pass. */
    ms: number;
    /**
     * The same pass with all its dispatches in one compute pass, timed back to back as
     * decoding runs it: the median over the bench's pass rounds (bench_extra.ts passRounds).
     */
    wholePassMs: number | null;
    floorMs: number;
    fraction: number;
  }[];
  peer: PeerResult | null;
  /** Why there is no peer, or what to know about it. */
  peerNote: string | null;
  /** Our decode tokens/s over the peer's: plain and best speculative. */
  ratio: { plain: number; bestSpeculative: number } | null;
  notes: string[];
  /** Added by profiler/bench_extra.ts. */
  extra?: BenchExtra;
}

/** CPU, dispatch counts, the verify curve over T, pass ratios, the all-cores peer. */
export interface BenchExtra {
  /** /proc/cpuinfo "model name" (null where unknown). */
  cpuModel: string | null;
  dispatches: Record<"target" | "draft" | "verify4", { pass: number; perLayer: number }>;
  /** Verify pass GPU ms (all logits, one compute pass) for T = 1..17, at the profile's cache. */
  verifyCurve: { T: number; ms: number }[];
  /** Every step of verifyCurve is at least the one before, within 3%. */
  verifyMonotone: boolean;
  /** Median ms over the rounds of the verify curve: target step, draft step, verify of 4. */
  passMs: { target: number; draft: number; verify4: number } | null;
  /** verify(T=4) / target step, each round's ratio (bench_extra.ts passRounds): the median. */
  verify4OverTarget: number | null;
  /** The lowest and highest round's ratio. */
  verify4OverTargetRange: [number, number] | null;
  /** c = T_draft / T_target, each round's ratio: the median. */
  draftOverTarget: number | null;
  draftOverTargetRange: [number, number] | null;
  /** The target step's floor / its median time in passRounds. */
  targetFloorFraction: number | null;
  /**
   * Each pass's dispatches times the adapter's dispatch cost (AdapterRates.dispatchUs), ms:
   * what the pass costs however little its kernels do.
   */
  dispatchFloorMs: Record<"target" | "draft" | "verify4", number> | null;
  /** Each K's round from this run's pass times (bench_extra.ts roundAccounts). */
  roundAccounts: RoundAccount[];
  /** The PyTorch peer with every core (torch.set_num_threads(cpus)). */
  peerAllCores: { threads: number; decodeTokS: number; tokensMatch: boolean } | null;
  /** engine/autotune.ts choices of the target and draft shapes. */
  tuned: string[];
  /**
   * Where the choices measured by an earlier process came from (engine/tune_cache.ts); null
   * when every choice was timed at this run's load.
   */
  tunedFrom: TuneProvenance | null;
}

function loadAvg(): number | null {
  try {
    return Deno.loadavg()[0];
  } catch {
    return null;
  }
}

function modelFacts(m: NeoxModel) {
  return {
    path: m.source,
    params: m.params,
    weightBytes: m.weightBytes,
    weightType: m.weights.embedOut.wt as string,
  };
}

/** Runs the bench on a loaded target and draft (same device). */
export async function runBench(
  target: NeoxModel,
  draft: NeoxModel,
  o: BenchOptions,
): Promise<BenchResult> {
  const gpu = target.gpu;
  const log = o.progress ?? (() => {});
  const N = o.maxNewTokens;
  const notes: string[] = [];
  const loadAvgStart = loadAvg();

  let adapter: BenchResult["adapter"] = null;
  let timer: GpuTimer | null = null;
  if (gpu.hasTimestamps) {
    log("adapter: tick calibration, copy, streaming read and FMA rate");
    timer = new GpuTimer(gpu, 2048);
    const cal = await calibrateTicksWithProbe(gpu);
    adapter = {
      ...(await measureAdapter(gpu, timer, cal.nsPerTick)),
      tickCalibrationR2: cal.r2,
    };
  } else {
    notes.push("the adapter has no timestamp-query feature: no adapter rates, no kernel times");
  }

  // Plain greedy decoding and speculative decoding at each K, through the one harness. The
  // samples go round-robin over the configurations (the order rotated every round), so that
  // a slow or fast spell of a shared machine touches plain and speculative decoding alike:
  // one after the other, the best K over plain moved from 0.83x to 1.29x between runs (PERF.md).
  const plainConfig: RunConfig = { mode: "baseline", target, cache: FULL_CACHE };
  const configs: RunConfig[] = [
    plainConfig,
    ...o.kValues.map((k): RunConfig => ({
      mode: "speculative",
      target,
      draft,
      k,
      cache: FULL_CACHE,
    })),
  ];
  log(`warm-up: plain greedy and speculative K=${o.kValues.join(", ")}`);
  for (const c of configs) {
    await warmUp(c, [{ ids: o.ids }], Math.min(N, c.k === undefined ? 4 : c.k + 2));
  }
  const runsOf: GenerationRun[][] = configs.map(() => []);
  for (let s = 0; s < o.samples; s++) {
    log(
      `round ${s + 1} of ${o.samples}: plain and K=${o.kValues.join(", ")}, ${N} new tokens each`,
    );
    for (let i = 0; i < configs.length; i++) {
      const at = (i + s) % configs.length;
      runsOf[at].push(await runGeneration(configs[at], o.ids, N));
    }
  }
  const plainRuns = runsOf[0];
  const plainTokens = plainRuns[0].tokens;
  const plainRates = plainRuns.map((r) => (N - 1) / (r.decodeMs / 1e3));
  const plain: BenchRun = {
    decodeTokS: median(plainRates),
    decodeTokSSamples: plainRates,
    throughputTokS: median(plainRuns.map((r) => N / ((r.ttftMs + r.decodeMs) / 1e3))),
    ttftMs: median(plainRuns.map((r) => r.ttftMs)),
    gpuWaitsPerToken: median(plainRuns.map((r) => r.gpuWaits / N)),
  };

  const speculative: SpeculativeRun[] = [];
  let allDecoded = false;
  for (const [i, k] of o.kValues.entries()) {
    const runs = runsOf[i + 1];
    const rates = runs.map((r) => {
      if (N - r.firstTokens >= 1) return (N - r.firstTokens) / (r.decodeMs / 1e3);
      allDecoded = true;
      return N / ((r.ttftMs + r.decodeMs) / 1e3);
    });
    const r0 = runs[0];
    const m = speculativeMetrics(r0.rounds!, k, N);
    speculative.push({
      k,
      decodeTokS: median(rates),
      decodeTokSSamples: rates,
      throughputTokS: median(runs.map((r) => N / ((r.ttftMs + r.decodeMs) / 1e3))),
      ttftMs: median(runs.map((r) => r.ttftMs)),
      gpuWaitsPerToken: median(runs.map((r) => r.gpuWaits / N)),
      draftAcceptanceRate: m.draftAcceptanceRate,
      meanTokensPerRound: m.meanTokensPerRound,
      rounds: m.rounds,
      firstRoundTokens: r0.firstTokens,
      tokensMatchPlain: runs.every((r) => r.tokens.every((t, i) => t === plainTokens[i])),
    });
  }
  if (allDecoded) {
    notes.push(
      "a speculative run emitted every token in its first round: its decode rate is N / total time",
    );
  }
  const best = speculative.reduce((a, b) => (b.decodeTokS > a.decodeTokS ? b : a));

  // Per-kernel profile: mid-generation cache length, verify at the best K.
  let kernels: KernelFloorRow[] = [];
  let curve: { T: number; ms: number }[] = [];
  let rounds: PassRounds | null = null;
  const kernelPasses: BenchResult["kernelPasses"] = [];
  const cacheLen = o.ids.length + Math.floor(N / 2);
  if (timer && adapter) {
    log(`per-kernel profile at cache length ${cacheLen} (verify K+1 = ${best.k + 1})`);
    const rows = await profilePasses(target, draft, {
      k: best.k,
      cacheLen,
      timer,
      nsPerTick: adapter.nsPerTick,
      reps: o.kernelReps ?? 5,
    });
    kernels = withFloors(rows, adapter);
    log("verify pass for T = 1..17, target and draft steps, 5 rounds");
    rounds = await passRounds(target, draft, Array.from({ length: 17 }, (_, i) => i + 1), {
      timer,
      nsPerTick: adapter.nsPerTick,
      cacheLen,
      rounds: 5,
    });
    curve = rounds.curve;
    timer.destroy();
    // Whole passes as decoding runs them: the median over passRounds' rounds.
    const verify = rounds.verifyMs.get(best.k + 1);
    const wholePassMs: Record<string, number | null> = {
      target: median(rounds.targetMs),
      draft: median(rounds.draftMs),
      verify: verify ? median(verify) : null,
    };
    for (const pass of ["target", "draft", "verify"]) {
      const rs = kernels.filter((r) => r.pass === pass);
      const ms = rs.reduce((s, r) => s + r.ms, 0);
      const floorMs = rs.reduce((s, r) => s + (r.floorMs ?? 0), 0);
      kernelPasses.push({
        pass,
        tokens: pass === "verify" ? best.k + 1 : 1,
        cacheLen,
        ms,
        wholePassMs: wholePassMs[pass] ?? null,
        floorMs,
        fraction: ms > 0 ? floorMs / ms : 0,
      });
    }
  }

  // The PyTorch peer, after ours (they would compete for the same cores).
  let peer: PeerResult | null = null;
  let peerNote: string | null = null;
  if (!o.peer) {
    peerNote = "peer skipped (--no-peer)";
  } else if (target.source.startsWith("synthetic:")) {
    peerNote = "no PyTorch peer for synthetic models (it reads model.safetensors)";
  } else {
    log("PyTorch peer (CPU, float32, 1 thread)");
    const p = await runPeer(
      o.peerPython ?? "/usr/bin/python3",
      target.source,
      o.ids,
      N,
      o.samples,
    );
    if ("note" in p) {
      peerNote = p.note;
    } else {
      const mismatch = p.tokens.findIndex((t, i) => t !== plainTokens[i]);
      const firstMismatch = mismatch >= 0
        ? mismatch
        : p.tokens.length !== plainTokens.length
        ? Math.min(p.tokens.length, plainTokens.length)
        : null;
      peer = { ...p, tokensMatch: firstMismatch === null, firstMismatch };
      if (firstMismatch !== null) {
        peerNote = `the peer's greedy tokens differ from ours from new token ${firstMismatch}`;
      }
    }
  }
  let peerAllCores: BenchExtra["peerAllCores"] = null;
  if (peer) {
    log(`PyTorch peer (CPU, float32, all ${navigator.hardwareConcurrency} cores)`);
    const p = await runPeer(
      o.peerPython ?? "/usr/bin/python3",
      target.source,
      o.ids,
      N,
      o.samples,
      0,
    );
    if (!("note" in p)) {
      peerAllCores = {
        threads: p.threads,
        decodeTokS: p.decodeTokS,
        tokensMatch: p.tokens.every((t, i) => t === plainTokens[i]),
      };
    }
  }
  const floorMs = kernelPasses.find((p) => p.pass === "target")?.floorMs ?? null;
  // Ratios within each round of passRounds: median over the rounds, and their range.
  const perRound = (num: number[]) => {
    if (!rounds) return null;
    const r = num.map((x, i) => x / rounds!.targetMs[i]);
    return { median: median(r), min: Math.min(...r), max: Math.max(...r) };
  };
  const v4 = perRound(rounds?.verifyMs.get(4) ?? []);
  const c = perRound(rounds?.draftMs ?? []);
  const machine = describeMachine(gpu);
  const dispatches = {
    target: dispatchCount(target, 1, cacheLen),
    draft: dispatchCount(draft, 1, cacheLen),
    verify4: dispatchCount(target, 4, cacheLen),
  };
  const us = adapter?.dispatchUs;
  const extra: BenchExtra = {
    cpuModel: machine.cpuModel ?? null,
    dispatches,
    dispatchFloorMs: us === undefined ? null : {
      target: dispatches.target.pass * us / 1e3,
      draft: dispatches.draft.pass * us / 1e3,
      verify4: dispatches.verify4.pass * us / 1e3,
    },
    roundAccounts: rounds
      ? roundAccounts(speculative, plain.decodeTokS, {
        target: median(rounds.targetMs),
        draft: median(rounds.draftMs),
        verifyMs: new Map([...rounds.verifyMs].map(([T, ms]) => [T, median(ms)])),
      })
      : [],
    verifyCurve: curve,
    verifyMonotone: curve.every((c, i) => i === 0 || c.ms >= 0.97 * curve[i - 1].ms),
    passMs: rounds
      ? {
        target: median(rounds.targetMs),
        draft: median(rounds.draftMs),
        verify4: median(rounds.verifyMs.get(4)!),
      }
      : null,
    verify4OverTarget: v4?.median ?? null,
    verify4OverTargetRange: v4 ? [v4.min, v4.max] : null,
    draftOverTarget: c?.median ?? null,
    draftOverTargetRange: c ? [c.min, c.max] : null,
    targetFloorFraction: rounds && floorMs !== null ? floorMs / median(rounds.targetMs) : null,
    peerAllCores,
    tuned: [...new Set([...tunedLines(target), ...tunedLines(draft)])],
    tunedFrom: target.profile?.restored ?? null,
  };
  const ratio = peer && peer.decodeTokS > 0
    ? {
      plain: plain.decodeTokS / peer.decodeTokS,
      bestSpeculative: best.decodeTokS / peer.decodeTokS,
    }
    : null;
  if (speculative.some((s) => !s.tokensMatchPlain)) {
    notes.push("speculative output differs from plain greedy output (a bug)");
  }
  return {
    schema: "neox-spec/bench@1",
    tool: { name: "neox-spec", version: o.version },
    createdAt: new Date().toISOString(),
    machine: {
      adapter: machine.description,
      vendor: machine.vendor,
      architecture: machine.architecture,
      isFallbackAdapter: machine.isFallbackAdapter,
      cpus: machine.cpuCores ?? navigator.hardwareConcurrency,
      workerThreads: /llvmpipe/i.test(machine.description) ? lavapipeThreads() : null,
      loadAvgStart,
      loadAvgEnd: loadAvg(),
    },
    models: { target: modelFacts(target), draft: modelFacts(draft) },
    prompt: { name: o.promptName, text: o.promptText, ids: o.ids },
    maxNewTokens: N,
    samples: o.samples,
    kValues: o.kValues,
    decodeTokS: plain.decodeTokS,
    plain,
    speculative,
    bestK: best.k,
    bestSpeculativeTokS: best.decodeTokS,
    speculativeSpeedup: best.decodeTokS / plain.decodeTokS,
    speculativeSpeedupRounds: best.decodeTokSSamples.map((v, i) => v / plain.decodeTokSSamples[i]),
    gpuWaitsPerToken: { plain: plain.gpuWaitsPerToken, speculative: best.gpuWaitsPerToken },
    adapter,
    kernels,
    kernelPasses,
    peer,
    peerNote,
    ratio,
    notes,
    extra,
  };
}

/** Path of the peer script. */
export function peerScript(): string {
  return decodeURIComponent(new URL("./peer_torch.py", import.meta.url).pathname);
}

/**
 * Runs profiler/peer_torch.py; returns its result, or a note saying why there is none (no
 * interpreter, no torch, a failure): the bench goes on without a peer.
 */
export async function runPeer(
  python: string,
  modelDir: string,
  ids: number[],
  maxNewTokens: number,
  samples: number,
  /** torch threads: 1 (default), or 0 for every core. */
  threads = 1,
): Promise<Omit<PeerResult, "tokensMatch" | "firstMismatch"> | { note: string }> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(python, {
      args: [
        peerScript(),
        "--model",
        modelDir,
        "--ids",
        ids.join(","),
        "--max-new-tokens",
        String(maxNewTokens),
        "--samples",
        String(samples),
        "--threads",
        String(threads),
      ],
      env: threads === 1 ? { OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" } : {},
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    return { note: `no PyTorch peer: cannot run ${python} (${(e as Error).message})` };
  }
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(stdout.split("\n").pop() ?? "");
  } catch {
    json = null;
  }
  if (out.code === 3) {
    return {
      note: `no PyTorch peer: torch is not installed for ${python} (${
        json?.error ?? "import failed"
      }; Debian: apt-get install python3-torch)`,
    };
  }
  if (!out.success || !json || typeof json.decodeTokS !== "number") {
    const why = (stderr.split("\n").pop() || stdout.slice(0, 200) || `exit ${out.code}`).trim();
    return { note: `no PyTorch peer: ${peerScript()} failed: ${why}` };
  }
  return {
    name: "PyTorch eager (CPU)",
    torch: String(json.torch),
    threads: Number(json.threads),
    dtype: String(json.dtype),
    decodeTokS: json.decodeTokS,
    throughputTokS: Number(json.throughputTokS),
    ttftMs: Number(json.ttftMs),
    samples: Number(json.samples),
    tokens: (json.tokens as number[]) ?? [],
  };
}

const f = (x: number | null | undefined, d = 2) =>
  x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d);
const range = (r: [number, number] | null, d: number) => (r ? `${f(r[0], d)}-${f(r[1], d)}` : "-");

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
  );
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  return lines;
}

/** The human summary of a bench run. */
export function benchTable(r: BenchResult): string {
  const out: string[] = [];
  const la = (x: number | null) => (x === null ? "?" : x.toFixed(2));
  out.push(
    `bench: ${r.models.target.path} (draft ${r.models.draft.path}${
      r.models.draft.weightType === "int8" ? ", quantized int8 at load" : ""
    }), prompt ${r.prompt.ids.length} tokens, ${r.maxNewTokens} new tokens, ${r.samples} samples`,
    `adapter: ${r.machine.adapter} (${r.machine.cpus} CPUs${
      r.machine.workerThreads === null
        ? ""
        : `, ${r.machine.workerThreads} worker threads (LP_NUM_THREADS)`
    }, load ${la(r.machine.loadAvgStart)} -> ${la(r.machine.loadAvgEnd)})`,
    "",
  );
  const rows = [[
    "decoder",
    "decode tok/s",
    "tok/s incl. TTFT",
    "TTFT ms",
    "waits/token",
    "vs peer",
  ]];
  const vs = (x: number) => (r.peer ? `${f(x / r.peer.decodeTokS)}x` : "-");
  rows.push([
    "ours: plain greedy",
    f(r.plain.decodeTokS),
    f(r.plain.throughputTokS),
    f(r.plain.ttftMs, 1),
    f(r.plain.gpuWaitsPerToken, 3),
    vs(r.plain.decodeTokS),
  ]);
  for (const s of r.speculative) {
    rows.push([
      `ours: speculative K=${s.k}${s.k === r.bestK ? " (best)" : ""}`,
      f(s.decodeTokS),
      f(s.throughputTokS),
      f(s.ttftMs, 1),
      f(s.gpuWaitsPerToken, 3),
      vs(s.decodeTokS),
    ]);
  }
  if (r.peer) {
    rows.push([
      `PyTorch ${r.peer.torch} eager CPU ${r.peer.dtype} ${r.peer.threads} thread`,
      f(r.peer.decodeTokS),
      f(r.peer.throughputTokS),
      f(r.peer.ttftMs, 1),
      "-",
      "1.00x",
    ]);
  }
  out.push(...table(rows));
  out.push(
    "",
    `best speculative / plain decode tok/s: ${f(r.speculativeSpeedup)}x (K=${r.bestK}; rounds ${
      r.speculativeSpeedupRounds.map((v) => f(v)).join(", ")
    }, each pair run seconds apart)`,
  );
  if (r.ratio) {
    out.push(
      "",
      `ours / PyTorch decode tok/s: plain ${f(r.ratio.plain)}x, best speculative (K=${r.bestK}) ${
        f(r.ratio.bestSpeculative)
      }x; peer tokens ${r.peer?.tokensMatch ? "match" : "DIFFER"}`,
    );
  }
  if (r.peerNote) out.push(`peer: ${r.peerNote}`);
  if (r.adapter) {
    const a = r.adapter;
    out.push(
      "",
      `adapter rates: copy ${f(a.copyGBs)} GB/s (read+write), compute read ${
        f(a.computeReadGBs)
      } GB/s (${a.readLaunch}), f32 FMA ${f(a.computeGflops, 1)} GFLOP/s`,
    );
  }
  if (r.kernels.length) {
    out.push("");
    const kr = [[
      "kernel",
      "wgsl",
      "pass",
      "shape",
      "n",
      "ms",
      "GB/s",
      "GFLOP/s",
      "floor ms",
      "fraction",
    ]];
    for (const k of r.kernels) {
      kr.push([
        k.name,
        k.kernel,
        k.pass,
        k.shape,
        String(k.count),
        f(k.ms, 3),
        f(k.gbs, 3),
        f(k.gflops, 3),
        f(k.floorMs, 3),
        f(k.fraction, 3),
      ]);
    }
    out.push(...table(kr));
    for (const p of r.kernelPasses) {
      out.push(
        `${p.pass} (${p.tokens} token${p.tokens > 1 ? "s" : ""}, cache ${p.cacheLen}): kernels ${
          f(p.ms, 2)
        } ms (one pass: ${f(p.wholePassMs, 2)} ms), floor ${f(p.floorMs, 3)} ms (${
          f(100 * p.fraction, 1)
        }% of the kernels' time)`,
      );
    }
  }
  if (r.extra) out.push("", ...extraLines(r, r.extra));
  for (const n of r.notes) out.push(`note: ${n}`);
  return out.join("\n");
}

function extraLines(r: BenchResult, e: BenchExtra): string[] {
  const d = e.dispatches;
  const out = [
    `CPU: ${e.cpuModel ?? "unknown"}, ${r.machine.cpus} cores`,
    `dispatches per pass: target ${d.target.pass} (${d.target.perLayer} per layer), draft ${d.draft.pass} (${d.draft.perLayer} per layer), verify of 4 ${d.verify4.pass}`,
    `passes back to back (median of 5 rounds): target ${f(e.passMs?.target ?? null, 2)} ms, draft ${
      f(e.passMs?.draft ?? null, 2)
    } ms, verify(4) ${f(e.passMs?.verify4 ?? null, 2)} ms`,
    `target pass ${
      f(e.targetFloorFraction === null ? null : 100 * e.targetFloorFraction, 1)
    }% of the compute-read floor; verify(4) / target ${f(e.verify4OverTarget)} (rounds ${
      range(e.verify4OverTargetRange, 2)
    }); c = draft / target ${f(e.draftOverTarget, 3)} (rounds ${range(e.draftOverTargetRange, 3)})`,
  ];
  const fl = e.dispatchFloorMs;
  if (fl && r.adapter && e.passMs) {
    const share = (floor: number, pass: number) =>
      `${f(floor, 2)} ms (${f(100 * floor / pass, 0)}%)`;
    out.push(
      `dispatch cost ${f(r.adapter.dispatchUs, 1)} us (one-workgroup dispatches back to back); ` +
        `dispatches x cost: target ${share(fl.target, e.passMs.target)}, draft ${
          share(fl.draft, e.passMs.draft)
        }, verify(4) ${share(fl.verify4, e.passMs.verify4)} of the pass`,
    );
  }
  if (e.roundAccounts.length) {
    out.push(
      "rounds as this run's passes account for them (tokens a round / (K c + verify(K+1) / target); " +
        "not a prediction): " +
        e.roundAccounts.map((a) =>
          `K=${a.k} ${f(a.tokensPerRound)} / ${f(a.roundPasses)} = ${f(a.speedup)}x (measured ${
            f(a.measured)
          }x)`
        ).join(", "),
    );
  }
  if (e.peerAllCores) {
    const v = r.plain.decodeTokS / e.peerAllCores.decodeTokS;
    out.push(
      `PyTorch all cores (${e.peerAllCores.threads} threads): ${
        f(e.peerAllCores.decodeTokS)
      } tok/s; ours plain ${f(v)}x; tokens ${e.peerAllCores.tokensMatch ? "match" : "DIFFER"}`,
    );
  }
  if (e.verifyCurve.length) {
    out.push(
      `verify ms by T (${e.verifyMonotone ? "monotone" : "NOT monotone"}): ${
        e.verifyCurve.map((c) => `${c.T}:${f(c.ms, 1)}`).join(" ")
      }`,
    );
  }
  const from = e.tunedFrom
    ? `read from ${e.tunedFrom.path}, timed by an earlier run at ${e.tunedFrom.measuredAt}, ` +
      "shapes it lacked timed at load; `calibrate` or NEOX_TUNE_CACHE=off times them all again"
    : "timed at load";
  if (e.tuned.length) out.push(`kernel choices (${from}):`, ...e.tuned.map((l) => `  ${l}`));
  return out;
}
