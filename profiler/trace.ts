/**
 * Chrome trace event JSON (the format chrome://tracing and ui.perfetto.dev open): complete
 * ("X") events with ts/dur in microseconds, one thread id per track, and "M" metadata
 * events naming each track.
 */

/** Tracks the profiler records; any other name gets a track of its own. */
export type TrackName = "cpu-encode" | "gpu-draft" | "gpu-verify" | "gpu-target";

/** One event of the Chrome trace event format. */
export interface TraceEvent {
  /** Span or metadata name. */
  name: string;
  /** "X" = complete event, "M" = metadata. */
  ph: "X" | "M";
  /** Start, microseconds. */
  ts: number;
  /** Duration, microseconds ("X" events only). */
  dur?: number;
  /** Process id (always 1). */
  pid: number;
  /** Thread id: one per track. */
  tid: number;
  /** Category: the track name of a span. */
  cat?: string;
  /** Extra values shown with the event. */
  args?: Record<string, unknown>;
}

/** The JSON object a trace file holds. */
export interface TraceFile {
  /** Metadata events, then spans sorted by ts. */
  traceEvents: TraceEvent[];
  /** Unit the viewer shows times in. */
  displayTimeUnit: "ms";
}

const PID = 1;
/** Known tracks first, in this order; others follow in first-use order. */
const TRACK_ORDER: readonly string[] = ["cpu-encode", "gpu-draft", "gpu-verify", "gpu-target"];

/** Collects named spans on tracks and renders them as a Chrome trace. */
export class TraceRecorder {
  #spans: TraceEvent[] = [];
  #tids = new Map<string, number>();

  #tid(track: string): number {
    let tid = this.#tids.get(track);
    if (tid === undefined) {
      const known = TRACK_ORDER.indexOf(track);
      tid = known >= 0 ? known + 1 : TRACK_ORDER.length + 1 + this.#customTracks();
      this.#tids.set(track, tid);
    }
    return tid;
  }

  #customTracks(): number {
    let n = 0;
    for (const name of this.#tids.keys()) if (!TRACK_ORDER.includes(name)) n++;
    return n;
  }

  /**
   * Records one span.
   *
   * @param track "cpu-encode", "gpu-draft", "gpu-verify", "gpu-target" or any other name.
   * @param startMs start time, ms (any common origin, e.g. performance.now()).
   * @param durMs duration, ms (>= 0).
   * @param args extra values shown with the span (JSON-serializable).
   */
  span(
    track: TrackName | (string & Record<never, never>),
    name: string,
    startMs: number,
    durMs: number,
    args?: Record<string, unknown>,
  ): void {
    if (!Number.isFinite(startMs)) throw new RangeError(`span ${name}: start ${startMs} ms`);
    if (!(durMs >= 0) || !Number.isFinite(durMs)) {
      throw new RangeError(`span ${name}: duration ${durMs} ms must be finite and >= 0`);
    }
    const event: TraceEvent = {
      name,
      cat: track,
      ph: "X",
      ts: startMs * 1000,
      dur: durMs * 1000,
      pid: PID,
      tid: this.#tid(track),
    };
    if (args !== undefined) event.args = args;
    this.#spans.push(event);
  }

  /** Number of spans recorded. */
  get spanCount(): number {
    return this.#spans.length;
  }

  /**
   * The trace: metadata events (process name, one thread_name and thread_sort_index per
   * track) followed by the spans sorted by ts (longer first on ties, so parents enclose
   * children).
   */
  toJSON(): TraceFile {
    const meta: TraceEvent[] = [
      { name: "process_name", ph: "M", ts: 0, pid: PID, tid: 0, args: { name: "neox-spec" } },
    ];
    const tracks = [...this.#tids.entries()].sort((x, y) => x[1] - y[1]);
    for (const [track, tid] of tracks) {
      meta.push({ name: "thread_name", ph: "M", ts: 0, pid: PID, tid, args: { name: track } });
      meta.push({
        name: "thread_sort_index",
        ph: "M",
        ts: 0,
        pid: PID,
        tid,
        args: { sort_index: tid },
      });
    }
    const spans = [...this.#spans].sort((x, y) => x.ts - y.ts || (y.dur ?? 0) - (x.dur ?? 0));
    return { traceEvents: [...meta, ...spans], displayTimeUnit: "ms" };
  }
}

/**
 * Writes the recorder's trace as JSON to `path` atomically: writes `${path}.tmp`, then
 * renames it over `path` (the temporary file is removed if the write fails).
 */
export async function writeTrace(path: string, recorder: TraceRecorder): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(recorder));
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}
