/**
 * The library's random numbers: one global generator that `setSeed(n)` makes deterministic, so
 * initialisation, shuffling and dropout repeat bit for bit between runs and between runtimes
 * (integer math only: no `Math.random`, no platform-dependent floating point).
 */

/** xoshiro128** state: four u32 words, seeded through SplitMix32 so nearby seeds diverge. */
export class Random {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    // A seed above 2^32 still matters: its high word is folded in.
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    this.s0 = next() ^ hi;
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits (exact in float64, so identical everywhere). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /** A seed for a derived stream (a layer's initializer or dropout). */
  nextSeed(): number {
    return this.nextUint32();
  }

  /**
   * The four state words, so another thread (a training worker) can continue this exact stream
   * and hand it back: `b.setState(a.getState())` makes `b` draw what `a` would draw next.
   */
  getState(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Continues from a state `getState()` returned (an all-zero state would be stuck, so it is refused). */
  setState(state: readonly number[]): void {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff) || state.every((w) => w === 0)) {
      throw new RangeError(`Random.setState expects four u32 words, not all zero, got [${state.join(', ')}]`);
    }
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let global: Random | null = null;

/**
 * Makes every random choice fastgru makes from now on reproducible: initial weights of layers
 * built without their own seed, shuffling in `fit`, dropout masks. Same seed and same calls give
 * the same numbers in Node and in every browser.
 */
export function setSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new RangeError(`setSeed expects a finite number, got ${seed}`);
  global = new Random(Math.floor(Math.abs(seed)));
}

/** The global generator (seeded from `Math.random` until `setSeed` is called). */
export function globalRandom(): Random {
  if (global === null) global = new Random(Math.floor(Math.random() * 2 ** 32));
  return global;
}

/** A fresh 32-bit seed from the global generator. */
export function randomSeed(): number {
  return globalRandom().nextSeed();
}
