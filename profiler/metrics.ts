/**
 * Speculative-decoding and latency metrics, in the definitions of DESIGN.md:
 *
 * - draft acceptance rate = accepted draft tokens / proposed draft tokens (never above 1);
 * - mean tokens per round (tau) = emitted tokens / rounds (bonus included; at most K + 1);
 * - per-position acceptance = P(draft token i accepted | position i reached);
 * - TPOT = decode time / (new tokens - first tokens), where first tokens are the tokens out
 *   by the end of TTFT: 1 for plain decoding (the prefill's token), min(N, a0 + 1) for
 *   speculative decoding (the first round, whose verify is the prefill, emits a0 + 1);
 * - throughput = new tokens / (TTFT + decode time).
 */

/** Acceptance statistics of one speculative generation. */
export interface SpeculativeMetrics {
  /** Number of draft-then-verify rounds. */
  rounds: number;
  /** Draft tokens the draft model proposed, summed over rounds (sum of K). */
  proposedDraftTokens: number;
  /** Draft tokens the target accepted, summed over rounds. */
  acceptedDraftTokens: number;
  /** acceptedDraftTokens / proposedDraftTokens, in [0, 1]; 0 when nothing was proposed. */
  draftAcceptanceRate: number;
  /** tau = emitted tokens / rounds (bonus or correction token included); 0 with no rounds. */
  meanTokensPerRound: number;
  /**
   * Entry i (0-based, length max K) = P(draft token i accepted | position i reached).
   * Position i is reached in a round iff i < K of that round and accepted >= i (position 0
   * is always reached); it is accepted iff accepted >= i + 1. An entry is 0 when no round
   * reached that position.
   */
  perPositionAcceptance: number[];
}

function checkCount(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
  }
}

/**
 * Acceptance metrics of one speculative generation.
 *
 * @param accepted accepted[i] = draft tokens accepted in round i (0..K).
 * @param k the draft length K of every round, or one K per round when K varies (`--k auto`).
 * @param emittedTokens total new tokens after truncation to N (at most sum(accepted + 1)).
 * @throws RangeError when a round accepts more than its K (a draft acceptance rate above 1 is
 *   impossible), when a per-round K list does not match the rounds, or when more tokens are
 *   emitted than the rounds produced.
 */
export function speculativeMetrics(
  accepted: readonly number[],
  k: number | readonly number[],
  emittedTokens: number,
): SpeculativeMetrics {
  const rounds = accepted.length;
  let kPerRound: readonly number[];
  if (typeof k === "number") {
    checkCount(k, "K");
    kPerRound = new Array<number>(rounds).fill(k);
  } else {
    if (k.length !== rounds) {
      throw new RangeError(`per-round K has ${k.length} entries but there are ${rounds} rounds`);
    }
    kPerRound = k;
  }
  checkCount(emittedTokens, "emitted tokens");

  let kMax = typeof k === "number" ? k : 0;
  let proposedDraftTokens = 0;
  let acceptedDraftTokens = 0;
  for (let r = 0; r < rounds; r++) {
    const kr = kPerRound[r];
    const ar = accepted[r];
    checkCount(kr, `K of round ${r}`);
    checkCount(ar, `accepted draft tokens of round ${r}`);
    if (ar > kr) {
      throw new RangeError(
        `round ${r} accepted ${ar} draft tokens but only ${kr} were proposed ` +
          "(a draft acceptance rate above 1 is impossible)",
      );
    }
    kMax = Math.max(kMax, kr);
    proposedDraftTokens += kr;
    acceptedDraftTokens += ar;
  }
  const producedTokens = acceptedDraftTokens + rounds;
  if (emittedTokens > producedTokens) {
    throw new RangeError(
      `${emittedTokens} emitted tokens but ${rounds} rounds produce at most ${producedTokens}`,
    );
  }

  const reached = new Array<number>(kMax).fill(0);
  const acceptedAt = new Array<number>(kMax).fill(0);
  for (let r = 0; r < rounds; r++) {
    const last = Math.min(kPerRound[r] - 1, accepted[r]);
    for (let i = 0; i <= last; i++) {
      reached[i]++;
      if (accepted[r] >= i + 1) acceptedAt[i]++;
    }
  }

  return {
    rounds,
    proposedDraftTokens,
    acceptedDraftTokens,
    draftAcceptanceRate: proposedDraftTokens > 0 ? acceptedDraftTokens / proposedDraftTokens : 0,
    meanTokensPerRound: rounds > 0 ? emittedTokens / rounds : 0,
    perPositionAcceptance: reached.map((n, i) => (n > 0 ? acceptedAt[i] / n : 0)),
  };
}

/** Latency and throughput of one generation. */
export interface TimingMetrics {
  /** Time to first token (prefill pass up to the first new token), ms. */
  ttftMs: number;
  /**
   * Time per output token after the first round: decodeMs / (newTokens - firstTokens); 0 when
   * every token came out by the end of TTFT.
   */
  tpotMs: number;
  /** newTokens / (ttft + decode), tokens per second; 0 when no time elapsed. */
  throughputTokS: number;
}

/**
 * TTFT, TPOT and throughput of one generation.
 *
 * @param timing.ttftMs time to the first new token, ms.
 * @param timing.decodeMs time from the first new token to the last one, ms.
 * @param timing.newTokens new tokens generated.
 * @param timing.firstTokens tokens emitted by the end of TTFT: 1 for plain decoding,
 *   min(N, rounds[0] + 1) for speculative decoding (see {@link firstRoundTokens}). When it is
 *   newTokens there are no decode steps and tpotMs is 0.
 */
export function timingMetrics(
  timing: { ttftMs: number; decodeMs: number; newTokens: number; firstTokens: number },
): TimingMetrics {
  const { ttftMs, decodeMs, newTokens, firstTokens } = timing;
  if (!(ttftMs >= 0) || !Number.isFinite(ttftMs)) {
    throw new RangeError(`ttftMs must be finite and >= 0, got ${ttftMs}`);
  }
  if (!(decodeMs >= 0) || !Number.isFinite(decodeMs)) {
    throw new RangeError(`decodeMs must be finite and >= 0, got ${decodeMs}`);
  }
  checkCount(newTokens, "new tokens");
  checkCount(firstTokens, "first tokens");
  if (firstTokens > newTokens || (newTokens > 0 && firstTokens < 1)) {
    throw new RangeError(`first tokens must be in 1..${newTokens}, got ${firstTokens}`);
  }
  const totalMs = ttftMs + decodeMs;
  return {
    ttftMs,
    tpotMs: newTokens > firstTokens ? decodeMs / (newTokens - firstTokens) : 0,
    throughputTokS: totalMs > 0 ? newTokens / (totalMs / 1000) : 0,
  };
}

/**
 * Tokens emitted by the end of TTFT: 1 for plain decoding (no rounds), else the first round's
 * accepted drafts plus its correction or bonus token, at most N.
 */
export function firstRoundTokens(rounds: readonly number[] | undefined, newTokens: number): number {
  if (!rounds || rounds.length === 0) return Math.min(1, newTokens);
  return Math.min(newTokens, rounds[0] + 1);
}
