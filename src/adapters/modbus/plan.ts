import type { ModbusTable, RegisterMap } from './register-map.js';
import { isBitTable, registerCount } from './register-map.js';

/** Modbus allows at most 125 registers in one read (function codes 3 and 4). */
export const MAX_REGISTERS_PER_READ = 125;
/** Modbus allows at most 2000 bits in one read (function codes 1 and 2). */
export const MAX_BITS_PER_READ = 2000;

/** The most registers (or bits, for coils and discrete inputs) one read of `table` may ask for. */
export function maxPerRead(table: ModbusTable): number {
  return isBitTable(table) ? MAX_BITS_PER_READ : MAX_REGISTERS_PER_READ;
}

export interface ReadRequest {
  table: ModbusTable;
  address: number;
  count: number;
}

/**
 * Coalesces the registers a map needs into the fewest reads: registers that are contiguous
 * (or overlap) in the same table share a read, up to 125 registers (2000 bits for the coil and
 * discrete tables, which are planned like any other table). A multi-register counter is
 * never split across two reads (its words must come from one moment); error slots are single
 * registers and may be. Greedy extension is optimal under those rules. Gaps are never bridged -
 * reading an unmapped register can earn an "illegal data address" exception on real devices.
 */
export function planReads(map: RegisterMap, which: 'all' | 'errors' = 'all'): ReadRequest[] {
  const spans: ReadRequest[] = [];
  if (which === 'all') {
    for (const c of map.counters) {
      spans.push({ table: c.table, address: c.address, count: registerCount(c.type) });
    }
  }
  if (map.errors) {
    // Each slot is its own u16, so the block may be split across reads.
    for (let i = 0; i < map.errors.slots; i++) {
      spans.push({ table: map.errors.table, address: map.errors.address + i, count: 1 });
    }
  }
  if (which === 'errors' && map.raisesCounter) {
    const c = map.counters.find((x) => x.name === map.raisesCounter);
    if (c) spans.push({ table: c.table, address: c.address, count: registerCount(c.type) });
  }
  const byTable = new Map<ModbusTable, ReadRequest[]>();
  for (const s of spans) byTable.set(s.table, [...(byTable.get(s.table) ?? []), s]);
  const reads: ReadRequest[] = [];
  for (const [tableName, list] of byTable) {
    const max = maxPerRead(tableName);
    list.sort((a, b) => a.address - b.address);
    let cur: ReadRequest | undefined;
    for (const s of list) {
      const end = s.address + s.count;
      if (cur && s.address <= cur.address + cur.count) {
        // Contiguous or overlapping: extend the read if it stays within the table's limit.
        if (end - cur.address <= max) {
          cur.count = Math.max(cur.count, end - cur.address);
          continue;
        }
        // Too long: a counter is never split across reads (its words would come from two
        // moments), so the next read starts at this counter, even if it re-reads a register.
        if (end <= cur.address + cur.count) continue;
      }
      cur = { table: tableName, address: s.address, count: s.count };
      reads.push(cur);
    }
  }
  return reads;
}
