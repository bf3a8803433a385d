/**
 * spool-memory: how much memory the records waiting in a FileSpool hold, besides their bodies
 * (which stay in memory only up to `spool.memoryBytes`). Each case runs in a child process
 * (`spool-memory-child.ts`, `node --expose-gc`): n records of a given size appended, none
 * acknowledged, the V8 heap measured after a full GC before and after, divided by n.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nowNs, round, table, type Bench } from './lib.js';

const CASES: ReadonlyArray<{ records: number; size: number }> = [
  { records: 20_000, size: 200 },
  { records: 20_000, size: 2000 },
  { records: 50_000, size: 500 },
];
const CHILD = fileURLToPath(new URL('./spool-memory-child.ts', import.meta.url));

export const spoolMemoryBench: Bench = {
  name: 'spool-memory',
  description: 'V8 heap per unacknowledged FileSpool record (bodies on disk only)',
  async run(log) {
    const t0 = nowNs();
    const results: Array<{ records: number; size: number; heapBytesPerRecord: number }> = [];
    for (const c of CASES) {
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', CHILD, String(c.records), String(c.size)],
        { encoding: 'utf8', timeout: 120_000 },
      );
      const r = JSON.parse(out.trim().split('\n').pop()!) as (typeof results)[number];
      results.push({ ...r, heapBytesPerRecord: round(r.heapBytesPerRecord, 1) });
    }
    log(
      table(
        ['records', 'body bytes', 'heap bytes per record'],
        results.map((r) => [r.records, r.size, r.heapBytesPerRecord]),
      ),
    );
    return {
      bench: 'spool-memory',
      command: 'npm run bench -- spool-memory',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        cases: CASES,
        spool: 'FileSpool, memoryBytes 0 (no body in memory), maxBytes 1 GiB, telemetry lane',
        method: 'heapUsed after two forced full GCs, before and after the appends, / records',
      },
      results,
    };
  },
};
