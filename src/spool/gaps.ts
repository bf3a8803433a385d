import type { QueuedRecord } from './queue.js';

/** Why accepted records were dropped. Maps to the wire `GapReason` (QUOTA, CORRUPT). */
export type GapReason = 'quota' | 'corrupt';

/**
 * Records the spool accepted but had to drop, for a `Gap` frame. Every seq in
 * `[fromSeq, toSeq]` is gone and none of them will ever be returned by `next()`; no live
 * record lies inside the range. `records` is how many records the range held (for `quota`
 * exact; for `corrupt` the size of the range, since a damaged record's seq cannot be read).
 */
export interface SpoolGap {
  fromSeq: number;
  toSeq: number;
  records: number;
  reason: GapReason;
}

interface PendingGap extends SpoolGap {
  /** The gap may be handed out once the state file of this epoch is durable. */
  epoch: number;
  /** Handed out (reported); kept until the hub acks past it. */
  taken: boolean;
}

/**
 * The gaps of a spool, coalesced where that stays exact. A gap lives until the hub acks past
 * its range — handing it out does not end it — so a crash at any point reports it again
 * rather than never (gaps are at least once; the hub may see one twice).
 */
export class GapBook {
  #gaps: PendingGap[];
  /**
   * Metadata of the records dropped by this process whose gap is not handed out yet. If the
   * hub acks past one, it has the record (it was in flight when dropped): the ack must then
   * report it removed, or it would be neither delivered nor in a gap.
   */
  readonly #dropped = new Map<number, QueuedRecord>();

  /** `restored` gaps came from the state file: durable (epoch 0), to be reported (again). */
  constructor(restored: SpoolGap[] = []) {
    this.#gaps = restored.map((g) => ({ ...g, epoch: 0, taken: false }));
  }

  /** Gaps not yet handed out. */
  get pending(): number {
    return this.#gaps.filter((g) => !g.taken).length;
  }

  /**
   * Adds `seq`, extending the latest gap when `canJoin(last.toSeq)` says no record between
   * it and `seq` is live or was delivered (a gap must never cover a record that may yet be
   * delivered).
   */
  add(
    seq: number,
    reason: GapReason,
    epoch: number,
    canJoin: (fromExclusive: number) => boolean,
    dropped?: QueuedRecord,
  ): void {
    if (dropped) this.#dropped.set(seq, dropped);
    const last = this.#gaps[this.#gaps.length - 1];
    if (last && !last.taken && last.reason === reason && last.toSeq < seq && canJoin(last.toSeq)) {
      last.toSeq = seq;
      last.records += 1;
      last.epoch = epoch;
      return;
    }
    this.#gaps.push({ fromSeq: seq, toSeq: seq, records: 1, reason, epoch, taken: false });
  }

  /** Adds a whole range (corruption found on open). */
  addRange(fromSeq: number, toSeq: number, reason: GapReason, epoch: number): void {
    this.#gaps.push({ fromSeq, toSeq, records: toSeq - fromSeq + 1, reason, epoch, taken: false });
  }

  /**
   * The hub acked past these seqs: a reported gap has done its job, and one not yet reported
   * would be false (the hub holds those records: they were in flight when evicted, or
   * delivered before their bytes were damaged). Returns the records this process dropped
   * into such unreported gaps: the hub has them, so the ack removed (delivered) them.
   */
  dropThrough(acked: number): QueuedRecord[] {
    const delivered: QueuedRecord[] = [];
    for (const [seq, rec] of this.#dropped) {
      if (seq > acked) continue;
      this.#dropped.delete(seq);
      delivered.push(rec);
    }
    delivered.sort((a, b) => a.seq - b.seq);
    const kept: PendingGap[] = [];
    for (const g of this.#gaps) {
      if (g.toSeq <= acked) continue;
      if (g.fromSeq <= acked) {
        g.fromSeq = acked + 1;
        g.records = Math.min(g.records, g.toSeq - g.fromSeq + 1);
      }
      kept.push(g);
    }
    this.#gaps = kept;
    return delivered;
  }

  /** Hands out the gaps not yet handed out that are durable as of `persistedEpoch`. */
  take(persistedEpoch: number): SpoolGap[] {
    const out: SpoolGap[] = [];
    for (const g of this.#gaps) {
      if (g.taken || g.epoch > persistedEpoch) continue;
      g.taken = true;
      out.push(plain(g));
      // Reported lost: an ack past it no longer means it was delivered.
      for (const seq of this.#dropped.keys()) {
        if (seq >= g.fromSeq && seq <= g.toSeq) this.#dropped.delete(seq);
      }
    }
    return out;
  }

  /** For the state file. */
  toArray(): SpoolGap[] {
    return this.#gaps.map(plain);
  }
}

const plain = (g: SpoolGap): SpoolGap => ({
  fromSeq: g.fromSeq,
  toSeq: g.toSeq,
  records: g.records,
  reason: g.reason,
});
