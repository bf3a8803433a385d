/**
 * A Jepsen-style "total queue" checker for one run of the delivery suite: what went in must
 * come out, nothing unexpected appears, duplicates are reported separately. Pure: it takes the
 * histories as data and classifies every id.
 *
 * Vocabulary (docs/delivery.md):
 * - **attempted**: the producer offered the id to the agent (a sample read, an alarm raised).
 *   Not a promise: a crash before acceptance may lose it.
 * - **accepted**: the agent's spool made the record carrying it durable and said so (the
 *   `accepted` event), under a sequence number. A promise: it must reach the hub or be
 *   reported lost in a gap.
 * - **stored**: the hub committed it (its samples or alarms table), under the seq of the frame.
 * - **gap**: a range of seqs the agent reported lost (quota eviction, corruption).
 */

export type Id = number | string;

export interface SeqGap {
  fromSeq: number;
  toSeq: number;
  /** How many records the agent said the range lost (for exact accounting). */
  records?: number;
}

export interface TotalQueueInput {
  attempted: Iterable<Id>;
  accepted: Iterable<{ id: Id; seq: number }>;
  /**
   * One entry per row the hub stored (the same id may appear several times: that is a
   * duplicate). `seq` is the frame's seq when known; otherwise the accepted seq of the id is
   * assumed.
   */
  stored: Iterable<{ id: Id; seq?: number }>;
  /** Gap reports as the hub stored them (gaps are at-least-once: repeats are merged). */
  gaps?: Iterable<SeqGap>;
}

export interface Duplicate {
  id: Id;
  /** Rows stored for it. */
  count: number;
  /** The seqs they were stored under (undefined when not known). */
  seqs: Array<number | undefined>;
}

export interface TotalQueueResult {
  /** Accepted, not stored, not inside a reported gap: a broken promise. */
  lost: Id[];
  /** Stored but never attempted (nor accepted): made up or corrupted on the way. */
  unexpected: Id[];
  /** Stored more than once. */
  duplicates: Duplicate[];
  /** Stored, attempted, but never known to be accepted (e.g. the agent died between its
   * durable write and its report): fine, delivered. */
  recovered: Id[];
  /** Accepted, not stored, inside a reported gap: a counted, reported loss. */
  gapAccounted: Id[];
  /**
   * Stored, and yet inside a reported gap's range (a record dropped while in flight that
   * arrived anyway). Fine as long as the gaps' record counts — which the hub reduces by what it
   * holds — equal the records really lost (`ok` checks that).
   */
  overReported: Array<{ id: Id; seq: number }>;
  /** Attempted, never accepted, never stored: the producer's own loss (not a promise). */
  notAccepted: Id[];
  counts: {
    attempted: number;
    accepted: number;
    /** Distinct ids stored. */
    stored: number;
    /** Rows stored. */
    storedRows: number;
    lost: number;
    unexpected: number;
    duplicates: number;
    recovered: number;
    gapAccounted: number;
    overReported: number;
    notAccepted: number;
    /** Distinct gap ranges reported (repeats merged). */
    gaps: number;
    /** Sum of `records` over distinct gap ranges (0 when not given). */
    gapRecords: number;
    /** Distinct seqs of the gapAccounted ids: the records lost to gaps, to compare with gapRecords. */
    gapAccountedSeqs: number;
  };
  /** No loss, nothing unexpected, no duplicate, nothing over-reported. */
  ok: boolean;
}

/** Disjoint, sorted, merged seq ranges with a membership test. */
export class SeqRangeSet {
  readonly #from: number[] = [];
  readonly #to: number[] = [];

  constructor(ranges: Iterable<{ fromSeq: number; toSeq: number }>) {
    const sorted = [...ranges]
      .filter((r) => r.toSeq >= r.fromSeq)
      .sort((a, b) => a.fromSeq - b.fromSeq);
    for (const r of sorted) {
      const last = this.#to.length - 1;
      if (last >= 0 && r.fromSeq <= this.#to[last]! + 1) {
        this.#to[last] = Math.max(this.#to[last]!, r.toSeq);
      } else {
        this.#from.push(r.fromSeq);
        this.#to.push(r.toSeq);
      }
    }
  }

  has(seq: number): boolean {
    let lo = 0;
    let hi = this.#from.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (seq < this.#from[mid]!) hi = mid - 1;
      else if (seq > this.#to[mid]!) lo = mid + 1;
      else return true;
    }
    return false;
  }

  get size(): number {
    return this.#from.length;
  }
}

export function checkTotalQueue(input: TotalQueueInput): TotalQueueResult {
  const attempted = new Set<Id>(input.attempted);
  const acceptedSeq = new Map<Id, number>();
  for (const a of input.accepted) {
    // The first acceptance is the promise; an id accepted again (a resend under a new seq)
    // shows up as a duplicate if both are stored.
    if (!acceptedSeq.has(a.id)) acceptedSeq.set(a.id, a.seq);
  }
  const storedRows = new Map<Id, Array<number | undefined>>();
  let rows = 0;
  for (const s of input.stored) {
    rows++;
    const seqs = storedRows.get(s.id);
    if (seqs) seqs.push(s.seq);
    else storedRows.set(s.id, [s.seq]);
  }
  const distinctGaps = new Map<string, SeqGap>();
  for (const g of input.gaps ?? []) distinctGaps.set(`${g.fromSeq}-${g.toSeq}`, g);
  const gaps = new SeqRangeSet(distinctGaps.values());
  let gapRecords = 0;
  for (const g of distinctGaps.values()) gapRecords += g.records ?? 0;

  const lost: Id[] = [];
  const gapAccounted: Id[] = [];
  const gapSeqs = new Set<number>();
  for (const [id, seq] of acceptedSeq) {
    if (storedRows.has(id)) continue;
    if (gaps.has(seq)) {
      gapAccounted.push(id);
      gapSeqs.add(seq);
    } else lost.push(id);
  }
  const unexpected: Id[] = [];
  const duplicates: Duplicate[] = [];
  const recovered: Id[] = [];
  const overReported: Array<{ id: Id; seq: number }> = [];
  for (const [id, seqs] of storedRows) {
    const known = acceptedSeq.has(id);
    if (!known && !attempted.has(id)) unexpected.push(id);
    else if (!known) recovered.push(id);
    if (seqs.length > 1) duplicates.push({ id, count: seqs.length, seqs });
    for (const s of new Set(seqs)) {
      const seq = s ?? acceptedSeq.get(id);
      if (seq !== undefined && gaps.has(seq)) overReported.push({ id, seq });
    }
  }
  const notAccepted: Id[] = [];
  for (const id of attempted) {
    if (!acceptedSeq.has(id) && !storedRows.has(id)) notAccepted.push(id);
  }
  const knownIds = new Set<Id>([...attempted, ...acceptedSeq.keys()]);
  return {
    lost,
    unexpected,
    duplicates,
    recovered,
    gapAccounted,
    overReported,
    notAccepted,
    counts: {
      attempted: knownIds.size,
      accepted: acceptedSeq.size,
      stored: storedRows.size,
      storedRows: rows,
      lost: lost.length,
      unexpected: unexpected.length,
      duplicates: duplicates.length,
      recovered: recovered.length,
      gapAccounted: gapAccounted.length,
      overReported: overReported.length,
      notAccepted: notAccepted.length,
      gaps: distinctGaps.size,
      gapRecords,
      gapAccountedSeqs: gapSeqs.size,
    },
    ok:
      lost.length === 0 &&
      unexpected.length === 0 &&
      duplicates.length === 0 &&
      // No gap claims more lost records than its range holds seqs the hub lacks.
      gapRecords <= unstoredInGaps(distinctGaps.values(), storedRows),
  };
}

/** How many seqs inside the gaps' ranges the hub did not store (what the gaps may claim lost). */
function unstoredInGaps(
  gaps: Iterable<SeqGap>,
  storedRows: ReadonlyMap<Id, ReadonlyArray<number | undefined>>,
): number {
  const stored = new Set<number>();
  for (const seqs of storedRows.values()) for (const s of seqs) if (s !== undefined) stored.add(s);
  let n = 0;
  for (const g of gaps) {
    n += g.toSeq - g.fromSeq + 1;
    for (const s of stored) if (s >= g.fromSeq && s <= g.toSeq) n--;
  }
  return n;
}

/** One line for a report: the counts that matter, and up to a few example ids of each failure. */
export function formatTotalQueue(name: string, r: TotalQueueResult): string {
  const c = r.counts;
  const examples = (label: string, ids: readonly unknown[]): string =>
    ids.length === 0
      ? ''
      : ` ${label}=[${ids.slice(0, 5).map(String).join(',')}${ids.length > 5 ? ',…' : ''}]`;
  return (
    `${name}: ${r.ok ? 'OK' : 'FAIL'} attempted=${c.attempted} accepted=${c.accepted} stored=${c.stored}` +
    ` lost=${c.lost} duplicates=${c.duplicates} unexpected=${c.unexpected} recovered=${c.recovered}` +
    ` gapAccounted=${c.gapAccounted} overReported=${c.overReported} notAccepted=${c.notAccepted}` +
    ` gaps=${c.gaps} gapRecords=${c.gapRecords} gapAccountedRecords=${c.gapAccountedSeqs}` +
    examples('lostIds', r.lost) +
    examples(
      'duplicateIds',
      r.duplicates.map((d) => d.id),
    ) +
    examples('unexpectedIds', r.unexpected) +
    examples(
      'overReportedIds',
      r.overReported.map((o) => `${o.id}@${o.seq}`),
    )
  );
}
