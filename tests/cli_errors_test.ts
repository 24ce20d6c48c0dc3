/**
 * The CLI's one error path, end to end: every case runs `deno run -A mod.ts ...` as a
 * subprocess and must exit with the right code, print exactly one `error: ...` line naming
 * the file or flag at fault (no stack trace unless --debug), and leave no output file.
 *
 * Every case runs with DENO_WEBGPU_BACKEND=none (no adapter at all): a broken checkpoint
 * or a bad input must be refused on the CPU, before the GPU is asked for, so a case that
 * reached the GPU would fail with the no-adapter message instead of its own.
 */

import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;
const draftDir = `${root}models/pydoc-neox-2.5m`;
const targetDir = `${root}models/pydoc-neox-20m`;

/** One row: the arguments, the exit code, and a phrase the error line must contain. */
interface Case {
  name: string;
  args: string[];
  code: 1 | 2;
  phrase: string;
  /** Output files the command was asked to write; none may exist afterwards. */
  outs?: string[];
  /** Runs with --debug: the stack follows the error line. */
  debug?: boolean;
}

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;

/** Splits a safetensors file into its header JSON and data section. */
function splitSafetensors(bytes: Uint8Array): { header: Header; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  return { header, data: bytes.subarray(8 + n) };
}

/** Joins a header (object or raw text) and a data section into a safetensors file. */
function joinSafetensors(header: Header | string, data: Uint8Array): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/**
 * Makes broken copies of the draft checkpoint under `tmp`, one folder per defect. The
 * healthy files are symlinked; only the broken file is written.
 */
async function makeFixtures(tmp: string): Promise<void> {
  const st = await Deno.readFile(`${draftDir}/model.safetensors`);
  const config = JSON.parse(await Deno.readTextFile(`${draftDir}/config.json`));
  const folder = async (
    name: string,
    files: { config?: string; safetensors?: Uint8Array | null; tokenizer?: string | null },
  ) => {
    const dir = `${tmp}/${name}`;
    await Deno.mkdir(dir);
    const put = async (file: string, content: string | Uint8Array | null | undefined) => {
      if (content === null) return;
      if (content === undefined) return await Deno.symlink(`${draftDir}/${file}`, `${dir}/${file}`);
      if (typeof content === "string") await Deno.writeTextFile(`${dir}/${file}`, content);
      else await Deno.writeFile(`${dir}/${file}`, content);
    };
    await put("config.json", files.config);
    await put("model.safetensors", files.safetensors);
    await put("tokenizer.json", files.tokenizer);
  };
  const edit = (change: (h: Header, dataBytes: number) => void) => {
    const { header, data } = splitSafetensors(st);
    change(header, data.length);
    return joinSafetensors(header, data);
  };
  const { header, data } = splitSafetensors(st);
  const hugeHeader = st.slice();
  new DataView(hugeHeader.buffer).setBigUint64(0, 1n << 62n, true);
  const ln = "gpt_neox.layers.0.input_layernorm";

  await folder("truncated", { safetensors: st.subarray(0, st.length >> 1) });
  await folder("huge-header", { safetensors: hugeHeader });
  await folder("header-not-json", {
    safetensors: joinSafetensors("{" + "x".repeat(JSON.stringify(header).length - 1), data),
  });
  await folder("unknown-dtype", {
    safetensors: edit((h) => h[`${ln}.weight`].dtype = "Q4_K"),
  });
  await folder("overlap", {
    safetensors: edit((h) => h[`${ln}.bias`].data_offsets = [...h[`${ln}.weight`].data_offsets]),
  });
  await folder("out-of-range", {
    safetensors: edit((h, n) => {
      const [b, e] = h[`${ln}.bias`].data_offsets;
      h[`${ln}.bias`].data_offsets = [n + 64, n + 64 + e - b];
    }),
  });
  await folder("shape-vs-config", {
    config: JSON.stringify({ ...config, intermediate_size: config.intermediate_size / 2 }),
  });
  const { hidden_size: _, ...noHidden } = config;
  await folder("config-missing-field", { config: JSON.stringify(noHidden) });
  await folder("config-not-json", { config: '{"hidden_size": 128,' });
  await folder("no-safetensors", { safetensors: null });
  await folder("tokenizer-not-json", { tokenizer: "{[" });
  // A model with 16 positions: long prompts need a sink cache.
  await folder("short", { config: JSON.stringify({ ...config, max_position_embeddings: 16 }) });
  // A valid draft with another vocabulary: embeddings cut to their first 4096 rows.
  await folder("vocab-4096", {
    config: JSON.stringify({ ...config, vocab_size: 4096 }),
    safetensors: edit((h) => {
      for (const name of ["gpt_neox.embed_in.weight", "embed_out.weight"]) {
        const [rows, d] = h[name].shape;
        const [b, e] = h[name].data_offsets;
        h[name].shape = [4096, d];
        h[name].data_offsets = [b, b + ((e - b) / rows) * 4096];
      }
    }),
    tokenizer: null,
  });
  await Deno.writeTextFile(`${tmp}/bad.json`, '{"schema": "neox-spec/results@1", "configs": [');
  await Deno.writeTextFile(`${tmp}/wrong-schema.json`, '{"schema": "other-tool/v9", "rows": []}');
}

function cases(tmp: string): Case[] {
  const out = (name: string) => `${tmp}/${name}.out`;
  const logits = (name: string, model: string, extra: string[] = []): Case["args"] => [
    "logits",
    "--model",
    model,
    "--ids",
    "1,2,3",
    "--out",
    out(name),
    ...extra,
  ];
  const generate = (model: string, extra: string[]) => [
    "generate",
    "--model",
    model,
    "--max-new-tokens",
    "4",
    "--json",
    ...extra,
  ];
  const st = (name: string) => `${tmp}/${name}/model.safetensors`;
  const cfg = (name: string) => `${tmp}/${name}/config.json`;
  const longPrompt = "def main(argv):\n    return parse(argv, strict=True) or usage()\n";
  return [
    // Broken checkpoints: refused by the loader, naming the file.
    {
      name: "truncated safetensors",
      args: logits("truncated", `${tmp}/truncated`),
      code: 1,
      phrase: `${st("truncated")}: tensor`,
      outs: [out("truncated")],
    },
    {
      name: "truncated safetensors with --debug",
      args: logits("truncated-debug", `${tmp}/truncated`, ["--debug"]),
      code: 1,
      phrase: st("truncated"),
      outs: [out("truncated-debug")],
      debug: true,
    },
    {
      name: "header length 2^62",
      args: generate(`${tmp}/huge-header`, ["--ids", "1,2"]),
      code: 1,
      phrase: `${st("huge-header")}: header length 4611686018427387904 exceeds`,
    },
    {
      name: "header not JSON",
      args: logits("header-not-json", `${tmp}/header-not-json`),
      code: 1,
      phrase: `${st("header-not-json")}: header is not valid JSON`,
      outs: [out("header-not-json")],
    },
    {
      name: "unknown dtype",
      args: generate(`${tmp}/unknown-dtype`, ["--ids", "1,2"]),
      code: 1,
      phrase: `${
        st("unknown-dtype")
      }: tensor gpt_neox.layers.0.input_layernorm.weight: unknown dtype`,
    },
    {
      name: "overlapping offsets",
      args: logits("overlap", `${tmp}/overlap`),
      code: 1,
      phrase: `${st("overlap")}: tensors`,
      outs: [out("overlap")],
    },
    {
      name: "out-of-range offsets",
      args: generate(`${tmp}/out-of-range`, ["--ids", "1,2"]),
      code: 1,
      phrase: `${st("out-of-range")}: tensor gpt_neox.layers.0.input_layernorm.bias: data_offsets`,
    },
    {
      name: "tensor shape disagrees with config.json",
      args: logits("shape-vs-config", `${tmp}/shape-vs-config`),
      code: 1,
      phrase: `${st("shape-vs-config")}: gpt_neox.layers.0.mlp.dense_h_to_4h.weight has shape`,
      outs: [out("shape-vs-config")],
    },
    {
      name: "config.json missing a required field",
      args: generate(`${tmp}/config-missing-field`, ["--ids", "1,2"]),
      code: 1,
      phrase: `${cfg("config-missing-field")}: missing hidden_size`,
    },
    {
      name: "config.json not JSON",
      args: logits("config-not-json", `${tmp}/config-not-json`),
      code: 1,
      phrase: `${cfg("config-not-json")}: not valid JSON`,
      outs: [out("config-not-json")],
    },
    {
      name: "missing model folder",
      args: generate(`${tmp}/no-such-folder`, ["--prompt", "hello"]),
      code: 1,
      phrase: `${tmp}/no-such-folder: model folder not found`,
    },
    {
      name: "missing model.safetensors",
      args: logits("no-safetensors", `${tmp}/no-safetensors`),
      code: 1,
      phrase: `${st("no-safetensors")}: file not found`,
      outs: [out("no-safetensors")],
    },
    {
      name: "tokenizer.json not JSON",
      args: generate(`${tmp}/tokenizer-not-json`, ["--prompt", "hello"]),
      code: 1,
      phrase: `${tmp}/tokenizer-not-json/tokenizer.json: not valid JSON`,
    },
    {
      name: "profile with a broken target",
      args: [
        "profile",
        "--target-model",
        `${tmp}/truncated`,
        "--k-values",
        "2",
        "--output-json",
        out("profile-json"),
        "--output-html",
        out("profile-html"),
      ],
      code: 1,
      phrase: st("truncated"),
      outs: [out("profile-json"), out("profile-html")],
    },
    // Bad inputs.
    {
      name: "non-numeric token id",
      args: generate(draftDir, ["--ids", "1,two,3"]),
      code: 2,
      phrase: `--ids: "two" is not a token id`,
    },
    {
      name: "negative token id",
      args: logits("negative-id", draftDir).map((a) => a === "1,2,3" ? "1,-2" : a),
      code: 2,
      phrase: `--ids: "-2" is not a token id`,
      outs: [out("negative-id")],
    },
    {
      name: "token id >= vocab_size",
      args: generate(draftDir, ["--ids", "1,8192"]),
      code: 2,
      phrase: "--ids: token id 8192 is outside the vocabulary (0..8191)",
    },
    {
      name: "empty --ids",
      args: logits("empty-ids", draftDir).map((a) => a === "1,2,3" ? "" : a),
      code: 2,
      phrase: "--ids",
      outs: [out("empty-ids")],
    },
    {
      name: "empty --prompt",
      args: generate(draftDir, ["--prompt", ""]),
      code: 2,
      phrase: "--prompt is empty",
    },
    {
      name: "prompt longer than the model's positions",
      args: generate(`${tmp}/short`, ["--prompt", longPrompt]),
      code: 2,
      phrase: "exceed the model's 16 positions with a full cache (use --cache sink)",
    },
    {
      name: "--k 0",
      args: generate(targetDir, ["--draft", draftDir, "--ids", "1,2", "--k", "0"]),
      code: 2,
      phrase: "--k must be from 1 to 16, got 0",
    },
    {
      name: "--k 17",
      args: generate(targetDir, ["--draft", draftDir, "--ids", "1,2", "--k", "17"]),
      code: 2,
      phrase: "--k must be from 1 to 16, got 17",
    },
    {
      name: "draft vocabulary differs from the target's",
      args: generate(draftDir, ["--draft", `${tmp}/vocab-4096`, "--ids", "1,2"]),
      code: 1,
      phrase: `the draft ${tmp}/vocab-4096 has vocab_size 4096`,
    },
    {
      name: "unknown flag",
      args: generate(draftDir, ["--ids", "1", "--frobnicate"]),
      code: 2,
      phrase: "--frobnicate",
    },
    { name: "unknown subcommand", args: ["frobnicate"], code: 2, phrase: `"frobnicate"` },
    {
      name: "missing --model",
      args: ["generate", "--ids", "1,2"],
      code: 2,
      phrase: "--model is required",
    },
    {
      name: "missing --out",
      args: ["logits", "--model", draftDir, "--ids", "1,2"],
      code: 2,
      phrase: "--out is required",
    },
    {
      name: "non-integer --max-new-tokens",
      args: generate(draftDir, ["--ids", "1", "--max-new-tokens", "many"]),
      code: 2,
      phrase: `--max-new-tokens must be an integer, got "many"`,
    },
    {
      name: "--out in a missing folder",
      args: logits("x", draftDir).map((a) => a === out("x") ? `${tmp}/no-dir/x.bin` : a),
      code: 1,
      phrase: `--out ${tmp}/no-dir/x.bin: folder ${tmp}/no-dir does not exist`,
      outs: [`${tmp}/no-dir/x.bin`],
    },
    {
      name: "calibrate -o in a missing folder",
      args: ["calibrate", "-o", `${tmp}/no-dir/device.json`],
      code: 1,
      phrase: `--out ${tmp}/no-dir/device.json: folder ${tmp}/no-dir does not exist`,
    },
    {
      name: "bench with a missing draft folder",
      args: ["bench", "--model", targetDir, "--draft", `${tmp}/no-draft`, "--ids", "1,2"],
      code: 1,
      phrase: `${tmp}/no-draft: model folder not found`,
    },
    // The sink cache: capacity > sinks + K + 1, and its flags only with --cache sink.
    {
      name: "sink cache too small for K",
      args: generate(targetDir, [
        "--draft",
        draftDir,
        "--ids",
        "1,2",
        "--k",
        "5",
        "--cache",
        "sink",
        "--cache-size",
        "10",
      ]),
      code: 2,
      phrase: "cache size 10 must be an integer larger than sinks (4) + K (5) + 1",
    },
    {
      name: "--cache-size without --cache sink",
      args: generate(draftDir, ["--ids", "1,2", "--cache-size", "64"]),
      code: 2,
      phrase: "--cache-size needs --cache sink",
    },
    {
      name: "perplexity of a missing text",
      args: ["perplexity", "--model", draftDir, "--text", `${tmp}/missing.txt`],
      code: 1,
      phrase: `${tmp}/missing.txt: cannot read --text`,
    },
    // Results files.
    {
      name: "report on malformed JSON",
      args: ["report", `${tmp}/bad.json`, "-o", out("report-bad")],
      code: 1,
      phrase: `${tmp}/bad.json`,
      outs: [out("report-bad")],
    },
    {
      name: "report on a results file of another schema",
      args: ["report", `${tmp}/wrong-schema.json`, "-o", out("report-schema")],
      code: 1,
      phrase: `${tmp}/wrong-schema.json: not a neox-spec results file: schema is "other-tool/v9"`,
      outs: [out("report-schema")],
    },
    {
      name: "report on a missing file",
      args: ["report", `${tmp}/missing.json`, "-o", out("report-missing")],
      code: 1,
      phrase: `${tmp}/missing.json`,
      outs: [out("report-missing")],
    },
    // Valid inputs on a machine without a GPU.
    {
      name: "no WebGPU adapter",
      args: logits("no-adapter", draftDir),
      code: 1,
      phrase: "no WebGPU adapter found",
      outs: [out("no-adapter")],
    },
    // Every command that needs a GPU says the same one line (with the fix) before any work.
    ...([
      ["generate", "--model", draftDir, "--ids", "1,2,3", "--max-new-tokens", "4", "--json"],
      ["generate", "--model", targetDir, "--draft", draftDir, "--ids", "1,2", "--k", "2"],
      ["perplexity", "--model", draftDir, "--text", `${root}README.md`, "--max-tokens", "8"],
      ["bench", "--model", targetDir, "--draft", draftDir, "--max-new-tokens", "4", "--no-peer"],
      ["profile", "--k-values", "2", "--max-new-tokens", "4", "--output-json", out("p-json")],
      ["calibrate", "-o", out("cal-json")],
    ] as string[][]).map((args): Case => ({
      name: `no WebGPU adapter: ${args[0]} ${args.includes("--draft") ? "--draft" : ""}`,
      args,
      code: 1,
      phrase: "no WebGPU adapter found: install a GPU driver with Vulkan support, or the " +
        "software adapter (Debian: apt-get install mesa-vulkan-drivers)",
      outs: args.filter((a) => a.startsWith(tmp)),
    })),
  ];
}

/** Runs one case; returns what is wrong with its outcome (empty when it passed). */
async function check(c: Case): Promise<string[]> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", ...c.args],
    cwd: root,
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1", DENO_WEBGPU_BACKEND: "none" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(r.stderr);
  const lines = stderr.trimEnd().split("\n");
  const problems: string[] = [];
  if (r.code !== c.code) problems.push(`exit code ${r.code}, expected ${c.code}`);
  if (!lines[0].startsWith("error: ")) problems.push("stderr does not start with `error: `");
  if (!lines[0].includes(c.phrase)) problems.push(`no "${c.phrase}" in the error line`);
  const stack = lines.some((l) => l.startsWith("    at "));
  if (c.debug) {
    if (!stack) problems.push("--debug printed no stack");
  } else {
    if (lines.length !== 1) problems.push(`stderr has ${lines.length} lines, expected 1`);
    if (stack) problems.push("stack trace without --debug");
  }
  for (const path of c.outs ?? []) {
    if (await Deno.stat(path).then(() => true, () => false)) problems.push(`${path} exists`);
    // No temporary file of an atomic write (`.<name>.<id>.tmp`) is left beside it either.
    const dir = path.slice(0, path.lastIndexOf("/")) || ".";
    const name = path.slice(path.lastIndexOf("/") + 1);
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.name.startsWith(`.${name}.`)) problems.push(`${dir}/${e.name} left behind`);
      }
    } catch { /* the folder itself is missing: nothing was left */ }
  }
  return problems.length ? [`${c.name}: ${problems.join("; ")}\n  stderr: ${stderr}`] : [];
}

Deno.test("CLI errors: one line, right exit code, no stack, no output file", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "neox-cli-errors-" });
  try {
    await makeFixtures(tmp);
    const table = cases(tmp);
    const failures: string[] = [];
    const batch = 6;
    for (let i = 0; i < table.length; i += batch) {
      const results = await Promise.all(table.slice(i, i + batch).map(check));
      failures.push(...results.flat());
    }
    assert.deepEqual(failures, [], `${failures.length} of ${table.length} cases failed`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
