import assert from "node:assert/strict";
import { TraceRecorder, writeTrace } from "../profiler/trace.ts";

interface Event {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

function sample(): TraceRecorder {
  const r = new TraceRecorder();
  r.span("gpu-verify", "verify k=4", 12.5, 3.25, { k: 4 });
  r.span("cpu-encode", "encode draft", 1, 0.5);
  r.span("gpu-draft", "draft", 2, 1.5);
  r.span("kernel:matmul", "qkv", 2.1, 0.2);
  r.span("gpu-target", "target", 20, 8);
  return r;
}

Deno.test("trace: Chrome trace event format", () => {
  const json = JSON.parse(JSON.stringify(sample())) as {
    traceEvents: Event[];
    displayTimeUnit: string;
  };
  assert.equal(json.displayTimeUnit, "ms");
  const spans = json.traceEvents.filter((e) => e.ph === "X");
  const meta = json.traceEvents.filter((e) => e.ph === "M");
  assert.equal(spans.length, 5);
  for (const e of json.traceEvents) {
    assert.equal(e.pid, 1);
    assert.equal(typeof e.ts, "number");
    assert.equal(typeof e.tid, "number");
  }
  // Sorted by ts, in microseconds.
  assert.deepEqual(spans.map((e) => e.ts), [1000, 2000, 2100, 12500, 20000]);
  const verify = spans.find((e) => e.name === "verify k=4")!;
  assert.equal(verify.dur, 3250);
  assert.deepEqual(verify.args, { k: 4 });
  // One named thread per track.
  const names = new Map(
    meta.filter((e) => e.name === "thread_name").map((e) => [e.tid, e.args!.name]),
  );
  assert.equal(names.size, 5);
  for (const e of spans) assert.ok(names.has(e.tid), `tid ${e.tid} unnamed`);
  assert.equal(names.get(verify.tid), "gpu-verify");
  assert.equal(names.get(spans.find((e) => e.name === "qkv")!.tid), "kernel:matmul");
  assert.ok(meta.some((e) => e.name === "process_name"));
});

Deno.test("trace: rejects negative durations", () => {
  assert.throws(() => new TraceRecorder().span("gpu-draft", "x", 0, -1), RangeError);
});

Deno.test("writeTrace writes valid JSON atomically", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/trace.json`;
    await writeTrace(path, sample());
    const json = JSON.parse(await Deno.readTextFile(path));
    assert.equal(json.traceEvents.filter((e: Event) => e.ph === "X").length, 5);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["trace.json"], "only the trace, no temporary file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
