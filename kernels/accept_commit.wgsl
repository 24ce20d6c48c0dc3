// The end of a speculative round, shared by the greedy and the sampling accept kernels:
// a drafts were accepted after the last committed token tokens[base] (the correction or
// bonus token is already written at base+1+a). Rolls both caches back by moving their
// lengths (state = [cacheLen, tokenPos, ...]) and appends a to the round log
// [rounds, a_0, a_1, ...]. A round that started at or past p.stop (the loop's goal: rounds
// encoded past it) commits nothing: the draft's K+1 steps are undone, the target (which did
// not advance) is left, nothing is logged; the tokens it wrote lie past the goal.
// Needs at module scope: p.K, p.stop, targetState, draftState, log.
fn commitRound(base: u32, a: u32) {
  if (base >= p.stop) {
    draftState[0] = draftState[0] - (p.K + 1u);
    draftState[1] = draftState[1] - (p.K + 1u);
    return;
  }
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
