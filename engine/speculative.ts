/**
 * Speculative decoding, GPU-resident. One round: the draft proposes K tokens (its own KV
 * cache; argmax or sampling writes each proposal into the shared token buffer), the target
 * scores all K in ONE verify pass over K+1 positions, an accept kernel keeps the longest
 * agreeing prefix (greedy) or applies the Leviathan/Chen rule (sampling), writes the
 * correction or bonus token, and rolls both caches back by moving their lengths.
 * Rounds are encoded back to back without CPU waits; accept counts are read in batches,
 * each sized by the tokens a round has yielded so far: rounds encoded past the goal commit
 * nothing (the accept kernel's stop), so a batch may overshoot instead of waiting again.
 *
 * First round, as transformers' assisted generation: the draft drafts from the prompt and
 * the target's prefill is the first verify pass (prefill of n-1 tokens + verify of K+1).
 */
import { type Gpu, readbackCost, readBuffer, readBuffers, storageBuffer } from "./device.ts";
import { NeoxError } from "./errors.ts";
import {
  encodePrefill,
  type GenerationStats,
  PREFILL_CHUNK,
  SINK_PREFILL_CHUNK,
} from "./generate.ts";
import {
  attendedKeys,
  type CachePolicy,
  checkCachePolicy,
  compressionEvents,
  FULL_CACHE,
  MAX_CACHE_ENTRIES,
  sinkCacheSlots,
} from "./cache_policy.ts";
import { beginPass, type PassHook } from "./hooks.ts";
import { acceptGreedy, acceptSample } from "./ops.ts";
import type { NeoxModel, Sequence } from "./model.ts";
import { type Dispatch, encodeDispatches } from "../kernels/kernel.ts";
import {
  checkSampling,
  isSampling,
  RULE_CODE,
  sampleDispatch,
  type SamplingOptions,
  STREAM,
} from "./sampling.ts";
import { type KAutoOptions, nextK, roundsPerDecision } from "./k_policy.ts";

/** Options of a speculative generation. */
export interface SpeculativeOptions {
  /** Draft length K (1..16); with `kAuto`, the K of the first round. */
  k: number;
  maxNewTokens: number;
  /** Observer of passes (GPU timing). */
  hook?: PassHook;
  /**
   * Speculative sampling when temperature > 0: the draft samples its proposals and the
   * Leviathan/Chen rule accepts them, so the output follows the target's distribution
   * (same temperature and top-p for both models). Greedy otherwise.
   */
  sampling?: SamplingOptions;
  /** Choose K between batches of rounds (`--k auto`); kPerRound reports the choices. */
  kAuto?: KAutoOptions;
  /** Read both models' final [cacheLen, tokenPos] into the result's `state` (tests). */
  readState?: boolean;
  /**
   * KV cache policy of both models (default: full). With a sink cache every verified token
   * sees the window a target-only run under the same policy would have shown it, so greedy
   * output stays identical to that run's.
   */
  cache?: CachePolicy;
  /**
   * Acceptance replay (greedy only): round r accepts min(K, replay[r % length]) drafts
   * whatever the models say, so a synthetic pair runs at a recorded or chosen acceptance.
   */
  replay?: number[];
}

/** Result of a speculative generation. */
export interface SpeculativeResult extends GenerationStats {
  tokens: number[];
  /** Accepted draft tokens per round, for the rounds needed to reach maxNewTokens. */
  rounds: number[];
  /** Draft length of each round. */
  kPerRound: number[];
  /** With `readState`: final [cacheLen, tokenPos] of the target and the draft. */
  state?: { target: [number, number]; draft: [number, number] };
}

/** Largest draft length. */
export const MAX_K = 16;

/**
 * A readback wait at least this long (ms) makes batches of rounds worth running past the goal
 * (Deno's ~11 ms against rounds of 10-30 ms here); below it (a browser's ~1 ms) a wait is
 * cheaper than the round it would save, and batches never pass the goal (PERF.md).
 */
export const OVERSHOOT_MIN_WAIT_MS = 5;

/**
 * Rounds in the next batch of a greedy loop that has `produced` of `goal` new tokens from
 * `logged` rounds of K drafts. Without `overshoot`: the most that cannot pass the goal (a
 * round yields at most K+1). With it: as many as the tokens per round so far say are left,
 * that rate taken with two prior rounds of K+1 tokens (so a batch after one unlucky round does
 * not run far past the goal), at most twice that safe count. Rounds past the goal commit
 * nothing (the accept kernel's stop) but cost their passes; each batch costs a readback wait
 * (PERF.md weighs the two). profiler/cost_model.ts schedules the same rule.
 */
export function nextBatch(
  goal: number,
  produced: number,
  logged: number,
  k: number,
  overshoot: boolean,
): number {
  const remaining = goal - produced;
  const safe = Math.ceil(remaining / (k + 1));
  if (!overshoot) return safe;
  const expected = Math.ceil((remaining * (logged + 2)) / (produced + 2 * (k + 1)));
  return Math.max(1, Math.min(expected, 2 * safe));
}

/**
 * About the keys round i of a batch attends (a pass's length hint: engine/autotune.ts
 * byNearestLength): the prompt, the tokens produced before the batch, the batch's earlier rounds
 * at the tokens per round so far with one round of the most a round yields (`most`) counted in
 * (after one unlucky round alone, one token a round would be the guess), plus the pass's own
 * `passTokens`; a sink cache's window at most. Chain and tree loops alike.
 */
export function roundKeys(
  cache: CachePolicy,
  b: { promptLen: number; produced: number; rounds: number; most: number },
  i: number,
  passTokens: number,
): number {
  const perRound = (b.produced + b.most) / (b.rounds + 1);
  return attendedKeys(cache, Math.round(b.promptLen + b.produced + i * perRound) + passTokens);
}

/** Checks that a draft can serve a target. */
export function checkPair(target: NeoxModel, draft: NeoxModel): void {
  if (draft.cfg.vocabSize !== target.cfg.vocabSize) {
    throw new NeoxError(
      `draft ${draft.source} has vocabulary ${draft.cfg.vocabSize}, target ${target.source} has ${target.cfg.vocabSize}: they must match`,
    );
  }
}

/** Both models' GPU state for one speculative generation. */
class SpeculativeRun {
  readonly target: Sequence;
  readonly draft: Sequence;
  readonly tokens: GPUBuffer;
  /** [rounds, accepted_0, accepted_1, ...] */
  readonly log: GPUBuffer;
  readonly maxRounds: number;
  /** The accept kernels' stop: the target's tokenPos once maxNewTokens are committed. */
  readonly stop: number;
  #accept = new Map<number, Dispatch>();
  /** [n, a_0, ...] accept counts to replay, or null; a 16-byte stand-in when unused. */
  readonly #replay: GPUBuffer | null = null;
  /** Sampling only: settings, p rows [MAX_K+1, V], q rows [MAX_K, V], dispatches. */
  readonly sampling?: SamplingOptions;
  readonly #probs: GPUBuffer[] = [];
  #draws: Dispatch[] = [];
  #verify = new Map<number, Dispatch[]>();

  constructor(
    targetModel: NeoxModel,
    draftModel: NeoxModel,
    promptLen: number,
    o: SpeculativeOptions,
  ) {
    const gpu = targetModel.gpu;
    const cache = o.cache ?? FULL_CACHE;
    checkCachePolicy(cache, o.k);
    const positions = promptLen + o.maxNewTokens + o.k + 2;
    if (cache.kind === "full" && positions > MAX_CACHE_ENTRIES) {
      throw new NeoxError(
        `prompt (${promptLen} tokens) + ${o.maxNewTokens} new tokens + K exceed the full cache limit of ${MAX_CACHE_ENTRIES} positions (use --cache sink)`,
      );
    }
    // Rounds past the goal write up to K+1 more tokens (never read back).
    const maxTokens = positions + o.k + 2;
    this.tokens = storageBuffer(gpu, maxTokens * 4, "shared tokens");
    const prefill = cache.kind === "sink" ? SINK_PREFILL_CHUNK : PREFILL_CHUNK;
    const maxT = Math.max(Math.min(prefill, promptLen), o.k + 1);
    // A sink cache also keeps room for the K entries a rollback drops.
    const capacity = cache.kind === "sink" ? sinkCacheSlots(cache, maxT, o.k) : positions;
    this.target = targetModel.newSequence({
      capacity,
      maxTokens,
      maxT,
      logitsRows: MAX_K + 1,
      tokens: this.tokens,
      cache,
    });
    this.draft = draftModel.newSequence({
      capacity,
      maxTokens,
      maxT,
      tokens: this.tokens,
      cache,
    });
    this.maxRounds = o.maxNewTokens + 1;
    this.stop = promptLen + o.maxNewTokens - 1;
    this.log = storageBuffer(gpu, (this.maxRounds + 1) * 4, "round log");
    if (o.replay && isSampling(o.sampling)) {
      throw new NeoxError("acceptance replay works with greedy decoding only (temperature 0)");
    }
    if (o.replay) {
      if (o.replay.length === 0 || o.replay.some((x) => !Number.isInteger(x) || x < 0)) {
        throw new NeoxError(
          "acceptance replay needs a non-empty list of accept counts (integers >= 0)",
        );
      }
      this.#replay = storageBuffer(
        gpu,
        0,
        "replay",
        new Uint32Array([o.replay.length, ...o.replay]),
      );
    }
    if (isSampling(o.sampling)) {
      this.sampling = o.sampling;
      const V = targetModel.cfg.vocabSize;
      const p = storageBuffer(gpu, (MAX_K + 1) * V * 4, "target probabilities");
      const q = storageBuffer(gpu, MAX_K * V * 4, "draft probabilities");
      const scratch = storageBuffer(gpu, 16, "sample scratch");
      this.#probs.push(p, q, scratch);
      // Draft step i keeps q_i and draws proposal i into the slot after its last token.
      for (let i = 0; i < MAX_K; i++) {
        this.#draws.push(sampleDispatch(this.draft, o.sampling, {
          rows: 1,
          srcRow: 0,
          probs: q,
          dstRow: i,
          draw: { stream: STREAM.draft, offset: 0 },
        }, scratch));
      }
    }
  }

  /** Sampling: p rows of the verify logits, then the Leviathan/Chen accept of K drafts. */
  samplingAccept(k: number): Dispatch[] {
    let d = this.#verify.get(k);
    if (!d) {
      const s = this.sampling!;
      const [p, q, scratch] = this.#probs;
      const lib = this.target.model.lib;
      d = [
        sampleDispatch(
          this.target,
          s,
          { rows: k + 1, srcRow: 0, probs: p, dstRow: 0, draw: null },
          scratch,
        ),
        acceptSample(lib, {
          targetState: this.target.state,
          draftState: this.draft.state,
          p,
          q,
          tokens: this.tokens,
          log: this.log,
          V: this.target.model.cfg.vocabSize,
          K: k,
          stop: this.stop,
          seed: s.seed ?? 0,
          rule: RULE_CODE[s.rule ?? "leviathan"],
        }),
      ];
      this.#verify.set(k, d);
    }
    return d;
  }

  acceptDispatch(k: number): Dispatch {
    let d = this.#accept.get(k);
    if (!d) {
      const lib = this.target.model.lib;
      d = acceptGreedy(lib, {
        targetState: this.target.state,
        draftState: this.draft.state,
        logits: this.target.logits,
        tokens: this.tokens,
        log: this.log,
        replay: this.#replay,
        V: this.target.model.cfg.vocabSize,
        K: k,
        stop: this.stop,
      });
      this.#accept.set(k, d);
    }
    return d;
  }

  /**
   * Encodes one round: draft K proposals, verify K+1 positions, accept. `cacheLen`: about the
   * keys the round's passes attend (the attention kernel measured nearest to it runs).
   */
  encodeRound(
    enc: GPUCommandEncoder,
    k: number,
    first: boolean,
    promptLen: number,
    hook?: PassHook,
    cacheLen?: number,
  ): void {
    const argmax = !this.sampling;
    const draw = (i: number) => (this.sampling ? [this.#draws[i]] : []);
    if (first) {
      if (promptLen > 1) encodePrefill(this.target, promptLen - 1, enc, false);
      encodePrefill(this.draft, promptLen, enc, argmax);
      if (this.sampling) {
        const pass = enc.beginComputePass({ label: "sample" });
        encodeDispatches(pass, draw(0));
        pass.end();
      }
    } else {
      const pass = beginPass(enc, hook, "draft");
      encodeDispatches(
        pass,
        this.draft.plan(2, { logits: "last", argmax, advance: true, cacheLen }),
      );
      encodeDispatches(pass, draw(0));
      pass.end();
    }
    for (let i = 1; i < k; i++) {
      const pass = beginPass(enc, hook, "draft");
      encodeDispatches(
        pass,
        this.draft.plan(1, { logits: "last", argmax, advance: true, cacheLen }),
      );
      encodeDispatches(pass, draw(i));
      pass.end();
    }
    const pass = beginPass(enc, hook, "verify");
    encodeDispatches(
      pass,
      this.target.plan(k + 1, { logits: "all", argmax: false, advance: false, cacheLen }),
    );
    encodeDispatches(pass, this.sampling ? this.samplingAccept(k) : [this.acceptDispatch(k)]);
    pass.end();
  }

  /** Bytes of every GPU buffer of the run. */
  get bytes(): number {
    return [this.tokens, this.log, ...this.#probs].reduce(
      (sum, b) => sum + b.size,
      this.target.bytes + this.draft.bytes,
    );
  }

  destroy(): void {
    this.target.destroy();
    this.draft.destroy();
    this.tokens.destroy();
    this.log.destroy();
    for (const b of this.#probs) b.destroy();
    this.#replay?.destroy();
  }
}

/**
 * Speculative decoding. Greedy (the default): output token-identical to the target's greedy
 * output. Sampling (`o.sampling.temperature > 0`): output distributed as the target's.
 */
export async function speculativeGenerate(
  target: NeoxModel,
  draft: NeoxModel,
  ids: number[],
  o: SpeculativeOptions,
): Promise<SpeculativeResult> {
  checkPair(target, draft);
  const auto = o.kAuto;
  const kMax = auto?.kMax ?? MAX_K;
  if (!Number.isInteger(kMax) || kMax < 1 || kMax > MAX_K) {
    throw new NeoxError(`largest K must be an integer from 1 to ${MAX_K}, got ${kMax}`);
  }
  if (!Number.isInteger(o.k) || o.k < 1 || o.k > kMax) {
    throw new NeoxError(`--k must be an integer from 1 to ${kMax}, got ${o.k}`);
  }
  if (o.sampling) checkSampling(o.sampling);
  const c = auto?.c ?? draft.params / target.params;
  const gpu = target.gpu;
  // Buffers are sized for the largest K any round may use.
  const overshoot = (await readbackCost(gpu)) >= OVERSHOOT_MIN_WAIT_MS;
  const run = new SpeculativeRun(target, draft, ids.length, { ...o, k: auto ? kMax : o.k });
  const waits0 = gpu.waits.count;
  try {
    run.target.writeTokens(ids);
    run.target.setState(0, 0);
    run.draft.setState(0, 0);
    gpu.device.queue.writeBuffer(run.log, 0, new Uint32Array([0]));
    const t0 = performance.now();
    let enc = gpu.device.createCommandEncoder();
    let k = o.k;
    const kPerRound = [k];
    run.encodeRound(enc, k, true, ids.length, o.hook);
    gpu.device.queue.submit([enc.finish()]);
    // Every read takes the round log and the new tokens in one wait: the last one is the output.
    const read = async (rounds: number) => {
      const [log, out] = await readBuffers(gpu, [
        { src: run.log, offset: 0, bytes: (rounds + 1) * 4 },
        { src: run.tokens, offset: ids.length * 4, bytes: o.maxNewTokens * 4 },
      ]);
      return { log: new Uint32Array(log), out: new Uint32Array(out) };
    };
    let { log: accepted, out } = await read(1);
    const t1 = performance.now();
    let produced = accepted[1] + 1;
    // Rounds logged (committed) and encoded; they differ only once the goal is passed.
    let logged = 1;
    let encoded = 1;
    while (produced < o.maxNewTokens) {
      if (auto) k = nextK(auto, Array.from(accepted.subarray(1, 1 + logged)), kPerRound, c);
      let batch = nextBatch(o.maxNewTokens, produced, logged, k, overshoot);
      if (auto) batch = Math.min(batch, roundsPerDecision(auto));
      batch = Math.max(1, Math.min(batch, run.maxRounds - encoded));
      enc = gpu.device.createCommandEncoder();
      const batchAt = { promptLen: ids.length, produced, rounds: logged, most: k + 1 };
      for (let i = 0; i < batch; i++) {
        const cacheLen = roundKeys(o.cache ?? FULL_CACHE, batchAt, i, k);
        run.encodeRound(enc, k, false, ids.length, o.hook, cacheLen);
        kPerRound.push(k);
      }
      gpu.device.queue.submit([enc.finish()]);
      encoded += batch;
      ({ log: accepted, out } = await read(encoded));
      logged = accepted[0];
      produced = 0;
      for (let r = 0; r < logged; r++) produced += accepted[1 + r] + 1;
    }
    const t2 = performance.now();
    const rounds = Array.from(accepted.subarray(1, 1 + logged));
    return {
      tokens: Array.from(out),
      rounds,
      // Rounds past the goal (committed nothing) are not reported.
      kPerRound: kPerRound.slice(0, logged),
      ...(await roundsStats(gpu, run, { ...o, ids, rounds, t0, t1, t2, waits0 })),
    };
  } finally {
    run.destroy();
  }
}

/** The pair of sequences a speculative loop (chain or tree) runs, and their buffers' bytes. */
export interface RunSequences {
  readonly target: Sequence;
  readonly draft: Sequence;
  readonly bytes: number;
}

/**
 * What every speculative loop (chain or tree) reports once its rounds are read back: times,
 * waits, memory, cache compressions and, with `readState`, the final [cacheLen, tokenPos] of
 * both models. `rounds` are the accepted drafts per round; `t0..t2` the start, the first
 * token and the end (ms); `waits0` the wait count before the run.
 */
export async function roundsStats(
  gpu: Gpu,
  run: RunSequences,
  o: {
    ids: number[];
    rounds: number[];
    cache?: CachePolicy;
    readState?: boolean;
    t0: number;
    t1: number;
    t2: number;
    waits0: number;
  },
) {
  const words = async (seq: Sequence): Promise<[number, number]> => {
    const [len, pos] = new Uint32Array(await readBuffer(gpu, seq.state, 0, 8));
    return [len, pos];
  };
  const state = o.readState
    ? { target: await words(run.target), draft: await words(run.draft) }
    : undefined;
  // The target caches every committed token but the last.
  const appended = o.ids.length + o.rounds.reduce((sum, a) => sum + a + 1, 0) - 1;
  return {
    ...(state ? { state } : {}),
    ttftMs: o.t1 - o.t0,
    decodeMs: o.t2 - o.t1,
    gpuWaits: gpu.waits.count - o.waits0,
    kvBytes: run.target.kvBytes + run.draft.kvBytes,
    peakBytes: run.target.model.weightBytes + run.draft.model.weightBytes + run.bytes,
    compressionEvents: compressionEvents(o.cache ?? FULL_CACHE, appended),
  };
}
