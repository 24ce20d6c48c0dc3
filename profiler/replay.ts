/**
 * Acceptance replay for synthetic pairs: accept counts drawn from a per-token acceptance, so
 * the real draft and verify kernels run while how many drafts are kept comes from an alpha.
 * Plain arithmetic (no Deno, no GPU): the sweep and the report's in-browser measurement share it.
 */

/**
 * Accept counts of `rounds` rounds at per-token acceptance `alpha` (each draft token accepted
 * with probability alpha until the first rejection, at most K), from a seeded generator.
 */
export function replayCounts(alpha: number, k: number, rounds = 4096, seed = 1): number[] {
  // xorshift32 from a scrambled seed; the first draws of a small seed are tiny, skip them.
  let x = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) || 1;
  const uniform = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) uniform();
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let a = 0;
    while (a < k && uniform() < alpha) a++;
    out.push(a);
  }
  return out;
}
