#!/usr/bin/env python3
"""PyTorch eager peer of `mod.ts bench`: greedy GPT-NeoX decoding on the CPU.

float32 math on the checkpoint's weights (read from model.safetensors and config.json
directly: no transformers, no safetensors package), a KV cache, one thread
(torch.set_num_threads(1)), timed as the bench times the WebGPU engine: the time to the
first new token (prefill + argmax), then decode tokens/s over the remaining N - 1 tokens.

usage: peer_torch.py --model DIR --ids 1,2,3 --max-new-tokens N [--samples S] [--threads T]
(--threads: torch.set_num_threads, default 1; 0 = every core, os.cpu_count())
Prints one JSON object on stdout: {"tokens", "ttftMs", "decodeMs", "decodeTokS", ...}.
Exit status 3 (with {"error": ...}) when torch cannot be imported.
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(json.dumps({"error": f"cannot import torch/numpy: {e}"}))
    sys.exit(3)

DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64}


def load_safetensors(path):
    """name -> float32 torch tensor (F16/F32/F64/BF16 stored tensors)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        raw = data[base + start : base + end]
        dt = meta["dtype"]
        if dt == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt in DTYPES:
            arr = np.frombuffer(raw, dtype=DTYPES[dt]).astype(np.float32)
        else:
            continue
        out[name] = torch.from_numpy(arr.reshape(meta["shape"]).copy())
    return out


class NeoX:
    """GPT-NeoX forward with a preallocated KV cache (keys stored after rotary)."""

    def __init__(self, model_dir, capacity):
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        rope = c.get("rope_parameters") or c.get("rope_scaling") or {}
        self.d = c["hidden_size"]
        self.L = c["num_hidden_layers"]
        self.H = c["num_attention_heads"]
        self.hd = self.d // self.H
        pct = rope.get("partial_rotary_factor", c.get("rotary_pct", 0.25))
        base = rope.get("rope_theta", c.get("rotary_emb_base", 10000))
        self.rot = int(self.hd * pct)
        self.eps = c.get("layer_norm_eps", 1e-5)
        self.parallel = c.get("use_parallel_residual", True)
        act = c.get("hidden_act", "gelu")
        self.gelu = "tanh" if act in ("gelu_new", "gelu_fast", "gelu_pytorch_tanh") else "none"
        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        w = {k[len("gpt_neox.") :] if k.startswith("gpt_neox.") else k: v for k, v in w.items()}
        self.w = w
        self.embed_in = w["embed_in.weight"]
        self.embed_out = w["embed_out.weight"]
        self.layers = []
        for i in range(self.L):
            p = f"layers.{i}."
            g = lambda n, p=p: w.get(p + n)  # noqa: E731
            self.layers.append(
                dict(
                    ln1=(g("input_layernorm.weight"), g("input_layernorm.bias")),
                    ln2=(g("post_attention_layernorm.weight"), g("post_attention_layernorm.bias")),
                    qkv=(g("attention.query_key_value.weight"), g("attention.query_key_value.bias")),
                    dense=(g("attention.dense.weight"), g("attention.dense.bias")),
                    h4h=(g("mlp.dense_h_to_4h.weight"), g("mlp.dense_h_to_4h.bias")),
                    h4=(g("mlp.dense_4h_to_h.weight"), g("mlp.dense_4h_to_h.bias")),
                )
            )
        self.final = (w["final_layer_norm.weight"], w["final_layer_norm.bias"])
        inv = 1.0 / (base ** (torch.arange(0, self.rot, 2, dtype=torch.int64).float() / self.rot))
        t = torch.arange(capacity, dtype=torch.int64).float()
        freqs = torch.outer(t, inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos = emb.cos()
        self.sin = emb.sin()
        self.capacity = capacity
        self.scale = 1.0 / math.sqrt(self.hd)

    def reset(self):
        shape = (self.H, self.capacity, self.hd)
        self.k = [torch.zeros(shape) for _ in range(self.L)]
        self.v = [torch.zeros(shape) for _ in range(self.L)]
        self.len = 0

    def _rotary(self, x, cos, sin):
        r = self.rot
        xr, xp = x[..., :r], x[..., r:]
        h = r // 2
        rotated = torch.cat((-xr[..., h:], xr[..., :h]), dim=-1)
        return torch.cat((xr * cos + rotated * sin, xp), dim=-1)

    def forward(self, ids):
        """Runs T new tokens, appends them to the cache; returns the last position's argmax."""
        T = len(ids)
        p0 = self.len
        n = p0 + T
        x = F.embedding(torch.tensor(ids, dtype=torch.int64), self.embed_in)
        cos = self.cos[p0:n].unsqueeze(0)  # [1, T, rot]
        sin = self.sin[p0:n].unsqueeze(0)
        mask = None
        if T > 1:
            mask = torch.full((T, n), float("-inf")).triu(p0 + 1)
        for i, ly in enumerate(self.layers):
            h = F.layer_norm(x, (self.d,), *ly["ln1"], eps=self.eps)
            qkv = F.linear(h, *ly["qkv"]).view(T, self.H, 3 * self.hd).transpose(0, 1)
            q = self._rotary(qkv[..., : self.hd], cos, sin)
            k = self._rotary(qkv[..., self.hd : 2 * self.hd], cos, sin)
            self.k[i][:, p0:n] = k
            self.v[i][:, p0:n] = qkv[..., 2 * self.hd :]
            att = torch.matmul(q, self.k[i][:, :n].transpose(1, 2)) * self.scale
            if mask is not None:
                att = att + mask
            att = torch.softmax(att, dim=-1)
            o = torch.matmul(att, self.v[i][:, :n]).transpose(0, 1).reshape(T, self.d)
            a = F.linear(o, *ly["dense"])
            if self.parallel:
                m = F.layer_norm(x, (self.d,), *ly["ln2"], eps=self.eps)
                m = F.linear(F.gelu(F.linear(m, *ly["h4h"]), approximate=self.gelu), *ly["h4"])
                x = x + a + m
            else:
                x = x + a
                m = F.layer_norm(x, (self.d,), *ly["ln2"], eps=self.eps)
                x = x + F.linear(F.gelu(F.linear(m, *ly["h4h"]), approximate=self.gelu), *ly["h4"])
        self.len = n
        h = F.layer_norm(x[-1:], (self.d,), *self.final, eps=self.eps)
        return int(torch.argmax(F.linear(h, self.embed_out), dim=-1)[0])


def generate(model, ids, n):
    """Greedy: (tokens, ttft ms, decode ms of the n - 1 tokens after the first)."""
    model.reset()
    t0 = time.perf_counter()
    tok = model.forward(ids)
    t1 = time.perf_counter()
    out = [tok]
    for _ in range(n - 1):
        tok = model.forward([tok])
        out.append(tok)
    t2 = time.perf_counter()
    return out, (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--max-new-tokens", type=int, required=True)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    ids = [int(x) for x in a.ids.split(",")]
    n = a.max_new_tokens
    torch.set_num_threads(a.threads if a.threads > 0 else (os.cpu_count() or 1))
    with torch.inference_mode():
        model = NeoX(a.model, len(ids) + n)
        generate(model, ids, min(n, 4))  # warm-up
        runs = [generate(model, ids, n) for _ in range(max(1, a.samples))]
    tokens = runs[0][0]
    same = all(r[0] == tokens for r in runs)
    decode = [r[2] for r in runs]
    rates = [(n - 1) / (ms / 1e3) for ms in decode if ms > 0] if n > 1 else []
    print(
        json.dumps(
            {
                "tokens": tokens,
                "deterministic": same,
                "ttftMs": statistics.median(r[1] for r in runs),
                "decodeMs": decode,
                "decodeTokS": statistics.median(rates) if rates else None,
                "throughputTokS": statistics.median(n / ((r[1] + r[2]) / 1e3) for r in runs),
                "samples": len(runs),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "dtype": "float32",
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
