import type { RegisterMap, RegisterTable } from './register-map.js';
import { registerCount } from './register-map.js';

/** Modbus allows at most 125 registers in one read (function codes 3 and 4). */
export const MAX_REGISTERS_PER_READ = 125;

export interface ReadRequest {
  table: RegisterTable;
  address: number;
  count: number;
}

/**
 * Coalesces the registers a map needs into the fewest reads: registers that are contiguous
 * (or overlap) in the same table share a read, up to 125 registers. Gaps are never bridged -
 * reading an unmapped register can earn an "illegal data address" exception on real devices.
 */
export function planReads(map: RegisterMap, which: 'all' | 'errors' = 'all'): ReadRequest[] {
  const spans: ReadRequest[] = [];
  if (which === 'all') {
    for (const c of map.counters) {
      spans.push({ table: c.table, address: c.address, count: registerCount(c.type) });
    }
  }
  if (map.errors)
    spans.push({ table: map.errors.table, address: map.errors.address, count: map.errors.slots });
  if (which === 'errors' && map.raisesCounter) {
    const c = map.counters.find((x) => x.name === map.raisesCounter);
    if (c) spans.push({ table: c.table, address: c.address, count: registerCount(c.type) });
  }
  const byTable = new Map<RegisterTable, ReadRequest[]>();
  for (const s of spans) byTable.set(s.table, [...(byTable.get(s.table) ?? []), s]);
  const reads: ReadRequest[] = [];
  for (const [tableName, list] of byTable) {
    list.sort((a, b) => a.address - b.address);
    let cur: ReadRequest | undefined;
    for (const s of list) {
      const end = s.address + s.count;
      if (
        cur &&
        s.address <= cur.address + cur.count &&
        end - cur.address <= MAX_REGISTERS_PER_READ
      ) {
        cur.count = Math.max(cur.count, end - cur.address);
        continue;
      }
      if (cur && s.address < cur.address + cur.count) {
        // Overlaps but would exceed 125: start the new read where the current one ends.
        const start = cur.address + cur.count;
        if (end > start) {
          cur = { table: tableName, address: start, count: end - start };
          reads.push(cur);
        }
        continue;
      }
      cur = { table: tableName, address: s.address, count: s.count };
      reads.push(cur);
    }
  }
  return reads;
}
