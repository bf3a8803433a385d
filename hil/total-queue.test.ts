import { describe, expect, it } from 'vitest';
import { checkTotalQueue, formatTotalQueue, SeqRangeSet } from './total-queue.js';

const acc = (pairs: Array<[number, number]>): Array<{ id: number; seq: number }> =>
  pairs.map(([id, seq]) => ({ id, seq }));

describe('total-queue checker', () => {
  it('a clean run: everything accepted is stored once', () => {
    const r = checkTotalQueue({
      attempted: [1, 2, 3],
      accepted: acc([
        [1, 1],
        [2, 1],
        [3, 2],
      ]),
      stored: [
        { id: 1, seq: 1 },
        { id: 2, seq: 1 },
        { id: 3, seq: 2 },
      ],
    });
    expect(r.ok).toBe(true);
    expect(r.counts).toMatchObject({ attempted: 3, accepted: 3, stored: 3, lost: 0 });
  });

  it('lost: accepted, not stored and not in a gap', () => {
    const r = checkTotalQueue({
      attempted: [1, 2],
      accepted: acc([
        [1, 1],
        [2, 2],
      ]),
      stored: [{ id: 1, seq: 1 }],
      gaps: [{ fromSeq: 3, toSeq: 5 }],
    });
    expect(r.lost).toEqual([2]);
    expect(r.gapAccounted).toEqual([]);
    expect(r.ok).toBe(false);
  });

  it('gapAccounted: accepted, not stored, inside a reported gap (not a loss)', () => {
    const r = checkTotalQueue({
      attempted: [1, 2, 3],
      accepted: acc([
        [1, 1],
        [2, 2],
        [3, 4],
      ]),
      stored: [{ id: 1, seq: 1 }],
      gaps: [
        { fromSeq: 2, toSeq: 2, records: 1 },
        { fromSeq: 3, toSeq: 4, records: 2 },
        // Reported twice (gaps are at least once): counted once.
        { fromSeq: 3, toSeq: 4, records: 2 },
      ],
    });
    expect(r.lost).toEqual([]);
    expect(r.gapAccounted.sort()).toEqual([2, 3]);
    expect(r.counts.gaps).toBe(2);
    expect(r.counts.gapRecords).toBe(3);
    expect(r.counts.gapAccountedSeqs).toBe(2);
    expect(r.ok).toBe(true);
  });

  it('unexpected: stored but never attempted nor accepted', () => {
    const r = checkTotalQueue({
      attempted: [1],
      accepted: acc([[1, 1]]),
      stored: [
        { id: 1, seq: 1 },
        { id: 99, seq: 1 },
      ],
    });
    expect(r.unexpected).toEqual([99]);
    expect(r.recovered).toEqual([]);
    expect(r.ok).toBe(false);
  });

  it('an id accepted but not in the attempted list is known, not unexpected', () => {
    const r = checkTotalQueue({ attempted: [], accepted: acc([[5, 1]]), stored: [{ id: 5 }] });
    expect(r.unexpected).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('duplicates: the same id stored more than once, at one seq or several', () => {
    const r = checkTotalQueue({
      attempted: [1, 2, 3],
      accepted: acc([
        [1, 1],
        [2, 2],
        [3, 3],
      ]),
      stored: [
        { id: 1, seq: 1 },
        { id: 2, seq: 2 },
        { id: 2, seq: 7 },
        { id: 3, seq: 3 },
        { id: 3, seq: 3 },
      ],
    });
    expect(r.duplicates).toEqual([
      { id: 2, count: 2, seqs: [2, 7] },
      { id: 3, count: 2, seqs: [3, 3] },
    ]);
    expect(r.counts.storedRows).toBe(5);
    expect(r.counts.stored).toBe(3);
    expect(r.ok).toBe(false);
  });

  it('recovered: attempted, not known accepted, but stored (fine)', () => {
    const r = checkTotalQueue({
      attempted: [1, 2],
      accepted: acc([[1, 1]]),
      stored: [
        { id: 1, seq: 1 },
        { id: 2, seq: 2 },
      ],
    });
    expect(r.recovered).toEqual([2]);
    expect(r.ok).toBe(true);
  });

  it('notAccepted: attempted, never accepted, never stored (the producer lost it; no promise)', () => {
    const r = checkTotalQueue({ attempted: [1, 2], accepted: acc([[1, 1]]), stored: [{ id: 1 }] });
    expect(r.notAccepted).toEqual([2]);
    expect(r.ok).toBe(true);
  });

  it('overReported: stored and inside a gap, by its own seq or its accepted seq', () => {
    const r = checkTotalQueue({
      attempted: [1, 2, 3],
      accepted: acc([
        [1, 1],
        [2, 2],
        [3, 9],
      ]),
      stored: [{ id: 1, seq: 1 }, { id: 2, seq: 2 }, { id: 3 }],
      gaps: [
        { fromSeq: 2, toSeq: 2, records: 0 },
        { fromSeq: 8, toSeq: 10, records: 0 },
      ],
    });
    expect(r.overReported).toEqual([
      { id: 2, seq: 2 },
      { id: 3, seq: 9 },
    ]);
    expect(r.lost).toEqual([]);
    // The hub counted no loss in those ranges (it held the records): exact, so fine.
    expect(r.ok).toBe(true);
    // A gap claiming a loss that did not happen is not.
    const claimed = checkTotalQueue({
      attempted: [1, 2],
      accepted: acc([
        [1, 1],
        [2, 2],
      ]),
      stored: [
        { id: 1, seq: 1 },
        { id: 2, seq: 2 },
      ],
      gaps: [{ fromSeq: 2, toSeq: 2, records: 1 }],
    });
    expect(claimed.ok).toBe(false);
  });

  it('string ids work the same (alarms)', () => {
    const r = checkTotalQueue({
      attempted: ['a1', 'a2'],
      accepted: [{ id: 'a1', seq: 3 }],
      stored: [{ id: 'a1', seq: 3 }],
    });
    expect(r.ok).toBe(true);
    expect(r.notAccepted).toEqual(['a2']);
  });

  it('formats a one-line summary naming failures', () => {
    const r = checkTotalQueue({ attempted: [1], accepted: acc([[1, 1]]), stored: [] });
    expect(formatTotalQueue('telemetry', r)).toMatch(/^telemetry: FAIL .*lost=1 .*lostIds=\[1\]/);
  });
});

describe('SeqRangeSet', () => {
  it('merges overlapping and adjacent ranges and answers membership', () => {
    const s = new SeqRangeSet([
      { fromSeq: 10, toSeq: 12 },
      { fromSeq: 1, toSeq: 3 },
      { fromSeq: 4, toSeq: 5 },
      { fromSeq: 11, toSeq: 20 },
      { fromSeq: 30, toSeq: 29 },
    ]);
    expect(s.size).toBe(2);
    for (const n of [1, 3, 4, 5, 10, 15, 20]) expect(s.has(n)).toBe(true);
    for (const n of [0, 6, 9, 21, 29, 30]) expect(s.has(n)).toBe(false);
  });
});
