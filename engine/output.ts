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

/**
 * Checks, before a long run, that an output file can be created: its folder exists and the
 * path is not a folder itself. `flag` (e.g. "--out") is named in the message.
 *
 * @throws NeoxError naming the flag and the path
 */
export async function checkOutputPath(path: string, flag: string): Promise<void> {
  const cut = path.lastIndexOf("/");
  const dir = cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
  const stat = async (p: string) => await Deno.stat(p).catch(() => null);
  const d = await stat(dir);
  if (!d?.isDirectory) {
    throw new NeoxError(`${flag} ${path}: folder ${dir} does not exist`);
  }
  if ((await stat(path))?.isDirectory) throw new NeoxError(`${flag} ${path}: is a folder`);
}
