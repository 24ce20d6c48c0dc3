/**
 * Output files are written to a unique temporary file in the same folder, flushed to disk,
 * then renamed over the target, so a failed or interrupted run leaves no partial file.
 */
import { NeoxError } from "./errors.ts";

/** Temporary files of writes in progress, removed if the process is interrupted. */
const pending = new Set<string>();
let interruptHandler: (() => void) | null = null;

function track(tmp: string): void {
  pending.add(tmp);
  if (interruptHandler) return;
  interruptHandler = () => {
    for (const p of pending) {
      try {
        Deno.removeSync(p);
      } catch { /* already gone */ }
    }
    pending.clear();
  };
  // Removal happens in addition to whatever else handles Ctrl-C (e.g. the sweep's save).
  Deno.addSignalListener("SIGINT", interruptHandler);
}

function untrack(tmp: string): void {
  pending.delete(tmp);
  if (pending.size === 0 && interruptHandler) {
    Deno.removeSignalListener("SIGINT", interruptHandler);
    interruptHandler = null;
  }
}

/** Writes `data` to `path` atomically (unique temp file, fsync, rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const cut = path.lastIndexOf("/");
  const dir = cut < 0 ? "." : path.slice(0, cut) || "/";
  const base = path.slice(cut + 1);
  const tmp = `${dir}/.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  track(tmp);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new NeoxError(`${path}: cannot write (${(e as Error).message.split("\n")[0]})`);
  } finally {
    untrack(tmp);
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
