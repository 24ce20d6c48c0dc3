/**
 * Speculative decoding, GPU-resident. One round: the draft proposes K tokens (its own KV
 * cache; argmax or sampling writes each proposal into the shared token buffer), the target
 * scores all K in ONE verify pass over K+1 positions, an accept kernel keeps the longest
 * agreeing prefix (greedy) or applies the Leviathan/Chen rule (sampling), writes the
 * correction or bonus token, and rolls both caches back by moving their lengths.
 * Rounds are encoded back to back without CPU waits; accept counts are read in batches.
 *
 * First round, as transformers' assisted generation: the draft drafts from the prompt and
 * the target's prefill is the first verify pass (prefill of n-1 tokens + verify of K+1).
 */
import { gpuIdle, readBuffer, storageBuffer } from "./device.ts";
import { NeoxError } from "./errors.ts";
import { encodePrefill, PREFILL_CHUNK } from "./generate.ts";
import { beginPass, type PassHook } from "./hooks.ts";
import type { NeoxModel, Sequence } from "./model.ts";
import { type Dispatch, encodeDispatches } from "../kernels/kernel.ts";

/** Options of a speculative generation. */
export interface SpeculativeOptions {
  /** Draft length K (1..16). */
  k: number;
  maxNewTokens: number;
  /** Observer of passes (GPU timing). */
  hook?: PassHook;
}

/** Result of a speculative generation. */
export interface SpeculativeResult {
  tokens: number[];
  /** Accepted draft tokens per round, for the rounds needed to reach maxNewTokens. */
  rounds: number[];
  /** Draft length of each round. */
  kPerRound: number[];
  ttftMs: number;
  decodeMs: number;
  gpuWaits: number;
  kvBytes: number;
}

/** Largest draft length. */
export const MAX_K = 16;

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
  #accept = new Map<number, Dispatch>();

  constructor(
    targetModel: NeoxModel,
    draftModel: NeoxModel,
    promptLen: number,
    o: SpeculativeOptions,
  ) {
    const gpu = targetModel.gpu;
    const capacity = promptLen + o.maxNewTokens + o.k + 2;
    if (capacity > 4096) {
      throw new NeoxError(
        `prompt (${promptLen} tokens) + ${o.maxNewTokens} new tokens + K exceed the full cache limit of 4096 positions (use --cache sink)`,
      );
    }
    this.tokens = storageBuffer(gpu, (capacity + 1) * 4, "shared tokens");
    const maxT = Math.max(Math.min(PREFILL_CHUNK, promptLen), o.k + 1);
    this.target = targetModel.newSequence({
      capacity,
      maxTokens: capacity + 1,
      maxT,
      logitsRows: MAX_K + 1,
      tokens: this.tokens,
    });
    this.draft = draftModel.newSequence({
      capacity,
      maxTokens: capacity + 1,
      maxT,
      tokens: this.tokens,
    });
    this.maxRounds = o.maxNewTokens + 1;
    this.log = storageBuffer(gpu, (this.maxRounds + 1) * 4, "round log");
  }

  acceptDispatch(k: number): Dispatch {
    let d = this.#accept.get(k);
    if (!d) {
      const lib = this.target.model.lib;
      d = lib.dispatch("accept", lib.pipeline("accept_greedy"), [
        lib.uniform([this.target.model.cfg.vocabSize, k, 0, 0]),
        this.target.state,
        this.draft.state,
        this.target.logits,
        this.tokens,
        this.log,
      ], [1]);
      this.#accept.set(k, d);
    }
    return d;
  }

  /** Encodes one round: draft K proposals, verify K+1 positions, accept. */
  encodeRound(
    enc: GPUCommandEncoder,
    k: number,
    first: boolean,
    promptLen: number,
    hook?: PassHook,
  ): void {
    if (first) {
      if (promptLen > 1) encodePrefill(this.target, promptLen - 1, enc, false);
      encodePrefill(this.draft, promptLen, enc, true);
    } else {
      const pass = beginPass(enc, hook, "draft");
      encodeDispatches(pass, this.draft.plan(2, { logits: "last", argmax: true, advance: true }));
      pass.end();
    }
    for (let i = 1; i < k; i++) {
      const pass = beginPass(enc, hook, "draft");
      encodeDispatches(pass, this.draft.plan(1, { logits: "last", argmax: true, advance: true }));
      pass.end();
    }
    const pass = beginPass(enc, hook, "verify");
    encodeDispatches(
      pass,
      this.target.plan(k + 1, { logits: "all", argmax: false, advance: false }),
    );
    encodeDispatches(pass, [this.acceptDispatch(k)]);
    pass.end();
  }

  destroy(): void {
    this.target.destroy();
    this.draft.destroy();
    this.tokens.destroy();
    this.log.destroy();
  }
}

/** Greedy speculative decoding: output token-identical to the target's greedy output. */
export async function speculativeGenerate(
  target: NeoxModel,
  draft: NeoxModel,
  ids: number[],
  o: SpeculativeOptions,
): Promise<SpeculativeResult> {
  checkPair(target, draft);
  if (!Number.isInteger(o.k) || o.k < 1 || o.k > MAX_K) {
    throw new NeoxError(`--k must be an integer from 1 to ${MAX_K}, got ${o.k}`);
  }
  const gpu = target.gpu;
  const run = new SpeculativeRun(target, draft, ids.length, o);
  const waits0 = gpu.waits.count;
  try {
    run.target.writeTokens(ids);
    run.target.setState(0, 0);
    run.draft.setState(0, 0);
    gpu.device.queue.writeBuffer(run.log, 0, new Uint32Array([0]));
    const t0 = performance.now();
    let enc = gpu.device.createCommandEncoder();
    run.encodeRound(enc, o.k, true, ids.length, o.hook);
    gpu.device.queue.submit([enc.finish()]);
    await gpuIdle(gpu);
    const t1 = performance.now();
    let accepted = new Uint32Array(await readBuffer(gpu, run.log, 0, 8));
    let produced = accepted[1] + 1;
    let roundsDone = 1;
    while (produced < o.maxNewTokens) {
      // Each round yields at most K+1 tokens, so this many rounds cannot pass the goal.
      const batch = Math.ceil((o.maxNewTokens - produced) / (o.k + 1));
      enc = gpu.device.createCommandEncoder();
      for (let i = 0; i < batch; i++) run.encodeRound(enc, o.k, false, ids.length, o.hook);
      gpu.device.queue.submit([enc.finish()]);
      roundsDone += batch;
      accepted = new Uint32Array(await readBuffer(gpu, run.log, 0, (roundsDone + 1) * 4));
      produced = 0;
      for (let r = 0; r < roundsDone; r++) produced += accepted[1 + r] + 1;
    }
    const out = new Uint32Array(
      await readBuffer(gpu, run.tokens, ids.length * 4, o.maxNewTokens * 4),
    );
    const t2 = performance.now();
    const rounds = Array.from(accepted.subarray(1, 1 + roundsDone));
    return {
      tokens: Array.from(out),
      rounds,
      kPerRound: rounds.map(() => o.k),
      ttftMs: t1 - t0,
      decodeMs: t2 - t1,
      gpuWaits: gpu.waits.count - waits0,
      kvBytes: run.target.kvBytes + run.draft.kvBytes,
    };
  } finally {
    run.destroy();
  }
}
