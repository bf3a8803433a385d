/** A set of sequence numbers as sorted, disjoint, non-adjacent inclusive ranges. */
export class SeqRanges {
  #r: Array<[number, number]> = [];

  constructor(ranges: Iterable<readonly [number, number]> = []) {
    for (const [from, to] of ranges) this.add(from, to);
  }

  get size(): number {
    return this.#r.length;
  }

  /** Adds `[from, to]`, merging with overlapping or adjacent ranges. */
  add(from: number, to: number): void {
    if (to < from) return;
    const r = this.#r;
    let i = this.#firstEndingAtOrAfter(from - 1);
    let lo = from;
    let hi = to;
    const start = i;
    while (i < r.length && r[i]![0] <= to + 1) {
      lo = Math.min(lo, r[i]![0]);
      hi = Math.max(hi, r[i]![1]);
      i++;
    }
    r.splice(start, i - start, [lo, hi]);
  }

  has(seq: number): boolean {
    const i = this.#firstEndingAtOrAfter(seq);
    const range = this.#r[i];
    return range !== undefined && range[0] <= seq;
  }

  /** The parts of `[from, to]` not in the set. */
  uncovered(from: number, to: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let at = from;
    for (let i = this.#firstEndingAtOrAfter(from); i < this.#r.length && at <= to; i++) {
      const [lo, hi] = this.#r[i]!;
      if (lo > to) break;
      if (lo > at) out.push([at, lo - 1]);
      at = Math.max(at, hi + 1);
    }
    if (at <= to) out.push([at, to]);
    return out;
  }

  /** Forgets everything at or below `seq`. */
  pruneThrough(seq: number): void {
    const r = this.#r;
    let drop = 0;
    while (drop < r.length && r[drop]![1] <= seq) drop++;
    if (drop > 0) r.splice(0, drop);
    const first = r[0];
    if (first && first[0] <= seq) first[0] = seq + 1;
  }

  toArray(): Array<[number, number]> {
    return this.#r.map(([a, b]) => [a, b]);
  }

  /** Index of the first range whose end is >= seq. */
  #firstEndingAtOrAfter(seq: number): number {
    let lo = 0;
    let hi = this.#r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#r[mid]![1] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
