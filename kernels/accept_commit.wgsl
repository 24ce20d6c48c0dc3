// The end of a speculative round, shared by the greedy and the sampling accept kernels:
// a drafts were accepted after the last committed token tokens[base] (the correction or
// bonus token is already written at base+1+a). Rolls both caches back by moving their
// lengths (state = [cacheLen, tokenPos, ...]) and appends a to the round log
// [rounds, a_0, a_1, ...]. Needs at module scope: p.K, targetState, draftState, log.
fn commitRound(base: u32, a: u32) {
  // The verify pass appended K+1 entries without advancing: keep the a+1 that are committed.
  targetState[0] = targetState[0] + a + 1u;
  targetState[1] = base + a + 1u;
  // The draft has cached tokens up to base+K-1; keep those up to base+a-1. Its next first
  // step reads 2 tokens: the last accepted one (recomputed if it was cached) and the new one.
  draftState[0] = draftState[0] - (p.K - a);
  draftState[1] = base + a;
  let r = log[0];
  log[1u + r] = a;
  log[0] = r + 1u;
}
