/**
 * A small seeded random source for tests and benches (mulberry32 + Box-Muller), so every
 * random input and every random checkpoint is reproducible from its seed.
 */

/** Uniform and normal draws from one seeded stream. */
export interface SeededRandom {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal N(0, 1). */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** `n` float32 values drawn from N(mean, std^2). */
  normals(n: number, std?: number, mean?: number): Float32Array;
}

/** A random stream seeded by `seed` (any 32-bit integer). */
export function seededRandom(seed: number): SeededRandom {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    const u = 1 - uniform(); // (0, 1]: log stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return {
    uniform,
    normal,
    int: (n) => Math.floor(uniform() * n),
    normals: (n, std = 1, mean = 0) => {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = mean + std * normal();
      return out;
    },
  };
}
