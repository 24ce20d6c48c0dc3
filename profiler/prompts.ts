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
