import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import sampleMap from '../../../protocols/register-map.json' with { type: 'json' };
import { MAX_REGISTERS_PER_READ, planReads, type ReadRequest } from './plan.js';
import {
  parseRegisterMap,
  registerCount,
  type CounterDef,
  type ErrorSlotsDef,
  type RegisterMap,
  type RegisterTable,
  type RegisterType,
} from './register-map.js';

let serial = 0;
function counter(
  address: number,
  type: RegisterType = 'u16',
  table: RegisterTable = 'holding',
  name = `c${serial++}`,
): CounterDef {
  return { name, table, address, type, wordOrder: 'big', scale: 1, offset: 0, unit: '' };
}

function map(counters: CounterDef[], errors?: ErrorSlotsDef, raisesCounter?: string): RegisterMap {
  return { unitId: 1, counters, errors, raisesCounter };
}

/** Reads in a stable order, for comparing plans without depending on table iteration order. */
function sorted(reads: ReadRequest[]): ReadRequest[] {
  return [...reads].sort((a, b) =>
    a.table === b.table ? a.address - b.address : a.table < b.table ? -1 : 1,
  );
}

/** Every (table, register) a read covers. Fails on overlapping reads. */
function covered(reads: readonly ReadRequest[]): Set<string> {
  const out = new Set<string>();
  for (const r of reads) {
    for (let a = r.address; a < r.address + r.count; a++) {
      const k = `${r.table}:${a}`;
      expect(out.has(k), `register ${k} is read twice`).toBe(false);
      out.add(k);
    }
  }
  return out;
}

/** Every (table, register) the map needs for `which`. */
function needed(m: RegisterMap, which: 'all' | 'errors'): Set<string> {
  const out = new Set<string>();
  const add = (table: RegisterTable, address: number, count: number): void => {
    for (let a = address; a < address + count; a++) out.add(`${table}:${a}`);
  };
  if (which === 'all') for (const c of m.counters) add(c.table, c.address, registerCount(c.type));
  if (m.errors) add(m.errors.table, m.errors.address, m.errors.slots);
  if (which === 'errors' && m.raisesCounter) {
    const c = m.counters.find((x) => x.name === m.raisesCounter)!;
    add(c.table, c.address, registerCount(c.type));
  }
  return out;
}

/** Maximal runs of contiguous needed registers, as lengths (per table). */
function runLengths(keys: Set<string>): number[] {
  const byTable = new Map<string, number[]>();
  for (const k of keys) {
    const [t, a] = k.split(':') as [string, string];
    byTable.set(t, [...(byTable.get(t) ?? []), Number(a)]);
  }
  const runs: number[] = [];
  for (const addresses of byTable.values()) {
    addresses.sort((x, y) => x - y);
    let len = 0;
    let prev = Number.NaN;
    for (const a of addresses) {
      if (a === prev + 1) len++;
      else {
        if (len > 0) runs.push(len);
        len = 1;
      }
      prev = a;
    }
    if (len > 0) runs.push(len);
  }
  return runs;
}

describe('planReads', () => {
  it('coalesces contiguous counters into one read', () => {
    const reads = planReads(map([counter(0, 'u32'), counter(2, 'i32'), counter(4), counter(5)]));
    expect(reads).toEqual([{ table: 'holding', address: 0, count: 6 }]);
  });

  it('coalesces regardless of the order counters are listed in', () => {
    const reads = planReads(map([counter(4), counter(0, 'u32'), counter(2, 'float32')]));
    expect(reads).toEqual([{ table: 'holding', address: 0, count: 5 }]);
  });

  it('never bridges a gap, not even of one register', () => {
    const reads = planReads(map([counter(0), counter(2), counter(3, 'u32'), counter(10)]));
    expect(sorted(reads)).toEqual([
      { table: 'holding', address: 0, count: 1 },
      { table: 'holding', address: 2, count: 3 },
      { table: 'holding', address: 10, count: 1 },
    ]);
  });

  it('keeps the holding and input tables apart even at the same addresses', () => {
    const reads = planReads(
      map([counter(0, 'u16', 'holding'), counter(1, 'u16', 'input'), counter(0, 'u16', 'input')]),
    );
    expect(sorted(reads)).toEqual([
      { table: 'holding', address: 0, count: 1 },
      { table: 'input', address: 0, count: 2 },
    ]);
  });

  it('splits a long run at 125 registers', () => {
    const counters = Array.from({ length: 130 }, (_, i) => counter(i));
    const reads = planReads(map(counters));
    expect(sorted(reads)).toEqual([
      { table: 'holding', address: 0, count: MAX_REGISTERS_PER_READ },
      { table: 'holding', address: 125, count: 5 },
    ]);
    expect(MAX_REGISTERS_PER_READ).toBe(125);
  });

  it('a run of exactly 125 registers is one read', () => {
    const counters = Array.from({ length: 62 }, (_, i) => counter(i * 2, 'u32'));
    counters.push(counter(124));
    expect(planReads(map(counters))).toEqual([{ table: 'holding', address: 0, count: 125 }]);
  });

  it('merges counters that overlap each other or the error slots', () => {
    // Two names for the same register, a u32 straddling the start of the error block.
    const reads = planReads(
      map([counter(10), counter(10, 'i16'), counter(19, 'u32')], {
        table: 'holding',
        address: 20,
        slots: 8,
      }),
    );
    expect(sorted(reads)).toEqual([
      { table: 'holding', address: 10, count: 1 },
      { table: 'holding', address: 19, count: 9 },
    ]);
  });

  it('a counter inside the error block adds no read', () => {
    const reads = planReads(
      map([counter(22, 'u32', 'input')], { table: 'input', address: 20, slots: 8 }),
    );
    expect(reads).toEqual([{ table: 'input', address: 20, count: 8 }]);
  });

  it('an overlap that would pass 125 registers continues in a new read without re-reading', () => {
    const m = map([counter(124, 'u32')], { table: 'holding', address: 0, slots: 125 });
    const reads = planReads(m);
    for (const r of reads) expect(r.count).toBeLessThanOrEqual(125);
    expect(covered(reads)).toEqual(needed(m, 'all'));
  });

  it('plans the shipped register map as two reads', () => {
    const m = parseRegisterMap(sampleMap);
    expect(sorted(planReads(m))).toEqual([
      { table: 'holding', address: 0, count: 18 },
      { table: 'holding', address: 100, count: 8 },
    ]);
    expect(planReads(m, 'all')).toEqual(planReads(m));
  });

  it('errors mode reads only the error slots and the raises counter', () => {
    const m = parseRegisterMap(sampleMap);
    expect(sorted(planReads(m, 'errors'))).toEqual([
      { table: 'holding', address: 16, count: 2 },
      { table: 'holding', address: 100, count: 8 },
    ]);
  });

  it('errors mode without a raises counter reads only the slots', () => {
    const m = map([counter(0, 'u32', 'holding', 'error_events_total'), counter(2)], {
      table: 'input',
      address: 5,
      slots: 3,
    });
    expect(planReads(m, 'errors')).toEqual([{ table: 'input', address: 5, count: 3 }]);
  });

  it('errors mode coalesces a raises counter adjacent to the slots', () => {
    const m = map(
      [counter(0), counter(8, 'u32', 'holding', 'raises')],
      { table: 'holding', address: 10, slots: 4 },
      'raises',
    );
    expect(planReads(m, 'errors')).toEqual([{ table: 'holding', address: 8, count: 6 }]);
  });

  it('errors mode with neither slots nor a raises counter reads nothing', () => {
    expect(planReads(map([counter(0)]), 'errors')).toEqual([]);
  });

  it('does not modify the map', () => {
    const m = parseRegisterMap(sampleMap);
    const before = structuredClone(m);
    planReads(m);
    planReads(m, 'errors');
    expect(m).toEqual(before);
  });
});

describe('planReads: property', () => {
  const types = fc.constantFrom<RegisterType>('u16', 'i16', 'u32', 'i32', 'float32');
  const tables = fc.constantFrom<RegisterTable>('holding', 'input');
  const mapArb = (maxAddress: number, typeArb: fc.Arbitrary<RegisterType>, withErrors: boolean) =>
    fc
      .record({
        counters: fc.array(
          fc.record({
            address: fc.integer({ min: 0, max: maxAddress }),
            type: typeArb,
            table: tables,
          }),
          { minLength: 1, maxLength: 160 },
        ),
        errors: withErrors
          ? fc.option(
              fc.record({
                table: tables,
                address: fc.integer({ min: 0, max: maxAddress }),
                slots: fc.integer({ min: 1, max: 125 }),
              }),
              { nil: undefined },
            )
          : fc.constant(undefined),
        raises: fc.option(fc.nat(), { nil: undefined }),
      })
      .map(({ counters, errors, raises }) => {
        const defs = counters.map((c, i) => counter(c.address, c.type, c.table, `c${i}`));
        const raisesCounter = raises === undefined ? undefined : defs[raises % defs.length]!.name;
        return map(defs, errors, raisesCounter);
      });

  it('reads exactly the registers needed, in non-overlapping reads of 1..125 registers', () => {
    fc.assert(
      fc.property(
        mapArb(400, types, true),
        fc.constantFrom<'all' | 'errors'>('all', 'errors'),
        (m, which) => {
          const reads = planReads(m, which);
          for (const r of reads) {
            expect(Number.isInteger(r.count) && r.count >= 1 && r.count <= 125).toBe(true);
            expect(r.address).toBeGreaterThanOrEqual(0);
          }
          // Overlaps fail inside covered(); gaps show up as registers that are not needed.
          expect(covered(reads)).toEqual(needed(m, which));
          // Never fewer reads than maximal contiguous runs split at 125 allow.
          const lowerBound = runLengths(needed(m, which)).reduce(
            (n, len) => n + Math.ceil(len / MAX_REGISTERS_PER_READ),
            0,
          );
          expect(reads.length).toBeGreaterThanOrEqual(lowerBound);
          // Where no run is longer than one read, each run is exactly one read.
          const runs = runLengths(needed(m, which));
          if (runs.every((len) => len <= MAX_REGISTERS_PER_READ))
            expect(reads.length).toBe(runs.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('single-register counters: the number of reads is minimal (runs split at 125)', () => {
    fc.assert(
      fc.property(mapArb(300, fc.constantFrom<RegisterType>('u16', 'i16'), false), (m) => {
        const reads = planReads(m);
        expect(covered(reads)).toEqual(needed(m, 'all'));
        const minimal = runLengths(needed(m, 'all')).reduce(
          (n, len) => n + Math.ceil(len / MAX_REGISTERS_PER_READ),
          0,
        );
        expect(reads.length).toBe(minimal);
      }),
      { numRuns: 300 },
    );
  });

  it('dense maps (long runs) are still covered exactly', () => {
    fc.assert(
      fc.property(mapArb(150, types, true), (m) => {
        const reads = planReads(m);
        for (const r of reads) expect(r.count).toBeLessThanOrEqual(125);
        expect(covered(reads)).toEqual(needed(m, 'all'));
      }),
      { numRuns: 300 },
    );
  });
});
