/** A small, fast, seedable PRNG (sfc32 seeded through splitmix32); `next()` is in [0, 1). */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A new generator whose stream does not overlap this one's in practice. */
  fork(stream: number): SeededRandom {
    return new SeededRandom(Math.floor(this.next() * 4294967296) ^ Math.imul(stream + 1, 0x27d4eb2d));
  }

  /** A seeded permutation of 0 … n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const order = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const swap = order[i]!;
      order[i] = order[j]!;
      order[j] = swap;
    }
    return order;
  }
}

/**
 * Runs `work` with Math.random replaced by a seeded generator. TF.js draws the seeds of weight
 * initialisers, dropout and other random ops from Math.random when none is given, so this makes
 * a whole trial reproducible. The original is restored afterwards.
 */
export async function withSeededMathRandom<T>(seed: number, work: () => Promise<T>): Promise<T> {
  const original = Math.random;
  const random = new SeededRandom(seed ^ 0x5eed);
  Math.random = () => random.next();
  try {
    return await work();
  } finally {
    Math.random = original;
  }
}
