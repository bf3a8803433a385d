/**
 * One lane's unacknowledged records in ascending seq: an array with a moving head, so taking
 * from the front is O(1) amortised and positional access and seq search stay cheap.
 */
export class LaneIndex<T extends { seq: number }> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The i-th item from the front. */
  at(i: number): T | undefined {
    return i < 0 ? undefined : this.#items[this.#head + i];
  }

  /** Appends an item; its seq must be above every seq already here. */
  push(item: T): void {
    const last = this.#items[this.#items.length - 1];
    if (this.length > 0 && last !== undefined && last.seq >= item.seq) {
      throw new Error(`lane index out of order: ${item.seq} after ${last.seq}`);
    }
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined as unknown as T; // release the reference
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes the i-th item from the front (O(n); for the rare quarantine of a middle record). */
  removeAt(i: number): T | undefined {
    if (i < 0 || i >= this.length) return undefined;
    if (i === 0) return this.shift();
    return this.#items.splice(this.#head + i, 1)[0];
  }

  /** Position of the first item with seq > `seq` (== length when none). */
  firstAbove(seq: number): number {
    let lo = this.#head;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#items[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.#head;
  }

  /** Position of the item with exactly this seq, or -1. */
  indexOf(seq: number): number {
    const i = this.firstAbove(seq - 1);
    return this.at(i)?.seq === seq ? i : -1;
  }
}
