/** tokenizer.json through @huggingface/tokenizers; ids can always be given directly instead. */
import { Tokenizer } from "@huggingface/tokenizers";
import { NeoxError } from "./errors.ts";

/** Encoder/decoder of one model folder. */
export interface TextCodec {
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** Size of the tokenizer's vocabulary (may be below config vocab_size). */
  vocabSize: number;
  /** Fingerprint of the vocabulary, to compare a draft's tokenizer with the target's. */
  fingerprint: string;
}

/** Loads `dir/tokenizer.json`, or returns null when the folder has none. */
export async function loadTokenizer(dir: string): Promise<TextCodec | null> {
  if (dir.startsWith("synthetic:")) return null;
  const path = `${dir.replace(/\/$/, "")}/tokenizer.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return null;
  }
  let json: { model?: { vocab?: Record<string, number> }; added_tokens?: unknown[] };
  let config: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new NeoxError(`${path}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir.replace(/\/$/, "")}/tokenizer_config.json`));
  } catch {
    // tokenizer_config.json is optional
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as never, config as never);
  } catch (e) {
    const why = String((e as Error)?.message ?? e).split("\n")[0];
    throw new NeoxError(`${path}: cannot build the tokenizer (${why})`);
  }
  const vocab = json.model?.vocab ?? {};
  const entries = Object.entries(vocab).sort((a, b) => a[1] - b[1]);
  let h = 2166136261;
  for (const [k, v] of entries) {
    for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 16777619);
    h = Math.imul(h ^ v, 16777619);
  }
  const added = Array.isArray(json.added_tokens) ? json.added_tokens.length : 0;
  return {
    encode: (s) => Array.from(tok.encode(s).ids as ArrayLike<number>),
    decode: (ids) => tok.decode(ids),
    vocabSize: entries.length + added,
    fingerprint: `${entries.length}:${(h >>> 0).toString(16)}`,
  };
}
