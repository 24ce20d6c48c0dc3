/**
 * Locations of the goldens (tests/goldens/, see its README) and the repository's models,
 * resolved from this file so tests run from any working directory, plus the decoder for the
 * goldens' base64 logits.
 */

/** URL of the goldens folder, `tests/goldens/` in the repository. */
export const goldensUrl: URL = new URL("./goldens/", import.meta.url);

/** Filesystem path of the goldens folder, with a trailing slash. */
export const goldensDir: string = decodeURIComponent(goldensUrl.pathname);

/** Filesystem path of the repository root, with a trailing slash. */
export const repoDir: string = decodeURIComponent(new URL("../", import.meta.url).pathname);

/** Filesystem path of the repository's models folder, with a trailing slash. */
export const modelsDir: string = `${repoDir}models/`;

/** Decodes base64 of little-endian float32 values (the goldens' `*_logits_b64` fields). */
export function decodeF32Base64(s: string): Float32Array {
  const bin = atob(s);
  if (bin.length % 4 !== 0) {
    throw new Error(`base64 float32 data has ${bin.length} bytes, not a multiple of 4`);
  }
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const dv = new DataView(bytes.buffer);
  const out = new Float32Array(bin.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

/** Reads and parses a JSON file under the goldens folder, e.g. `"target.json"`. */
export async function readGolden<T = unknown>(rel: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(goldensDir + rel)) as T;
}
