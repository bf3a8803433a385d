/**
 * A small seeded pseudo-random generator (mulberry32: a 32-bit state advanced by a Weyl
 * increment and mixed by two multiply–xorshift rounds). Not cryptographic; it exists so the
 * simulated workload is reproducible: the same seed gives the same sequence on every platform,
 * because every operation is done in 32-bit integer arithmetic (`Math.imul`, `>>>`).
 */

const TWO_POW_32 = 0x1_0000_0000;

export class Prng {
  #state: number;

  /** @param seed any finite number; its low 32 bits are the initial state. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`PRNG seed must be finite, got ${seed}`);
    this.#state = Math.trunc(seed) >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }

  /** A float uniformly distributed in [0, 1). */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** A float uniformly distributed in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** An integer uniformly distributed in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /**
   * An approximately normal sample (Irwin–Hall: the sum of 12 uniforms, minus 6, has mean 0 and
   * variance 1), bounded to mean ± 6 sd, which suits physical jitter better than unbounded tails.
   */
  normal(mean = 0, sd = 1): number {
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += this.next();
    return mean + (sum - 6) * sd;
  }

  /** An exponentially distributed sample with the given mean (inter-arrival times). */
  exponential(mean: number): number {
    // 1 - next() is in (0, 1], so the logarithm is finite.
    return -Math.log(1 - this.next()) * mean;
  }

  /** One element of a non-empty list, chosen uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }
}
