/**
 * Expected tokens per verify of a static token tree from positional acceptance (Sequoia):
 * p[d][r] = P(the target's token at depth d + 1 is the draft's rank-r candidate), measured
 * teacher-forced. A node at depth d with sibling rank r is accepted iff its parent is and
 * the target's token there has rank r, so E[tokens/round] = 1 + sum over nodes of the
 * product of p along the node's path (ranks independent across depths).
 */
import type { TokenTree } from "../engine/tree_speculative.ts";

/** E[tokens per verify] of a static tree; p[d][r] for depth d (0-based) and rank r. */
export function expectedTreeTokens(tree: TokenTree, p: number[][]): number {
  // reach[u]: P(node u accepted); children of a node get ranks 0 .. W-1 in order.
  const reach = [1];
  let total = 1;
  for (let d = 0; d < tree.widths.length; d++) {
    const { start, count } = tree.levels[d + 1];
    for (let i = 0; i < count; i++) {
      const u = start + i;
      const r = i % tree.widths[d];
      reach[u] = reach[tree.parent[u]] * (p[d]?.[r] ?? 0);
      total += reach[u];
    }
  }
  return total;
}

/**
 * Greedy rounds of a static tree replayed from the rank of the target's greedy token in the
 * draft's distribution at each position (teacher-forced; -1 beyond the recorded top-k):
 * a round starting at position i accepts depth a, the longest run with rank < widths[j]
 * at position i + j. The draft sees the same prefix in the tree as teacher-forced, so this
 * is the tree's exact accept sequence up to float near-ties.
 */
export function treeRoundsFromRanks(widths: number[], ranks: number[], n: number): number[] {
  const rounds: number[] = [];
  let pos = 0;
  let produced = 0;
  while (produced < n) {
    let a = 0;
    while (a < widths.length && pos + a < ranks.length) {
      const r = ranks[pos + a];
      if (r < 0 || r >= widths[a]) break;
      a++;
    }
    rounds.push(a);
    pos += a + 1;
    produced += a + 1;
  }
  return rounds;
}
