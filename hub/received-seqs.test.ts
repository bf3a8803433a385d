import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReceivedSeqs } from './received-seqs.js';

describe('ReceivedSeqs', () => {
  it('agrees with a set of seqs on has() and on where the cumulative ack lands', () => {
    const op = fc.oneof(
      fc.record({
        k: fc.constant('add' as const),
        from: fc.integer({ min: 1, max: 60 }),
        len: fc.nat(6),
      }),
      fc.record({ k: fc.constant('advance' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.nat(5), (ops, start) => {
        const r = new ReceivedSeqs();
        const model = new Set<number>();
        let acked = start;
        let modelAcked = start;
        for (const o of ops) {
          if (o.k === 'add') {
            r.add(o.from, o.from + o.len);
            for (let s = o.from; s <= o.from + o.len; s++) if (s > modelAcked) model.add(s);
          } else {
            acked = r.advance(acked);
            while (model.has(modelAcked + 1)) model.delete(++modelAcked);
            for (const s of model) if (s <= modelAcked) model.delete(s);
            expect(acked).toBe(modelAcked);
          }
          for (let s = modelAcked + 1; s <= 70; s++) expect(r.has(s)).toBe(model.has(s));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('moves past a range that is partly or wholly at or below the ack (regression)', () => {
    // fast-check counterexample: a range below the ack hid the one that continues it.
    const r = new ReceivedSeqs();
    r.add(5, 5);
    r.add(1, 1);
    expect(r.advance(4)).toBe(5);
    const g = new ReceivedSeqs();
    g.add(3, 9); // a gap resent after seqs 3..6 were acked
    expect(g.advance(6)).toBe(9);
  });

  it('holds a huge gap as one range, and a clone is independent', () => {
    const r = new ReceivedSeqs();
    r.add(10, 1_000_000);
    r.add(5, 5);
    expect(r.ranges).toBe(2);
    const c = r.clone();
    c.add(1, 9);
    expect(c.advance(0)).toBe(1_000_000);
    expect(r.advance(0)).toBe(0);
    expect(r.advance(4)).toBe(5);
    expect(r.advance(9)).toBe(1_000_000);
    expect(r.ranges).toBe(0);
  });

  it('lists its ranges and counts the seqs it holds within a range', () => {
    const r = new ReceivedSeqs();
    r.add(3, 5);
    r.add(9, 9);
    r.add(20, 30);
    expect(r.toArray()).toEqual([
      [3, 5],
      [9, 9],
      [20, 30],
    ]);
    expect(r.countIn(1, 100)).toBe(15);
    expect(r.countIn(4, 25)).toBe(2 + 1 + 6);
    expect(r.countIn(6, 8)).toBe(0);
    expect(r.countIn(30, 30)).toBe(1);
    r.toArray()[0]![0] = 1; // a copy
    expect(r.has(2)).toBe(false);
  });
});
