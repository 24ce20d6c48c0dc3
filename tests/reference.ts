/**
 * Float64 reference forward of GPT-NeoX, written to read like the math (llama2.c style).
 * It is the oracle for the GPU kernels: each building block below is exported so a
 * single kernel can be checked against it, and {@link referenceForward} checks the
 * whole model against the transformers goldens.
 *
 * Layouts: every matrix is row-major; a buffer commented `[T,d]` holds T rows of d.
 * Semantics follow HF transformers GPTNeoX exactly (rules restated in engine/model.ts and engine/config.ts).
 */

import {
  checkTensorShapes,
  loadConfig,
  type NeoxConfig,
  requiredTensors,
} from "../engine/config.ts";
import { openSafetensors, readTensorBytes, toFloat32 } from "../engine/safetensors.ts";
import { type CachePolicy, liveEntries } from "../engine/cache_policy.ts";

/** A model with every required weight widened to float64, keyed by HF tensor name. */
export interface ReferenceModel {
  /** The parsed config.json. */
  cfg: NeoxConfig;
  /** HF tensor name -> weights, row-major in the tensor's shape. */
  w: Map<string, Float64Array>;
}

/**
 * Loads `dir/config.json` and `dir/model.safetensors`, checks the tensor shapes, and
 * widens every required tensor to float64 (exact from F32/F16/BF16).
 */
export async function loadReferenceModel(dir: string): Promise<ReferenceModel> {
  const root = dir.replace(/\/+$/, "");
  const cfg = await loadConfig(root);
  const file = await openSafetensors(`${root}/model.safetensors`);
  checkTensorShapes(cfg, file);
  const w = new Map<string, Float64Array>();
  for (const { name } of requiredTensors(cfg)) {
    const t = file.tensors.get(name)!;
    w.set(name, Float64Array.from(toFloat32(t.dtype, await readTensorBytes(file, name))));
  }
  return { cfg, w };
}

/**
 * LayerNorm over the last axis: y = (x - mean) / sqrt(var + eps) * w + b, with the
 * biased variance (as torch.nn.LayerNorm).
 *
 * @param x [rows,d] @param w [d] @param b [d] @returns [rows,d]
 */
export function refLayerNorm(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  rows: number,
  d: number,
  eps: number,
): Float64Array {
  const y = new Float64Array(rows * d); // [rows,d]
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[o + i];
    mean /= d;
    let vr = 0;
    for (let i = 0; i < d; i++) vr += (x[o + i] - mean) ** 2;
    vr /= d;
    const inv = 1 / Math.sqrt(vr + eps);
    for (let i = 0; i < d; i++) y[o + i] = (x[o + i] - mean) * inv * w[i] + b[i];
  }
  return y;
}

/**
 * Linear layer y = x W^T + b (torch.nn.Linear).
 *
 * @param x [T,K] @param W [N,K] (row n is output n's weights) @param bias [N] or null
 * @returns y [T,N]
 */
export function refLinear(
  x: Float64Array,
  W: Float64Array,
  bias: Float64Array | null,
  T: number,
  K: number,
  N: number,
): Float64Array {
  const y = new Float64Array(T * N); // [T,N]
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += x[xo + k] * W[wo + k];
      y[t * N + n] = s + (bias === null ? 0 : bias[n]);
    }
  }
  return y;
}

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/sqrt(pi)
const INV_SQRT_PI = 0.5641895835477563; // 1/sqrt(pi)

/**
 * erfc(z) for z >= 2 by the continued fraction
 * erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))),
 * evaluated with the modified Lentz method (relative error ~1e-15, < 60 terms).
 */
function erfcCf(z: number): number {
  const tiny = 1e-300;
  let f = z;
  let C = z;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    D = z + an * D;
    if (D === 0) D = tiny;
    C = z + an / C;
    if (C === 0) C = tiny;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return Math.exp(-z * z) * INV_SQRT_PI / f;
}

/**
 * erf(z) for 0 <= z < 2 by the all-positive series
 * erf(z) = 2/sqrt(pi) * exp(-z^2) * sum_n 2^n z^(2n+1) / (1*3*...*(2n+1)),
 * which has no cancellation (relative error ~1e-16).
 */
function erfSeries(z: number): number {
  let term = z;
  let sum = z;
  const z2 = 2 * z * z;
  for (let n = 1; n < 200; n++) {
    term *= z2 / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-z * z) * sum;
}

/** Error function in float64, absolute error below 1e-15. */
export function refErf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  const a = Math.abs(z);
  const r = a < 2 ? erfSeries(a) : 1 - erfcCf(a);
  return z < 0 ? -r : r;
}

/** Complementary error function 1 - erf(z) in float64, accurate in the tails. */
export function refErfc(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 1 + refErf(-z);
  return z < 2 ? 1 - erfSeries(z) : erfcCf(z);
}

/** Exact GELU: x * Phi(x) = 0.5 * x * erfc(-x / sqrt(2)) (HF "gelu"). */
export function refGelu(x: number): number {
  return 0.5 * x * refErfc(-x * Math.SQRT1_2);
}

/**
 * tanh GELU: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
 * (HF gelu_new / gelu_fast / gelu_pytorch_tanh).
 */
export function refGeluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * Rotary position embedding, rotate_half convention, on the first `rotDims` dims of
 * every head: with r = rotDims / 2, f_i = pos * base^(-2i/rotDims) for i < r,
 *   x'[i]     = x[i]     * cos f_i - x[i + r] * sin f_i
 *   x'[i + r] = x[i + r] * cos f_i + x[i]     * sin f_i
 * (= x*cos + rotate_half(x)*sin with cos/sin over cat(f,f)); dims >= rotDims pass through.
 *
 * @param x [T,H,hd] @param positions [T] position of each row @returns a new [T,H,hd]
 */
export function refRotary(
  x: Float64Array,
  positions: number[],
  H: number,
  hd: number,
  rotDims: number,
  base: number,
): Float64Array {
  const T = positions.length;
  const y = Float64Array.from(x); // [T,H,hd]
  const r = rotDims / 2;
  const invFreq = new Float64Array(r); // [r]
  for (let i = 0; i < r; i++) invFreq[i] = 1 / base ** ((2 * i) / rotDims);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < r; i++) {
      const f = positions[t] * invFreq[i];
      const c = Math.cos(f), s = Math.sin(f);
      for (let h = 0; h < H; h++) {
        const o = (t * H + h) * hd;
        const x1 = x[o + i], x2 = x[o + i + r];
        y[o + i] = x1 * c - x2 * s;
        y[o + i + r] = x2 * c + x1 * s;
      }
    }
  }
  return y;
}

/**
 * Causal scaled dot-product attention of T queries over S cached keys/values:
 * out[t,h] = sum_j softmax_j(q[t,h] . k[j,h] / sqrt(hd)) v[j,h] over j <= qIdx[t].
 *
 * @param q [T,H,hd] queries (already rotated)
 * @param k [S,H,hd] keys (already rotated) @param v [S,H,hd] values
 * @param qIdx [T] the last cache index query t may see; default: the queries are the
 *   last T cache entries, qIdx[t] = S - T + t (prefill when S == T)
 * @returns out [T,H,hd]
 */
export function refAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  T: number,
  S: number,
  H: number,
  hd: number,
  qIdx?: number[],
): Float64Array {
  const out = new Float64Array(T * H * hd); // [T,H,hd]
  const sc = new Float64Array(S); // [S] scores of one (t,h)
  const scale = 1 / Math.sqrt(hd);
  for (let t = 0; t < T; t++) {
    const last = Math.min(qIdx === undefined ? S - T + t : qIdx[t], S - 1);
    for (let h = 0; h < H; h++) {
      const qo = (t * H + h) * hd;
      let mx = -Infinity;
      for (let j = 0; j <= last; j++) {
        const ko = (j * H + h) * hd;
        let s = 0;
        for (let i = 0; i < hd; i++) s += q[qo + i] * k[ko + i];
        sc[j] = s * scale;
        if (sc[j] > mx) mx = sc[j];
      }
      let den = 0;
      for (let j = 0; j <= last; j++) {
        sc[j] = Math.exp(sc[j] - mx);
        den += sc[j];
      }
      for (let j = 0; j <= last; j++) {
        const p = sc[j] / den;
        const vo = (j * H + h) * hd;
        for (let i = 0; i < hd; i++) out[qo + i] += p * v[vo + i];
      }
    }
  }
  return out;
}

/**
 * Full causal forward over `ids` at positions 0..T-1; with a sink cache policy, each query
 * attends to the entries a token-by-token run of the policy would have cached, key i and
 * the query rotated by their cache indices (i, and the query's own index).
 *
 * @returns logits, T rows of [vocabSize]
 */
export function referenceForward(
  m: ReferenceModel,
  ids: number[],
  cache: CachePolicy = { kind: "full" },
): Float64Array[] {
  const { cfg, w } = m;
  const T = ids.length;
  const d = cfg.hiddenSize, H = cfg.numHeads, hd = cfg.headDim;
  const ff = cfg.intermediateSize, V = cfg.vocabSize, eps = cfg.layerNormEps;
  const act = cfg.activation === "gelu" ? refGelu : refGeluTanh;
  const W = (name: string): Float64Array => {
    const a = w.get(name);
    if (a === undefined) throw new Error(`reference model has no tensor ${name}`);
    return a;
  };
  const Wopt = (name: string) => (cfg.attentionBias ? W(name) : null);
  const pos = ids.map((_, t) => t); // [T]

  // token embeddings
  const emb = W("gpt_neox.embed_in.weight"); // [V,d]
  const x = new Float64Array(T * d); // [T,d] residual stream
  ids.forEach((id, t) => {
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new RangeError(`token id ${id} not in [0,${V})`);
    }
    x.set(emb.subarray(id * d, (id + 1) * d), t * d);
  });

  const attention = (hIn: Float64Array, p: string): Float64Array => {
    const qkv = refLinear(
      hIn,
      W(p + "attention.query_key_value.weight"), // [3d,d]
      Wopt(p + "attention.query_key_value.bias"), // [3d]
      T,
      d,
      3 * d,
    ); // [T,3d] viewed as [T,H,3*hd]: q,k,v consecutive per head
    const q = new Float64Array(T * d); // [T,H,hd]
    const k = new Float64Array(T * d); // [T,H,hd]
    const v = new Float64Array(T * d); // [T,H,hd]
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const src = t * 3 * d + h * 3 * hd, dst = (t * H + h) * hd;
        q.set(qkv.subarray(src, src + hd), dst);
        k.set(qkv.subarray(src + hd, src + 2 * hd), dst);
        v.set(qkv.subarray(src + 2 * hd, src + 3 * hd), dst);
      }
    }
    let a: Float64Array; // [T,H,hd] == [T,d]
    if (cache.kind === "full") {
      const qr = refRotary(q, pos, H, hd, cfg.rotaryDims, cfg.rotaryBase); // [T,H,hd]
      const kr = refRotary(k, pos, H, hd, cfg.rotaryDims, cfg.rotaryBase); // [T,H,hd]
      a = refAttention(qr, kr, v, T, T, H, hd);
    } else {
      a = new Float64Array(T * d);
      for (let t = 0; t < T; t++) {
        const n = liveEntries(cache, t);
        // cache index i holds token i (a sink) or the (i - sinks)-th of the recent window
        const src = Array.from({ length: n }, (_, i) => (i < cache.sinks ? i : i + t + 1 - n));
        const gather = (x: Float64Array) => {
          const y = new Float64Array(n * d); // [n,H,hd]
          src.forEach((j, i) => y.set(x.subarray(j * d, (j + 1) * d), i * d));
          return y;
        };
        const idx = src.map((_, i) => i);
        const qt = q.subarray(t * d, (t + 1) * d);
        const qr = refRotary(qt, [n - 1], H, hd, cfg.rotaryDims, cfg.rotaryBase); // [1,H,hd]
        const kr = refRotary(gather(k), idx, H, hd, cfg.rotaryDims, cfg.rotaryBase); // [n,H,hd]
        a.set(refAttention(qr, kr, gather(v), 1, n, H, hd), t * d);
      }
    }
    return refLinear(a, W(p + "attention.dense.weight"), Wopt(p + "attention.dense.bias"), T, d, d); // [T,d]
  };

  const mlp = (hIn: Float64Array, p: string): Float64Array => {
    const u = refLinear(
      hIn,
      W(p + "mlp.dense_h_to_4h.weight"), // [ff,d]
      W(p + "mlp.dense_h_to_4h.bias"), // [ff]
      T,
      d,
      ff,
    ); // [T,ff]
    for (let i = 0; i < u.length; i++) u[i] = act(u[i]);
    return refLinear(
      u,
      W(p + "mlp.dense_4h_to_h.weight"),
      W(p + "mlp.dense_4h_to_h.bias"),
      T,
      ff,
      d,
    ); // [T,d]
  };

  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    const ln1 = (z: Float64Array) =>
      refLayerNorm(z, W(p + "input_layernorm.weight"), W(p + "input_layernorm.bias"), T, d, eps); // [T,d]
    const ln2 = (z: Float64Array) =>
      refLayerNorm(
        z,
        W(p + "post_attention_layernorm.weight"),
        W(p + "post_attention_layernorm.bias"),
        T,
        d,
        eps,
      ); // [T,d]
    if (cfg.parallelResidual) {
      // x = x + attn(ln1(x)) + mlp(ln2(x))
      const a = attention(ln1(x), p); // [T,d]
      const f = mlp(ln2(x), p); // [T,d]
      for (let i = 0; i < x.length; i++) x[i] += a[i] + f[i];
    } else {
      // h = x + attn(ln1(x)); x = h + mlp(ln2(h))
      const a = attention(ln1(x), p); // [T,d]
      for (let i = 0; i < x.length; i++) x[i] += a[i];
      const f = mlp(ln2(x), p); // [T,d]
      for (let i = 0; i < x.length; i++) x[i] += f[i];
    }
  }

  const hf = refLayerNorm(
    x,
    W("gpt_neox.final_layer_norm.weight"), // [d]
    W("gpt_neox.final_layer_norm.bias"), // [d]
    T,
    d,
    eps,
  ); // [T,d]
  const logits = refLinear(hf, W("embed_out.weight"), null, T, d, V); // [T,V]
  const rows: Float64Array[] = [];
  for (let t = 0; t < T; t++) rows.push(logits.slice(t * V, (t + 1) * V)); // T x [V]
  return rows;
}
