// Token-tree layout, shared by the tree kernels (included, not a pipeline of its own).
// tree: [nodes, 4] u32 per node u (node 0 is the root, the last committed token; nodes in
// breadth-first order, so a node's index is at least its depth): [depth, parent, ancestor
// mask bits 0-31, bits 32-63] (the mask holds the node itself), then [nodes] u32: each node's
// rank among its siblings in the draft's order (0 = the draft's top token). A tree pass runs nodes
// [first, first + T); state words (engine/model.ts) then hold cacheLen = P + first and
// tokenPos = base + first, with first in STATE_TREE_FIRST, so the plain embedding and
// kv_append kernels put node u at stream slot P + u and read its token at tokens[base + u].
const STATE_TREE_FIRST = 2u;
const MAX_NODES = 64u;
