/** Output files are written to `<path>.tmp` and renamed, so a failed run leaves no partial file. */
import { NeoxError } from "./errors.ts";

/** Writes `data` to `path` atomically (temporary file + rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new NeoxError(`${path}: cannot write (${(e as Error).message.split("\n")[0]})`);
  }
}
