import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LaneIndex } from './lane-index.js';
import { SeqRanges } from './seq-ranges.js';

describe('SeqRanges', () => {
  it('merges overlapping and adjacent ranges', () => {
    const r = new SeqRanges([
      [5, 7],
      [1, 2],
      [3, 4],
      [10, 12],
    ]);
    expect(r.toArray()).toEqual([
      [1, 7],
      [10, 12],
    ]);
    expect(r.uncovered(0, 14)).toEqual([
      [0, 0],
      [8, 9],
      [13, 14],
    ]);
    r.pruneThrough(11);
    expect(r.toArray()).toEqual([[12, 12]]);
  });

  it('behaves like a set of numbers', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('add' as const), a: fc.nat(60), n: fc.nat(6) }),
      fc.record({ k: fc.constant('prune' as const), a: fc.nat(60) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.nat(60), fc.nat(10), (ops, from, len) => {
        const r = new SeqRanges();
        const model = new Set<number>();
        for (const o of ops) {
          if (o.k === 'add') {
            r.add(o.a, o.a + o.n);
            for (let s = o.a; s <= o.a + o.n; s++) model.add(s);
          } else {
            r.pruneThrough(o.a);
            for (const s of [...model]) if (s <= o.a) model.delete(s);
          }
        }
        for (let s = 0; s < 80; s++) expect(r.has(s)).toBe(model.has(s));
        const un = r
          .uncovered(from, from + len)
          .flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
        expect(un).toEqual(
          Array.from({ length: len + 1 }, (_, i) => from + i).filter((s) => !model.has(s)),
        );
        const arr = r.toArray();
        for (let i = 1; i < arr.length; i++) expect(arr[i]![0]).toBeGreaterThan(arr[i - 1]![1] + 1);
      }),
    );
  });
});

describe('LaneIndex', () => {
  it('is a queue in ascending seq with search and removal', () => {
    const idx = new LaneIndex<{ seq: number }>();
    for (let s = 1; s <= 3000; s += 2) idx.push({ seq: s });
    expect(() => idx.push({ seq: 3 })).toThrow(/out of order/);
    for (let i = 0; i < 1200; i++) idx.shift();
    expect(idx.length).toBe(300);
    expect(idx.at(0)?.seq).toBe(2401);
    expect(idx.firstAbove(2402)).toBe(1);
    expect(idx.indexOf(2403)).toBe(1);
    expect(idx.indexOf(2404)).toBe(-1);
    expect(idx.removeAt(1)?.seq).toBe(2403);
    expect(idx.at(1)?.seq).toBe(2405);
    expect(idx.firstAbove(10_000)).toBe(idx.length);
  });
});
