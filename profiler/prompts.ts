/**
 * The built-in prompt set of `deno task profile`, written for the embedded models (trained
 * on the Python 3.11 documentation and standard library): "medium" prompts of about 20
 * tokens and "long" prompts of about 66 tokens.
 */

/** One built-in prompt. */
export interface BuiltinPrompt {
  name: string;
  kind: "medium" | "long";
  text: string;
}

/** Prompts per kind, in sweep order. */
export const BUILTIN_PROMPTS: BuiltinPrompt[] = [
  {
    name: "medium-json",
    kind: "medium",
    text: "The :mod:`json` module provides an API familiar to users of the standard library",
  },
  {
    name: "medium-def",
    kind: "medium",
    text: 'def read_config(path, encoding=\'utf-8\'):\n    """Return the parsed configuration',
  },
  {
    name: "long-pathlib",
    kind: "long",
    text: "This module offers classes representing filesystem paths with semantics appropriate " +
      "for different operating systems. Path classes are divided between pure paths, which " +
      "provide purely computational operations without I/O, and concrete paths, which inherit " +
      "from pure paths but also provide I/O operations. If you have never used this module " +
      "before,",
  },
  {
    name: "long-class",
    kind: "long",
    text: 'class LRUCache:\n    """A mapping that keeps at most *maxsize* entries.\n\n' +
      "    When the cache is full, the least recently used entry is discarded.\n" +
      '    """\n\n    def __init__(self, maxsize=128):\n        self.maxsize = maxsize\n' +
      "        self.data = {}\n\n    def get(self, key):\n",
  },
];

/** One prompt of a sweep, tokenized. */
export interface PromptCase {
  name: string;
  kind: string;
  text: string;
  ids: number[];
}

/**
 * The prompts a sweep (and its prediction) runs: a custom prompt, or the built-in prompts of
 * the given kinds, tokenized (without a tokenizer, ids 1..20 for medium and 1..66 for long).
 */
export function promptCases(
  codec: { encode(text: string): number[] } | null,
  promptTypes: string[],
  prompt?: string,
): PromptCase[] {
  if (prompt !== undefined) {
    if (!codec) throw new Error("a custom prompt needs a tokenizer");
    return [{ name: "custom", kind: "custom", text: prompt, ids: codec.encode(prompt) }];
  }
  return BUILTIN_PROMPTS.filter((p) => promptTypes.includes(p.kind)).map((p) => ({
    ...p,
    ids: codec
      ? codec.encode(p.text)
      : Array.from({ length: p.kind === "long" ? 66 : 20 }, (_, i) => 1 + i),
  }));
}

/**
 * The id of a sweep configuration: `spec-k3-n48-full-fp16-medium`, `base-n48-sink128-...`,
 * `tree-4x2x1-n48-...` (a tree's name from engine/tree_speculative.ts treeName).
 */
export function configId(
  o: {
    k: number | null;
    treeName?: string;
    maxNewTokens: number;
    cacheSize: number | null;
    quant: string;
    promptType: string;
  },
): string {
  const cache = o.cacheSize === null ? "full" : `sink${o.cacheSize}`;
  const base = `n${o.maxNewTokens}-${cache}-${o.quant}-${o.promptType}`;
  if (o.treeName !== undefined) return `tree-${o.treeName}-${base}`;
  return o.k === null ? `base-${base}` : `spec-k${o.k}-${base}`;
}
