/**
 * What the hub holds of one device stream above its cumulative ack: seqs stored out of order
 * (alarms overtake telemetry) and the ranges of reported gaps, as sorted, disjoint ranges —
 * a gap of a million evicted records costs one entry, not a million.
 */
export class ReceivedSeqs {
  /** Sorted, disjoint, non-adjacent inclusive ranges. */
  #ranges: Array<[number, number]> = [];

  /** How many separate ranges are held (for tests and stats). */
  get ranges(): number {
    return this.#ranges.length;
  }

  clone(): ReceivedSeqs {
    const copy = new ReceivedSeqs();
    copy.#ranges = this.#ranges.map(([a, b]) => [a, b]);
    return copy;
  }

  /** Marks `[from, to]` received, merging with touching ranges. */
  add(from: number, to: number): void {
    if (to < from) return;
    const r = this.#ranges;
    // The common case, records in order: the range continues (or overlaps) the last one.
    const tail = r[r.length - 1];
    if (tail && from >= tail[0] && from <= tail[1] + 1) {
      if (to > tail[1]) tail[1] = to;
      return;
    }
    // The first range that ends at from - 1 or later can merge with [from, to].
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid]![1] < from - 1) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    let first = from;
    let last = to;
    while (end < r.length && r[end]![0] <= to + 1) {
      first = Math.min(first, r[end]![0]);
      last = Math.max(last, r[end]![1]);
      end++;
    }
    r.splice(lo, end - lo, [first, last]);
  }

  /** The ranges held, as `[from, to]` pairs in ascending order (a copy). */
  toArray(): Array<[number, number]> {
    return this.#ranges.map(([a, b]) => [a, b]);
  }

  /** How many seqs of `[from, to]` are held. */
  countIn(from: number, to: number): number {
    let n = 0;
    for (const [a, b] of this.#ranges) {
      if (a > to) break;
      const lo = Math.max(a, from);
      const hi = Math.min(b, to);
      if (hi >= lo) n += hi - lo + 1;
    }
    return n;
  }

  has(seq: number): boolean {
    for (const [a, b] of this.#ranges) {
      if (seq < a) return false;
      if (seq <= b) return true;
    }
    return false;
  }

  /**
   * The cumulative ack once everything held here counts: `acked` extended through the range
   * that continues it. Forgets what is then at or below the ack.
   */
  advance(acked: number): number {
    const r = this.#ranges;
    // Ranges at or below the ack say nothing new (a gap resent after part of it was acked).
    while (r.length > 0 && r[0]![1] <= acked) r.shift();
    const head = r[0];
    const next = head && head[0] <= acked + 1 ? Math.max(acked, head[1]) : acked;
    while (r.length > 0 && r[0]![1] <= next) r.shift();
    if (r[0] && r[0][0] <= next) r[0][0] = next + 1;
    return next;
  }
}
