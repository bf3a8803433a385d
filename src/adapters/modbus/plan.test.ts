import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import sampleMap from '../../../protocols/register-map.json' with { type: 'json' };
import {
  MAX_BITS_PER_READ,
  MAX_REGISTERS_PER_READ,
  maxPerRead,
  planReads,
  type ReadRequest,
} from './plan.js';
import {
  parseRegisterMap,
  registerCount,
  type CounterDef,
  type ErrorSlotsDef,
  type ModbusTable,
  type RegisterMap,
  type RegisterTable,
  type RegisterType,
} from './register-map.js';

let serial = 0;
function counter(
  address: number,
  type: RegisterType = 'u16',
  table: ModbusTable = 'holding',
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

/**
 * Every (table, register) the reads cover. Reads may overlap: a counter that straddles the end
 * of a full read is read whole by the next one, which can re-read a register.
 */
function covered(reads: readonly ReadRequest[]): Set<string> {
  const out = new Set<string>();
  for (const r of reads)
    for (let a = r.address; a < r.address + r.count; a++) out.add(`${r.table}:${a}`);
  return out;
}

/** Fails if two reads share a register (for plans where no re-read is called for). */
function expectDisjoint(reads: readonly ReadRequest[]): void {
  const total = reads.reduce((n, r) => n + r.count, 0);
  expect(covered(reads).size, 'some register is read twice').toBe(total);
}

/** The multi-register counters a plan for `which` must read whole. */
function wholeCounters(m: RegisterMap, which: 'all' | 'errors'): CounterDef[] {
  const list = which === 'all' ? m.counters : m.counters.filter((c) => c.name === m.raisesCounter);
  return list.filter((c) => registerCount(c.type) > 1);
}

/** Fails unless every register of `c` comes from one and the same read. */
function expectReadWhole(reads: readonly ReadRequest[], c: CounterDef): void {
  const end = c.address + registerCount(c.type);
  const whole = reads.some(
    (r) => r.table === c.table && r.address <= c.address && end <= r.address + r.count,
  );
  expect(whole, `${c.type} ${c.table}:${c.address} is split across reads`).toBe(true);
}

/**
 * Reference planner, written independently of plan.ts: the number of reads a greedy planner
 * needs when each counter's span and each error slot is an atomic unit. Units are sorted by
 * start; a read starts at a unit and takes in each following unit that starts at or before its
 * end while the read stays within 125 registers; a unit wholly inside the read adds nothing.
 */
function greedyReadCount(m: RegisterMap, which: 'all' | 'errors'): number {
  const units = new Map<ModbusTable, Array<{ start: number; end: number }>>();
  const unit = (table: ModbusTable, start: number, length: number): void => {
    units.set(table, [...(units.get(table) ?? []), { start, end: start + length }]);
  };
  for (const c of m.counters) {
    if (which === 'all' || c.name === m.raisesCounter)
      unit(c.table, c.address, registerCount(c.type));
  }
  if (m.errors)
    for (let i = 0; i < m.errors.slots; i++) unit(m.errors.table, m.errors.address + i, 1);
  let reads = 0;
  for (const [table, list] of units) {
    // 125 registers per read, 2000 bits for coils and discrete inputs (Modbus spec, FC 1-4).
    const limit = table === 'coil' || table === 'discrete' ? 2000 : 125;
    list.sort((x, y) => x.start - y.start || x.end - y.end);
    let read: { start: number; end: number } | undefined;
    for (const u of list) {
      if (read && u.end <= read.end) continue; // wholly inside (u.start >= read.start by the sort)
      if (read && u.start <= read.end && u.end - read.start <= limit) {
        read.end = u.end;
        continue;
      }
      reads++;
      read = { ...u };
    }
  }
  return reads;
}

/** Every (table, register) the map needs for `which`. */
function needed(m: RegisterMap, which: 'all' | 'errors'): Set<string> {
  const out = new Set<string>();
  const add = (table: ModbusTable, address: number, count: number): void => {
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

  it('error slots may be split: u16@0 + 125 slots@1 + u16@126 is two reads, not three', () => {
    const m = map([counter(0), counter(126)], { table: 'holding', address: 1, slots: 125 });
    const reads = planReads(m);
    expect(sorted(reads)).toEqual([
      { table: 'holding', address: 0, count: 125 },
      { table: 'holding', address: 125, count: 2 },
    ]);
    expectDisjoint(reads);
    expect(covered(reads)).toEqual(needed(m, 'all'));
  });

  it('a counter straddling the end of a full read is read whole by the next read', () => {
    // 125 slots at 0 and a u32 at 124..125: the u32 must not come back as [124] + [125].
    const m = map([counter(124, 'u32')], { table: 'holding', address: 0, slots: 125 });
    const reads = planReads(m);
    expect(sorted(reads)).toEqual([
      { table: 'holding', address: 0, count: 124 },
      { table: 'holding', address: 124, count: 2 },
    ]);
    expectReadWhole(reads, m.counters[0]!);
    expect(covered(reads)).toEqual(needed(m, 'all'));
  });

  it('keeping a counter whole may re-read a register another counter needed', () => {
    // u32@123 ends the first read at 125; u32@124 straddles that end, so it is read again whole.
    const m = map([counter(123, 'u32'), counter(124, 'u32')], {
      table: 'holding',
      address: 0,
      slots: 123,
    });
    const reads = planReads(m);
    expect(sorted(reads)).toEqual([
      { table: 'holding', address: 0, count: 125 },
      { table: 'holding', address: 124, count: 2 },
    ]);
    for (const c of m.counters) expectReadWhole(reads, c);
  });

  it('a straddling counter in errors mode (the raises counter) is read whole too', () => {
    const m = map(
      [counter(0), counter(124, 'float32', 'input', 'raises')],
      { table: 'input', address: 0, slots: 125 },
      'raises',
    );
    const reads = planReads(m, 'errors');
    expect(reads).toHaveLength(2);
    expectReadWhole(reads, m.counters[1]!);
    expect(covered(reads)).toEqual(needed(m, 'errors'));
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
          { minLength: 1, maxLength: 160, size: 'max' },
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

  /** Checks every rule of a plan, including that it has exactly the greedy number of reads. */
  function expectGoodPlan(m: RegisterMap, which: 'all' | 'errors'): ReadRequest[] {
    const reads = planReads(m, which);
    for (const r of reads) {
      expect(Number.isInteger(r.count) && r.count >= 1 && r.count <= maxPerRead(r.table)).toBe(
        true,
      );
      expect(r.address).toBeGreaterThanOrEqual(0);
    }
    // Every needed register is read, and nothing else (gaps are never bridged).
    expect(covered(reads)).toEqual(needed(m, which));
    // No multi-register counter is split across reads.
    for (const c of wholeCounters(m, which)) expectReadWhole(reads, c);
    // Exactly as few reads as greedy extension over atomic units gives.
    expect(reads.length).toBe(greedyReadCount(m, which));
    return reads;
  }

  it('reads exactly the registers needed, counters whole, in the greedy number of reads', () => {
    fc.assert(
      fc.property(
        mapArb(400, types, true),
        fc.constantFrom<'all' | 'errors'>('all', 'errors'),
        (m, which) => {
          const reads = expectGoodPlan(m, which);
          // Never fewer reads than maximal contiguous runs split at 125 allow.
          const runs = runLengths(needed(m, which));
          const lowerBound = runs.reduce(
            (n, len) => n + Math.ceil(len / MAX_REGISTERS_PER_READ),
            0,
          );
          expect(reads.length).toBeGreaterThanOrEqual(lowerBound);
          // Where no run is longer than one read, each run is exactly one read.
          if (runs.every((len) => len <= MAX_REGISTERS_PER_READ))
            expect(reads.length).toBe(runs.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('long runs with counters straddling read boundaries: still whole, still greedy-minimal', () => {
    // Counters packed end to end (now and then a one-register gap or overlap) next to an error
    // block, so runs pass 125 registers and multi-register counters land on read boundaries.
    const arb = fc
      .record({
        start: fc.integer({ min: 0, max: 130 }),
        counters: fc.array(
          fc.record({ type: types, step: fc.constantFrom(-1, 0, 0, 0, 0, 0, 1) }),
          { minLength: 1, maxLength: 150, size: 'max' },
        ),
        errors: fc.option(
          fc.record({
            table: fc.constant<RegisterTable>('holding'),
            address: fc.integer({ min: 0, max: 250 }),
            slots: fc.oneof(fc.integer({ min: 90, max: 125 }), fc.integer({ min: 1, max: 125 })),
          }),
          { nil: undefined, freq: 8 },
        ),
        raises: fc.nat(),
      })
      .map(({ start, counters, errors, raises }) => {
        let next = start;
        const defs = counters.map((c, i) => {
          const address = Math.max(0, next + c.step);
          next = address + registerCount(c.type);
          return counter(address, c.type, 'holding', `c${i}`);
        });
        return map(defs, errors, defs[raises % defs.length]!.name);
      });
    fc.assert(
      fc.property(arb, fc.constantFrom<'all' | 'errors'>('all', 'errors'), (m, which) => {
        expectGoodPlan(m, which);
      }),
      { numRuns: 500 },
    );
  });

  it('single-register counters and error slots: the number of reads is minimal (runs split at 125)', () => {
    fc.assert(
      fc.property(mapArb(300, fc.constantFrom<RegisterType>('u16', 'i16'), true), (m) => {
        const reads = planReads(m);
        expect(covered(reads)).toEqual(needed(m, 'all'));
        // Single registers never call for a re-read.
        expectDisjoint(reads);
        const minimal = runLengths(needed(m, 'all')).reduce(
          (n, len) => n + Math.ceil(len / MAX_REGISTERS_PER_READ),
          0,
        );
        expect(reads.length).toBe(minimal);
      }),
      { numRuns: 300 },
    );
  });

  it('dense maps (long runs) are still covered exactly, counters whole, greedy-minimal', () => {
    fc.assert(
      fc.property(
        mapArb(150, types, true),
        fc.constantFrom<'all' | 'errors'>('all', 'errors'),
        (m, which) => {
          expectGoodPlan(m, which);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('planReads: coils and discrete inputs', () => {
  const bit = (address: number, table: 'coil' | 'discrete' = 'coil'): CounterDef =>
    counter(address, 'bool', table);

  it('coalesces contiguous bits into one read, apart from registers at the same addresses', () => {
    const reads = planReads(
      map([bit(0), bit(1), bit(2), bit(0, 'discrete'), bit(1, 'discrete'), counter(0), counter(1)]),
    );
    expect(sorted(reads)).toEqual([
      { table: 'coil', address: 0, count: 3 },
      { table: 'discrete', address: 0, count: 2 },
      { table: 'holding', address: 0, count: 2 },
    ]);
  });

  it('a bit read may be far longer than 125: runs split at 2000 bits', () => {
    const coils = Array.from({ length: 2001 }, (_, i) => bit(10 + i));
    const reads = planReads(map(coils));
    expect(sorted(reads)).toEqual([
      { table: 'coil', address: 10, count: MAX_BITS_PER_READ },
      { table: 'coil', address: 2010, count: 1 },
    ]);
    expect(MAX_BITS_PER_READ).toBe(2000);
    expect(maxPerRead('discrete')).toBe(2000);
    expect(maxPerRead('coil')).toBe(2000);
    expect(maxPerRead('holding')).toBe(MAX_REGISTERS_PER_READ);
    expect(maxPerRead('input')).toBe(MAX_REGISTERS_PER_READ);
  });

  it('never bridges a gap between bits', () => {
    const reads = planReads(map([bit(0, 'discrete'), bit(2, 'discrete')]));
    expect(sorted(reads)).toEqual([
      { table: 'discrete', address: 0, count: 1 },
      { table: 'discrete', address: 2, count: 1 },
    ]);
  });

  it('errors mode does not read bits (error slots are registers)', () => {
    const m = map([bit(0), counter(5)], { table: 'input', address: 10, slots: 2 });
    expect(planReads(m, 'errors')).toEqual([{ table: 'input', address: 10, count: 2 }]);
  });

  it('property: mixed word and bit tables are covered exactly, whole, greedy-minimal', () => {
    const wordTypes = fc.constantFrom<RegisterType>('u16', 'i16', 'u32', 'i32', 'float32');
    const arb = fc
      .record({
        words: fc.array(
          fc.record({
            address: fc.integer({ min: 0, max: 300 }),
            type: wordTypes,
            table: fc.constantFrom<RegisterTable>('holding', 'input'),
          }),
          { maxLength: 80 },
        ),
        bits: fc.array(
          fc.record({
            // Dense runs so that the 2000-bit limit is reached now and then.
            start: fc.integer({ min: 0, max: 3000 }),
            length: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1990, max: 2100 })),
            table: fc.constantFrom<'coil' | 'discrete'>('coil', 'discrete'),
          }),
          { maxLength: 3 },
        ),
        raises: fc.nat(),
      })
      .filter(({ words, bits }) => words.length + bits.length > 0)
      .map(({ words, bits, raises }) => {
        const defs = words.map((w, i) => counter(w.address, w.type, w.table, `w${i}`));
        bits.forEach((b, j) => {
          for (let a = b.start; a < b.start + b.length; a++)
            defs.push(counter(a, 'bool', b.table, `b${j}_${a}`));
        });
        return map(defs, undefined, defs[raises % defs.length]!.name);
      });
    fc.assert(
      fc.property(arb, (m) => {
        const reads = planReads(m);
        for (const r of reads) expect(r.count).toBeLessThanOrEqual(maxPerRead(r.table));
        expect(covered(reads)).toEqual(needed(m, 'all'));
        for (const c of wholeCounters(m, 'all')) expectReadWhole(reads, c);
        expect(reads.length).toBe(greedyReadCount(m, 'all'));
      }),
      { numRuns: 60 },
    );
  });
});
