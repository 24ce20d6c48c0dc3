// The k8-interleaved copy of an f16 matrix that matmul_rows reads (engine/ops/linear.ts
// interleaveF16, the CPU oracle): src [R, K] row-major f16 with K % 8 == 0, as 16-byte words
// of 8 halves, K8 = K / 8 per row; word j of row n goes to word ((n >> 3) * K8 + j) * 8 + (n & 7)
// of dst. Rows R .. ceil(R / 8) * 8 - 1 of the last panel are left as dst holds them (zero).
struct Params { R: u32, K8: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let w = g.x + g.y * nw.x * 64u;
  if (w >= p.R * p.K8) { return; }
  let n = w / p.K8;
  let j = w % p.K8;
  dst[((n >> 3u) * p.K8 + j) * 8u + (n & 7u)] = src[w];
}
